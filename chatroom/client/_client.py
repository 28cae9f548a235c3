"""`Client`: one connection to a chatroom server, kept up by itself.

It reconnects with backoff whenever the link breaks (or goes silent past
the ping deadline), joins its rooms again with `since` their last message,
and delivers every message once, in id order, across reconnects. A `send`
carries a `cid` and is sent again after a reconnect until the server
confirms it, which stores it once. `rate_limited` is waited out.

One task reads the connection and alone keeps each room's last id; the
application's calls send frames and wait for the answer with their `ref`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Any

import attrs
import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

from chatroom.client._events import Event, Message, event_of, message_of
from chatroom.client._ordering import CatchUpFailed, InOrder

log = logging.getLogger("chatroom.client")

EVENTS_BUFFER = 1000  # events read ahead of the application; then the link waits
CLOSE_UNAUTHORIZED = 4401


class ChatError(Exception):
    """The server refused a request: `code` is the protocol's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Unauthorized(ChatError):
    """The token was refused (or revoked): reconnecting would not help."""


class Disconnected(Exception):
    """The link broke before the server answered: the request may or may not
    have been carried out."""


class _LinkLost(Exception):
    """Reconnect: silent past the deadline, or what it said cannot be followed."""


RECOVERABLE = (
    OSError,
    ConnectionClosed,
    HandshakeError,
    trio.TooSlowError,
    _LinkLost,
    CatchUpFailed,
)


@attrs.define
class _Pending:
    """A request awaiting the answer with its `ref`."""

    frame: dict[str, Any]
    again: bool  # sent again on the next connection (joins, sends, the declaration)
    done: trio.Event = attrs.field(factory=trio.Event)
    answer: dict[str, Any] | None = None  # None once done: the link broke first


class Client:
    """`async with Client(url, token) as chat:` (see the module's docstring).
    Entering returns once the first connection is welcomed; Unauthorized if
    the token is refused."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        ping_every: float = 15.0,
        dead_after: float = 10.0,
        backoff_max: float = 30.0,
    ) -> None:
        self.url = url
        self._token = token
        self._ping_every = ping_every
        self._dead_after = dead_after
        self._backoff_max = backoff_max
        self.user: str | None = None
        self.connections = 0  # welcomed so far: 1 + the reconnections
        self._pending: dict[str, _Pending] = {}
        self._declared: list[dict[str, str]] | None = None  # a bot's commands
        self._ws: WebSocketConnection | None = None
        self._events_in, self._events_out = trio.open_memory_channel[Event](EVENTS_BUFFER)
        self._order = InOrder(self._events_in, self._request)
        self._stack = contextlib.AsyncExitStack()
        self._nursery: trio.Nursery | None = None

    async def __aenter__(self) -> Client:
        try:
            async with contextlib.AsyncExitStack() as stack:
                self._nursery = await stack.enter_async_context(trio.open_nursery())
                await self._nursery.start(self._stay_connected)
                self._stack = stack.pop_all()
        except BaseExceptionGroup as group:
            raise leaf(group) from None  # (Unauthorized, say: not a group of one)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()
        return await self._stack.__aexit__(exc_type, exc, tb)

    # -- what the application does ----------------------------------------------------

    async def events(self) -> AsyncIterator[Event]:
        """Every event in the order the server sent it (messages in id order
        within a room, each once)."""
        while True:
            yield await self.next_event()

    async def next_event(self) -> Event:
        event = await self._events_out.receive()
        for key in self._order.to_read_again():
            since = self._order.rooms[key].last_id or 0
            await self._send({"type": "join", "room": key, "since": since, "ref": "again"})
        return event

    async def join(self, room: str, since: int | None = None) -> None:
        """Join `room`, now and after every reconnect. Messages after
        `since` are delivered first; without it, those from now on."""
        state = self._order.wanted(room, since)
        frame: dict[str, Any] = {"type": "join", "room": room}
        if state.last_id is not None:
            frame["since"] = state.last_id
        try:
            await self._request(frame, again=True)
        except ChatError:
            state.joined = False
            raise

    async def leave(self, room: str) -> None:
        self._order.rooms.pop(room.lower(), None)
        await self._request({"type": "leave", "room": room})

    async def send(
        self, room: str, text: str, files: Sequence[str] = (), reply_to: int | None = None
    ) -> Message:
        """Send `text` (and the ids of `files` uploaded to the room) to `room`,
        as a reply to message `reply_to` if given; the message, once the
        server stored it (sent again after each reconnect until then, and
        stored once)."""
        cid = secrets.token_urlsafe(12)
        frame: dict[str, Any] = {"type": "send", "room": room, "text": text, "cid": cid}
        if files:
            frame["files"] = list(files)
        if reply_to is not None:
            frame["reply_to"] = reply_to
        return message_of(await self._request(frame, ref=cid, again=True))

    async def react(self, room: str, message_id: int, emoji: str, on: bool = True) -> None:
        """Add (or, `on` False, take back) this user's `emoji` on a message."""
        frame = {"type": "react", "room": room, "id": message_id, "emoji": emoji, "on": on}
        await self._request(frame)

    async def declare(self, commands: list[dict[str, str]]) -> None:
        """A bot's commands: registered now and on every reconnect."""
        self._declared = commands
        await self._request({"type": "register", "commands": commands}, again=True)

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Any other frame of the protocol; the answer (`done`, `commands`...).
        ChatError if refused, Disconnected if the link broke first."""
        return await self._request(dict(frame))

    async def _request(
        self, frame: dict[str, Any], *, ref: str | None = None, again: bool = False
    ) -> dict[str, Any]:
        frame["ref"] = ref = ref or secrets.token_urlsafe(9)
        if self._ws is None and not again:
            raise Disconnected(f"not connected: {frame['type']} not sent")
        while True:
            pending = self._pending[ref] = _Pending(frame, again)
            try:
                await self._send(frame)
                await pending.done.wait()
            finally:
                del self._pending[ref]
            answer = pending.answer
            if answer is None:
                raise Disconnected(f"the link broke before {frame['type']} was answered")
            if answer.get("type") != "error":
                return answer
            if answer.get("code") == "rate_limited":
                await trio.sleep(answer.get("retry_after_ms", 1000) / 1000)
                continue
            raise ChatError(str(answer.get("code")), str(answer.get("message")))

    async def _send(self, frame: dict[str, Any]) -> None:
        if self._ws is None:
            return  # (sent when connected, if it goes again)
        try:
            await self._ws.send_message(json.dumps(frame))
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the reader notices, and reconnects

    # -- the connection ---------------------------------------------------------------

    async def _stay_connected(self, *, task_status: trio.TaskStatus[None]) -> None:
        backoff = 0.25
        welcomed = False

        def ready() -> None:
            nonlocal welcomed
            if not welcomed:
                welcomed = True
                task_status.started()

        while True:
            started = trio.current_time()
            try:
                await self._connection(ready)
            except Exception as exc:
                cause = leaf(exc)
                if isinstance(cause, Unauthorized):
                    raise cause from None
                if not isinstance(cause, RECOVERABLE):
                    raise
                log.info("chatroom: link lost (%s); reconnecting", type(cause).__name__)
            finally:
                self._ws = None
                self._lost()
            if trio.current_time() - started > 60:
                backoff = 0.25
            await trio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self._backoff_max)

    async def _connection(self, ready: Callable[[], None]) -> None:
        # The whole opening is under one deadline: trio-websocket's own
        # connect timeout leaves its reader waiting on a link that went
        # silent, which would hold the attempt forever.
        opening = trio.CancelScope(deadline=trio.current_time() + 2 * self._dead_after)
        with opening:
            async with open_websocket_url(
                self.url, connect_timeout=self._dead_after, disconnect_timeout=1
            ) as ws:
                await ws.send_message(json.dumps({"type": "hello", "token": self._token}))
                welcome = json.loads(await ws.get_message())
                if welcome.get("type") != "welcome":
                    code, message = str(welcome.get("code")), str(welcome.get("message"))
                    if code == "unauthorized":
                        raise Unauthorized(code, message)
                    raise _LinkLost(f"no welcome: {code}: {message}")
                opening.deadline = math.inf
                await self._session(ws, welcome, ready)
        if opening.cancelled_caught:
            raise _LinkLost("no welcome in time")

    async def _session(
        self, ws: WebSocketConnection, welcome: dict[str, Any], ready: Callable[[], None]
    ) -> None:
        self.user = welcome["user"]
        self.connections += 1
        self._ws = ws
        async with trio.open_nursery() as nursery:
            await self._send_again()
            nursery.start_soon(self._ping)
            ready()
            try:
                await self._read(ws, nursery)
            except ConnectionClosed as closed:
                reason = closed.reason
                if reason is not None and reason.code == CLOSE_UNAUTHORIZED:
                    raise Unauthorized("unauthorized", str(reason.reason)) from None
                raise

    async def _send_again(self) -> None:
        """On a new connection, in this order: the declaration, the rooms
        (with `since`), the sends not yet confirmed."""
        waiting = list(self._pending.values())
        declaring = any(p.frame["type"] == "register" for p in waiting)
        if self._declared is not None and not declaring:
            await self._send({"type": "register", "commands": self._declared, "ref": "again"})
        joining = {p.frame["room"].lower(): p for p in waiting if p.frame["type"] == "join"}
        for key, room in self._order.rooms.items():
            if not room.joined:
                continue
            frame: dict[str, Any] = (
                joining[key].frame if key in joining else {"type": "join", "room": key}
            )
            if room.last_id is not None:
                frame["since"] = room.last_id
            await self._send(frame)
        for pending in waiting:
            if pending.again and pending.frame["type"] != "join":
                await self._send(pending.frame)

    async def _ping(self) -> None:
        while True:
            await trio.sleep(self._ping_every)
            await self._send({"type": "ping"})

    async def _read(self, ws: WebSocketConnection, nursery: trio.Nursery) -> None:
        while True:
            try:
                with trio.fail_after(self._ping_every + self._dead_after):
                    text = await ws.get_message()
            except trio.TooSlowError:
                raise _LinkLost("no frame within the ping deadline") from None
            if isinstance(text, str):
                await self._take(json.loads(text), nursery)

    def _lost(self) -> None:
        """The connection ended: what goes again waits for the next one; the
        rest hears that it may not have been carried out."""
        for pending in self._pending.values():
            if not pending.again:
                pending.done.set()
        self._order.lost()

    # -- what the server says -----------------------------------------------------------

    async def _take(self, frame: dict[str, Any], nursery: trio.Nursery) -> None:
        kind, ref = frame.get("type"), frame.get("ref")
        if kind == "message":
            await self._order.message(message_of(frame))
        elif kind == "joined":
            await self._order.joined(frame, nursery)
        elif kind == "error" and ref not in self._pending:
            log.warning("chatroom: %s: %s", frame.get("code"), frame.get("message"))
        elif (event := event_of(frame)) is not None:
            self._order.event(event)
        if isinstance(ref, str) and (pending := self._pending.get(ref)) is not None:
            pending.answer = frame
            pending.done.set()


def leaf(exc: BaseException) -> BaseException:
    """The one exception inside nested groups of one (what a nursery raises)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
