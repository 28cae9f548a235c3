"""The rooms that exist now: created by the first join, gone when empty."""

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
        self._rooms: dict[str, Room] = {}

    def get(self, name: str) -> Room | None:
        return self._rooms.get(name)

    def open(self, name: str) -> Room:
        """The room called `name`, starting its task if it has none."""
        room = self._rooms.get(name)
        if room is None:
            room = Room(
                name,
                inbound_size=self._inbound_size,
                store=self._store,
                clock_ms=self._clock_ms,
                on_empty=self._forget,
            )
            self._rooms[name] = room
            self._nursery.start_soon(self._run, room, name=f"room {name}")
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
        """Rooms with at least one member, by name."""
        return [
            RoomCount(name, room.member_count)
            for name, room in sorted(self._rooms.items())
            if room.member_count
        ]

    def _forget(self, room: Room) -> None:
        if self._rooms.get(room.name) is room:
            del self._rooms[room.name]
