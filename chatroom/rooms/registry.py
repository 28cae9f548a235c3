"""The rooms: a task for each room someone is in (started by the first join,
ended when empty), and the names of all rooms the store holds.

Names are unique without regard to case: rooms are found by their key (the
lower-case name) and shown with their first spelling.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import time
from collections.abc import Callable

import trio

from chatroom.protocol import RoomCount, RoomsPage
from chatroom.ratelimit import BucketsByKey
from chatroom.rooms.recent import DEFAULT_BUDGET_BYTES, CacheBudget
from chatroom.rooms.room import Room
from chatroom.store import Store

ROOM_INBOUND_SIZE = 256
ROOM_CREATIONS_PER_HOUR = 60  # per user, in bursts of as many

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
        creations_per_hour: int = ROOM_CREATIONS_PER_HOUR,
        cache_bytes: int = DEFAULT_BUDGET_BYTES,
    ) -> None:
        self._nursery = nursery
        self._store = store
        self._inbound_size = inbound_size
        self._clock_ms = clock_ms
        self._rooms: dict[str, Room] = {}  # by key: the rooms with a task
        self._stored: dict[str, str] = {}  # key -> name: every room in the store
        self._with_history: set[str] = set()  # keys of stored rooms with messages
        # The listing, kept as rooms come and go (never rebuilt for a request):
        # keys of the rooms with history or a task, sorted.
        self._listed: list[str] = []
        self._creations = BucketsByKey(creations_per_hour, creations_per_hour / 3600)
        self.cache_budget = CacheBudget(cache_bytes)  # every room's recent messages

    async def load(self) -> None:
        """Learn the rooms the store holds (once, before serving)."""
        for name, has_history in await self._store.rooms():
            self._stored[name.lower()] = name
            if has_history:
                self._with_history.add(name.lower())
        self._listed = sorted(self._with_history)

    def creation_wait(self, name: str, user: str) -> float:
        """0 if `user` may join `name` now; if that creates a room and the
        user has created too many lately, the seconds until they may."""
        if self.stored_name(name) is not None:
            return 0.0
        return self._creations.take(user.lower())

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
                cache_budget=self.cache_budget,
            )
            self._rooms[key] = room
            if key not in self._with_history:
                bisect.insort(self._listed, key)
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

    def page(self, prefix: str = "", after: str | None = None, limit: int = 100) -> RoomsPage:
        """Rooms with history or members whose names start with `prefix` (any
        case), by name, after the room `after`: at most `limit`, with their
        members now. Costs the page, not the listing."""
        prefix = prefix.lower()
        start = bisect.bisect_left(self._listed, prefix)
        if after is not None:
            start = max(start, bisect.bisect_right(self._listed, after.lower()))
        rooms = []
        for key in itertools.islice(self._listed, start, start + limit + 1):
            if not key.startswith(prefix):
                break
            room = self._rooms.get(key)
            if room is None:
                rooms.append(RoomCount(self._stored[key], 0))
            else:
                rooms.append(RoomCount(room.name, room.member_count))
        return RoomsPage(rooms[:limit], more=len(rooms) > limit)

    def member_counts(self) -> list[int]:
        """Members of each room that has a task, for metrics."""
        return [room.member_count for room in self._rooms.values()]

    def _forget(self, room: Room) -> None:
        if self._rooms.get(room.key) is room:
            del self._rooms[room.key]
        if room.stored:
            self._stored[room.key] = room.name
            if room.last_id:
                self._with_history.add(room.key)
        if room.key not in self._with_history and room.key not in self._rooms:
            at = bisect.bisect_left(self._listed, room.key)
            if at < len(self._listed) and self._listed[at] == room.key:
                del self._listed[at]
