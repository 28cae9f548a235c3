"""Commands on this server: bots register them, members invoke them, and
each invocation gets an answer or, after ANSWER_WITHIN, an `ephemeral`
saying the bot did not answer.

An invocation goes to the bot's connection holding the command, on this
server or another (an InvokeEvent through the broker). The invoker's server
waits for the answer; the bot's server keeps what the bot may answer (up to
MAX_ANSWERS times within ANSWER_FOR) and tells the invoker's server that it
answered. Ephemeral answers go to the invoker's connections everywhere and
are never stored; the others are messages of the bot in the room.
"""

from __future__ import annotations

import heapq
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import trio

from chatroom import protocol
from chatroom.cluster.events import (
    AnsweredEvent,
    CommandsEvent,
    EphemeralEvent,
    Event,
    InvokeEvent,
)
from chatroom.commands.holders import Holder, Holders
from chatroom.domain import ErrorCode
from chatroom.domain.rules import ARCHIVED
from chatroom.net.wsframe import text_frame
from chatroom.protocol import CommandSpec, ProtocolError, Ref
from chatroom.ratelimit import BucketsByKey
from chatroom.rooms.inbox import RoomClosed
from chatroom.rooms.registry import RoomRegistry
from chatroom.rooms.requests import Poster, PublishRequest
from chatroom.store import StoreUnavailable

log = logging.getLogger(__name__)

ANSWER_WITHIN = 3.0  # seconds for a first `respond` or a `defer`
ANSWER_FOR = 15 * 60.0  # seconds a bot may keep answering an invocation
MAX_ANSWERS = 5
MAX_OPEN = 10_000  # invocations kept on each side; past it the oldest go
REPEAT_EVERY = 2.0  # seconds between this server's lists of its bots' commands
INVOCATIONS_PER_MINUTE = 20  # per invoker, in bursts of 10


class BotConnection(Protocol):
    """What commands need of a connection."""

    @property
    def user(self) -> str: ...

    def deliver(self, data: bytes) -> bool: ...


@attrs.define
class _Invocation:
    """On the bot's server: what the bot may answer."""

    room: str
    invoker: str
    bot: str
    name: str
    origin: str  # the invoker's server
    at: float
    answers: int = 0
    acknowledged: bool = False  # answered or deferred: the invoker's server knows


@attrs.frozen
class _Awaited:
    """On the invoker's server: an invocation not answered yet."""

    room: str
    invoker: str
    bot: str
    name: str


class Commands:
    def __init__(
        self,
        *,
        node: str,
        registry: RoomRegistry,
        publish: Callable[[Event], None],
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.node = node
        self._registry = registry
        self._publish = publish
        self._clock_ms = clock_ms
        self._holders: Holders[BotConnection] = Holders()
        self._invocations: dict[str, _Invocation] = {}
        self._awaited: dict[str, _Awaited] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._deadline_added = trio.Event()
        self._said_empty = True  # the others know this server's bots hold nothing
        self._invokers = BucketsByKey(10, INVOCATIONS_PER_MINUTE / 60, max_keys=10_000)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Repeat this server's commands to the others, and say which
        invocations were not answered in time, until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._repeat)
            task_status.started()
            await self._not_answered()

    # -- bots -----------------------------------------------------------------------

    def register(self, bot: BotConnection, specs: tuple[CommandSpec, ...], ref: Ref) -> None:
        now = trio.current_time()
        taken = self._holders.register(bot, bot.user, specs, self._clock_ms(), now)
        if taken is not None:
            raise ProtocolError(ErrorCode.CONFLICT, f"another bot holds the command {taken!r}", ref)
        self._tell_others()

    def closed(self, connection: BotConnection) -> None:
        """A connection ended: the commands it held go."""
        if self._holders.drop(connection):
            self._tell_others()

    def listing(self) -> list[tuple[CommandSpec, str]]:
        return [(h.spec, h.bot) for h in self._holders.listing(trio.current_time())]

    # -- invoking -------------------------------------------------------------------

    def invoke(self, invoker: str, room: str, name: str, args: str, ref: Ref) -> None:
        """`invoker`, a member of `room`, invokes `name`."""
        wait = self._invokers.take(invoker.lower())
        if wait:
            raise protocol.rate_limited_error(
                f"at most {INVOCATIONS_PER_MINUTE} commands a minute; wait", wait, ref
            )
        holder = self._holders.holder(name, trio.current_time())
        if holder is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no bot holds the command {name!r}", ref)
        invocation = secrets.token_urlsafe(12)
        self._await(invocation, _Awaited(room, invoker, holder.bot, name))
        if holder.node:
            self._publish(
                InvokeEvent(holder.node, invocation, room, invoker, holder.bot, name, args)
            )
        else:
            self._deliver(holder, invocation, room, invoker, name, args, self.node)

    def _deliver(
        self,
        holder: Holder[BotConnection],
        invocation: str,
        room: str,
        invoker: str,
        name: str,
        args: str,
        origin: str,
    ) -> None:
        assert holder.connection is not None
        self._invocations[invocation] = _Invocation(
            room, invoker, holder.bot, name, origin, trio.current_time()
        )
        _bounded(self._invocations)
        frame = protocol.encode_invocation(invocation, room, invoker, name, args)
        holder.connection.deliver(text_frame(frame))

    # -- answers --------------------------------------------------------------------

    async def respond(
        self, bot: BotConnection, invocation: str, text: str, ephemeral: bool, ref: Ref
    ) -> None:
        """The bot answers: for the invoker alone, or as its message in the room."""
        asked = self._answerable(bot, invocation, ref)
        if asked.answers >= MAX_ANSWERS:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST, f"at most {MAX_ANSWERS} answers to one command", ref
            )
        asked.answers += 1
        self._answered(invocation, asked)
        if ephemeral:
            self._publish(EphemeralEvent(asked.invoker, asked.room, asked.bot, text))
            return
        try:
            archived = await self._registry.archived(asked.room)
        except StoreUnavailable:
            raise protocol.unavailable_error(ref) from None
        if archived:  # (a room refuses a bot's message without a word: say it here)
            raise ProtocolError(ErrorCode.FORBIDDEN, ARCHIVED, ref)
        post = PublishRequest(Poster(asked.bot), text, posted=True)
        try:
            await self._registry.open(asked.room).submit(post)
        except RoomClosed:  # (it ended just now: a new task reads the store)
            await self._registry.open(asked.room).submit(post)

    def defer(self, bot: BotConnection, invocation: str, ref: Ref) -> None:
        """The bot will answer later: no "did not answer"."""
        self._answered(invocation, self._answerable(bot, invocation, ref))

    def _answerable(self, bot: BotConnection, invocation: str, ref: Ref) -> _Invocation:
        asked = self._invocations.get(invocation)
        if (
            asked is None
            or asked.bot.lower() != bot.user.lower()
            or trio.current_time() - asked.at > ANSWER_FOR
        ):
            raise ProtocolError(
                ErrorCode.NOT_FOUND,
                "no such command invocation (or its 15 minutes to answer are over)",
                ref,
            )
        return asked

    def _answered(self, invocation: str, asked: _Invocation) -> None:
        if asked.acknowledged:
            return
        asked.acknowledged = True
        if asked.origin == self.node:
            self._awaited.pop(invocation, None)
        else:
            self._publish(AnsweredEvent(asked.origin, invocation))

    # -- from other servers -----------------------------------------------------------

    def on_event(self, event: Event) -> None:
        now = trio.current_time()
        match event:
            case CommandsEvent(commands, node=node):
                holders: list[Holder[BotConnection]] = [
                    Holder(CommandSpec(name, description, usage), bot, since, node)
                    for name, bot, description, usage, since in commands
                ]
                self._holders.elsewhere(node, holders, now)
            case InvokeEvent(to, invocation, room, user, bot, name, args, node=node):
                if to != self.node:
                    return
                holder = self._holders.holder(name, now)
                if holder is None or holder.node or holder.bot.lower() != bot.lower():
                    return  # (gone meanwhile: the invoker hears "did not answer")
                self._deliver(holder, invocation, room, user, name, args, node)
            case AnsweredEvent(to, invocation):
                if to == self.node:
                    self._awaited.pop(invocation, None)

    # -- tasks ----------------------------------------------------------------------

    def _tell_others(self) -> None:
        holders = self._holders.here()
        if not holders and self._said_empty:
            return
        self._said_empty = not holders
        commands = tuple(
            (h.spec.name, h.bot, h.spec.description, h.spec.usage, h.since_ms) for h in holders
        )
        self._publish(CommandsEvent(commands))

    async def _repeat(self) -> None:
        while True:
            await trio.sleep(REPEAT_EVERY)
            self._tell_others()
            now = trio.current_time()
            for invocation in [i for i, a in self._invocations.items() if now - a.at > ANSWER_FOR]:
                del self._invocations[invocation]

    def _await(self, invocation: str, awaited: _Awaited) -> None:
        self._awaited[invocation] = awaited
        _bounded(self._awaited)
        heapq.heappush(self._deadlines, (trio.current_time() + ANSWER_WITHIN, invocation))
        self._deadline_added.set()

    async def _not_answered(self) -> None:
        while True:
            if not self._deadlines:
                self._deadline_added = trio.Event()
                await self._deadline_added.wait()
                continue
            deadline, invocation = self._deadlines[0]
            await trio.sleep_until(deadline)
            heapq.heappop(self._deadlines)
            awaited = self._awaited.pop(invocation, None)
            if awaited is not None:
                text = f"{awaited.bot} did not answer /{awaited.name}"
                self._publish(EphemeralEvent(awaited.invoker, awaited.room, awaited.bot, text))


def _bounded(kept: dict[str, Any]) -> None:
    """Past MAX_OPEN, the oldest go (dicts keep insertion order)."""
    while len(kept) > MAX_OPEN:
        del kept[next(iter(kept))]
