"""`Bot`: commands declared with a decorator, run on a `Client`.

    bot = Bot()

    @bot.command()
    async def roll(ctx, sides: int = 6):
        \"\"\"Roll a die.\"\"\"
        await ctx.respond(f"{random.randint(1, sides)}")

    bot.run("ws://localhost:8080/ws", token)

A command's arguments are the invocation's words, converted to the types
its parameters are annotated with (str, int, float, bool); the last `str`
parameter takes the rest of the words. Its docstring's first line is its
description, its parameters its usage. Each invocation runs in the bot's
nursery, at most `max_running` at once (beyond that the bot defers and
waits for a slot), so a slow handler never blocks the connection; a
handler that raises answers the invoker with an ephemeral error, and the
bot keeps running.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, get_type_hints

import attrs
import trio

from chatroom.client._client import ChatError, Client, Disconnected, leaf
from chatroom.client._events import Command

log = logging.getLogger("chatroom.bot")

COMMAND_NAME = re.compile(r"[a-z0-9_-]{1,32}")

Handler = Callable[..., Awaitable[None]]
CONVERTERS: dict[Any, Callable[[str], Any]] = {
    str: str,
    int: int,
    float: float,
    bool: lambda word: {"yes": True, "true": True, "no": False, "false": False}[word.lower()],
}


class UsageError(ValueError):
    """The invocation's words do not fit the command's parameters."""


@attrs.define(eq=False)
class Context:
    """One invocation, for its handler: who, where, and how to answer."""

    client: Client
    command: Command

    @property
    def user(self) -> str:
        return self.command.user

    @property
    def room(self) -> str:
        return self.command.room

    async def respond(self, text: str, ephemeral: bool = False) -> None:
        """Answer: a message of the bot's in the room, or (`ephemeral`) text
        only the invoker sees. Up to 5 answers within 15 minutes."""
        await self.client.request(
            {"type": "respond", "id": self.command.id, "text": text, "ephemeral": ephemeral}
        )

    async def defer(self) -> None:
        """Say the answer will take more than 3 s."""
        await self.client.request({"type": "defer", "id": self.command.id})

    async def send(self, room: str, text: str) -> None:
        """A message of the bot's in a room it has joined."""
        await self.client.send(room, text)


@attrs.frozen
class _Declared:
    name: str
    handler: Handler
    description: str
    usage: str
    parameters: tuple[tuple[str, Callable[[str], Any], Any], ...]  # name, converter, default

    def arguments(self, args: str) -> list[Any]:
        words = args.split()
        values: list[Any] = []
        for index, (name, convert, default) in enumerate(self.parameters):
            last = index == len(self.parameters) - 1
            if index >= len(words):
                if default is inspect.Parameter.empty:
                    raise UsageError(f"missing {name}")
                values.append(default)
                continue
            word = " ".join(words[index:]) if last and convert is str else words[index]
            try:
                values.append(convert(word))
            except (ValueError, KeyError):
                raise UsageError(f"{name} must be {_type_name(convert)}, not {word!r}") from None
        if len(words) > len(self.parameters) and not (
            self.parameters and self.parameters[-1][1] is str
        ):
            raise UsageError("too many words")
        return values


class Bot:
    def __init__(self, *, max_running: int = 16) -> None:
        self._commands: dict[str, _Declared] = {}
        self._running = trio.CapacityLimiter(max_running)

    def command(
        self, name: str | None = None, *, description: str | None = None
    ) -> Callable[[Handler], Handler]:
        """Declare `async def handler(ctx, ...)` as the command `name` (its
        function's name by default, `_` as `-`)."""

        def declare(handler: Handler) -> Handler:
            declared = _declared(name or handler.__name__.replace("_", "-"), handler, description)
            self._commands[declared.name] = declared
            return handler

        return declare

    @property
    def commands(self) -> list[dict[str, str]]:
        return [
            {"name": c.name, "description": c.description, "usage": c.usage}
            for c in self._commands.values()
        ]

    def run(self, url: str, token: str) -> None:
        """Connect and answer commands until interrupted (Ctrl-C:
        KeyboardInterrupt; a refused token: Unauthorized)."""
        try:
            trio.run(self.serve, url, token)
        except BaseExceptionGroup as group:
            raise leaf(group) from None

    async def serve(
        self,
        url: str,
        token: str,
        *,
        task_status: trio.TaskStatus[Client] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Like run(), inside a Trio program; started once registered."""
        async with Client(url, token) as client, trio.open_nursery() as nursery:
            await client.declare(self.commands)
            log.info("bot %s: %d commands registered", client.user, len(self._commands))
            task_status.started(client)
            async for event in client.events():
                if isinstance(event, Command) and event.name in self._commands:
                    await self._start(nursery, client, event)

    async def _start(self, nursery: trio.Nursery, client: Client, command: Command) -> None:
        context = Context(client, command)
        try:
            self._running.acquire_on_behalf_of_nowait(context)
        except trio.WouldBlock:
            nursery.start_soon(self._when_free, context)
            return
        nursery.start_soon(self._handle, context)

    async def _when_free(self, context: Context) -> None:
        await _quietly(context.defer())
        await self._running.acquire_on_behalf_of(context)
        await self._handle(context)

    async def _handle(self, context: Context) -> None:
        declared = self._commands[context.command.name]
        try:
            arguments = declared.arguments(context.command.args)
            await declared.handler(context, *arguments)
        except UsageError as exc:
            await _quietly(context.respond(f"{exc}. Usage: {declared.usage}", ephemeral=True))
        except Exception as exc:
            log.exception("command /%s failed", declared.name)
            await _quietly(context.respond(f"/{declared.name} failed: {exc}", ephemeral=True))
        finally:
            self._running.release_on_behalf_of(context)


async def _quietly(answer: Awaitable[None]) -> None:
    try:
        await answer
    except (ChatError, Disconnected) as exc:
        log.warning("could not answer: %s", exc)


def _declared(name: str, handler: Handler, description: str | None) -> _Declared:
    if not COMMAND_NAME.fullmatch(name):
        raise ValueError(f"/{name}: a command's name is 1 to 32 characters from a-z 0-9 _ -")
    signature = inspect.signature(handler)
    hints = get_type_hints(handler)
    parameters = []
    usage = [f"/{name}"]
    for parameter in list(signature.parameters.values())[1:]:  # (after ctx)
        convert = CONVERTERS.get(hints.get(parameter.name, str))
        if convert is None:
            raise TypeError(f"/{name}: {parameter.name} must be str, int, float or bool")
        parameters.append((parameter.name, convert, parameter.default))
        word = f"{parameter.name}:{_type_name(convert)}" if convert is not str else parameter.name
        usage.append(f"[{word}]" if parameter.default is not inspect.Parameter.empty else word)
    doc = inspect.getdoc(handler) or ""
    return _Declared(
        name,
        handler,
        description if description is not None else (doc.splitlines() or [""])[0],
        " ".join(usage),
        tuple(parameters),
    )


def _type_name(convert: Callable[[str], Any]) -> str:
    return next((t.__name__ for t, c in CONVERTERS.items() if c is convert), "text")
