"""Each room's messages once, in id order, across reconnects (used by the
client's reader task alone): where each room stands, and catching up
after an absence longer than one `joined` holds.

Events wait for the application in a bounded buffer. When it is full (an
application that only sends, say), the reader does not wait, or the
answers it must read would wait behind them: a room's messages that do not
fit are left with the server and read again, with a join `since` the last
one delivered, once the application has taken half of what waits. Other
events that do not fit are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from chatroom.client._events import Event, Message, message_of

log = logging.getLogger("chatroom.client")

HISTORY_PAGE = 200


class CatchUpFailed(Exception):
    """History could not be read: reconnect and catch up again."""


@attrs.define
class RoomState:
    last_id: int | None = None  # the last message delivered (None: not joined yet)
    joined: bool = False  # by the application: joined again after reconnects
    catching_up: bool = False
    held: list[Message] = attrs.field(factory=list)  # come while catching up
    overflowed: bool = False  # messages left with the server: read again later


class InOrder:
    def __init__(
        self,
        events: trio.MemorySendChannel[Event],
        ask: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
    ) -> None:
        self.rooms: dict[str, RoomState] = {}  # by key
        self._events = events
        self._ask = ask  # a request, answered (raises if it cannot be)

    def event(self, event: Event) -> None:
        """An event that is not a message: dropped if the buffer is full."""
        try:
            self._events.send_nowait(event)
        except trio.WouldBlock:
            log.warning("chatroom: events not taken; %s dropped", type(event).__name__)

    def to_read_again(self) -> list[str]:
        """Once half the buffer is free: the rooms whose messages did not fit,
        now catching up (their joins to send)."""
        stats = self._events.statistics()
        if stats.current_buffer_used > stats.max_buffer_size / 2:
            return []
        rooms = [key for key, room in self.rooms.items() if room.overflowed]
        for key in rooms:
            room = self.rooms[key]
            room.overflowed, room.joined, room.catching_up = False, True, True
        return rooms

    def wanted(self, room: str, since: int | None) -> RoomState:
        """The application joins `room` (delivering what came after `since`)."""
        state = self.rooms.setdefault(room.lower(), RoomState())
        state.joined = True
        if since is not None:
            state.last_id = since
        return state

    def lost(self) -> None:
        """The connection ended: a catch-up starts again from `since`."""
        for room in self.rooms.values():
            room.catching_up, room.held = False, []
            if room.overflowed:
                room.overflowed, room.joined = False, True

    async def message(self, message: Message) -> None:
        room = self.rooms.get(message.room.lower())
        if room is None:  # (a direct message, its room not joined: once all the same)
            room = self.rooms[message.room.lower()] = RoomState(last_id=0)
        if room.catching_up:
            room.held.append(message)
        elif room.overflowed:
            pass  # (read again later)
        elif room.last_id is None or message.id > room.last_id:
            try:
                self._events.send_nowait(message)
            except trio.WouldBlock:
                room.overflowed = True
                return
            room.last_id = message.id

    async def joined(self, joined: dict[str, Any], nursery: trio.Nursery) -> None:
        room = self.rooms.get(joined["room"].lower())
        if room is None or not room.joined:
            return  # (left meanwhile)
        history = [message_of(m) for m in joined.get("history", [])]
        if room.last_id is None:  # the first join: from now on
            room.last_id = history[-1].id if history else 0
            return
        room.catching_up = True  # (what comes meanwhile waits for what came before)
        if joined.get("truncated") and history:
            nursery.start_soon(self._page_back, joined["room"], room, history)
        else:
            await self._release(room, history)

    async def _page_back(self, name: str, room: RoomState, newest: list[Message]) -> None:
        """More came while away than `joined` holds: read back to the last
        delivered, deliver it all, then what came meanwhile."""
        since, pages = room.last_id or 0, [newest]
        try:
            while pages[0][0].id > since + 1:
                before = pages[0][0].id
                page = await self._ask(
                    {"type": "history", "room": name, "before": before, "limit": HISTORY_PAGE}
                )
                older = [message_of(m) for m in page.get("messages", [])]
                if not older:
                    break
                pages.insert(0, older)
        except Exception as exc:
            raise CatchUpFailed(f"history not read: {exc}") from None
        await self._release(room, [m for page in pages for m in page])

    async def _release(self, room: RoomState, caught_up: list[Message]) -> None:
        held, room.held, room.catching_up = room.held, [], False
        for message in caught_up + held:
            await self.message(message)
