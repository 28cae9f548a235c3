"""The rooms: a task for each room someone is in (started by the first join,
ended when empty), and the names of all rooms the store holds.

Names are unique without regard to case: rooms are found by their key (the
lower-case name) and shown with their first spelling.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio

from chatroom.protocol import RoomCount
from chatroom.rooms.room import Room
from chatroom.store import Store

ROOM_INBOUND_SIZE = 256

log = logging.getLogger(__name__)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class RoomRegistry:
    """Owns the room tasks, which run in the nursery it is given."""

    def __init__(
        self,
        nursery: trio.Nursery,
        store: Store,
        *,
        inbound_size: int = ROOM_INBOUND_SIZE,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self._nursery = nursery
        self._store = store
        self._inbound_size = inbound_size
        self._clock_ms = clock_ms
        self._rooms: dict[str, Room] = {}  # by key: the rooms with a task
        self._stored: dict[str, str] = {}  # key -> name: every room in the store
        self._with_history: set[str] = set()  # keys of stored rooms with messages

    async def load(self) -> None:
        """Learn the rooms the store holds (once, before serving)."""
        for name, has_history in await self._store.rooms():
            self._stored[name.lower()] = name
            if has_history:
                self._with_history.add(name.lower())

    def get(self, name: str) -> Room | None:
        return self._rooms.get(name.lower())

    def stored_name(self, name: str) -> str | None:
        """The spelling of the room called `name` in any case, if it exists."""
        room = self._rooms.get(name.lower())
        return room.name if room is not None else self._stored.get(name.lower())

    def open(self, name: str) -> Room:
        """The room called `name` (in any case), starting its task if it has none."""
        key = name.lower()
        room = self._rooms.get(key)
        if room is None:
            stored = self._stored.get(key)
            room = Room(
                name if stored is None else stored,
                inbound_size=self._inbound_size,
                store=self._store,
                clock_ms=self._clock_ms,
                on_empty=self._forget,
                stored=stored is not None,
            )
            self._rooms[key] = room
            self._nursery.start_soon(self._run, room, name=f"room {key}")
        return room

    async def _run(self, room: Room) -> None:
        try:
            await room.run()
        except Exception:
            # A broken room must not take the others down: its members get
            # not_member from now on and may join again (a fresh room).
            log.exception("room %s failed", room.name)
            self._forget(room)

    def counts(self) -> list[RoomCount]:
        """Every room with history or members, by name, with its members now."""
        listed = {key: RoomCount(self._stored[key], 0) for key in self._with_history}
        for key, room in self._rooms.items():
            if room.member_count or room.last_id or key in listed:
                listed[key] = RoomCount(room.name, room.member_count)
        return [listed[key] for key in sorted(listed)]

    def _forget(self, room: Room) -> None:
        if self._rooms.get(room.key) is room:
            del self._rooms[room.key]
        if room.stored:
            self._stored[room.key] = room.name
            if room.last_id:
                self._with_history.add(room.key)
