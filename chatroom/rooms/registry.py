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
from collections.abc import Callable, Mapping

import trio

from chatroom.protocol import ChatMessage, Member, RoomCount, RoomsPage
from chatroom.ratelimit import BucketsByKey
from chatroom.rooms.recent import DEFAULT_BUDGET_BYTES, CacheBudget
from chatroom.rooms.room import ClusterLink, Room
from chatroom.store import Store, StoreUnavailable

ROOM_INBOUND_SIZE = 256
ROOM_CREATIONS_PER_HOUR = 60  # per user, in bursts of as many
# How often, with other servers, each room checks the store for messages the
# broker did not bring (a server died before publishing, the broker was down).
GAP_CHECK_INTERVAL = 2.0

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
        link: ClusterLink | None = None,
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
        self._link = link

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
                link=self._link,
            )
            self._rooms[key] = room
            self._list(key)
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
                elsewhere = self._link.elsewhere(key) if self._link is not None else ()
                rooms.append(RoomCount(self._stored.get(key, key), len(elsewhere)))
            else:
                rooms.append(RoomCount(room.name, room.member_count))
        return RoomsPage(rooms[:limit], more=len(rooms) > limit)

    def members(self, name: str) -> tuple[str, list[Member]] | None:
        """The room's spelling and members on every server; None if it has none."""
        room = self._rooms.get(name.lower())
        if room is not None:
            members = room.members()
        elif self._link is not None:
            since = self._link.elsewhere(name.lower())
            members = [Member(u, s) for u, s in sorted(since.items(), key=lambda item: item[1])]
        else:
            members = []
        spelling = self.stored_name(name)
        return (spelling, members) if members and spelling is not None else None

    # -- from other servers ------------------------------------------------------

    def remote_messages(self, name: str, messages: list[ChatMessage]) -> None:
        key = name.lower()
        self._note(name, with_history=True)
        room = self._rooms.get(key)
        if room is not None:
            room.take_remote(messages)

    def presence_changed(self, names: Mapping[str, str], changed: Mapping[str, list[str]]) -> None:
        """Members of the rooms in `changed` (key -> users) may differ on other
        servers; `names` has their spellings."""
        for key, users in changed.items():
            room = self._rooms.get(key)
            if room is not None:
                room.presence_changed(users)
            elif self._link is not None and self._link.elsewhere(key):
                self._note(names[key])
            else:
                self._unlist_if_unused(key)

    async def check_gaps(self, interval: float = GAP_CHECK_INTERVAL) -> None:
        """Every `interval`, each room with a task catches up with what the
        store has that the broker did not bring; runs until cancelled."""
        while True:
            await trio.sleep(interval)
            rooms = [room for room in self._rooms.values() if room.loaded]
            if not rooms:
                continue
            try:
                last_ids = await self._store.last_ids([room.key for room in rooms])
            except Exception as exc:  # never a reason to stop serving
                if not isinstance(exc, StoreUnavailable):
                    log.exception("checking rooms for missed messages failed")
                continue
            for room in rooms:
                room.behind(last_ids.get(room.key, 0))

    def _note(self, name: str, *, with_history: bool = False) -> None:
        """A room another server has (created, or with messages)."""
        key = name.lower()
        self._stored.setdefault(key, name)
        if with_history:
            self._with_history.add(key)
        self._list(key)

    def _list(self, key: str) -> None:
        at = bisect.bisect_left(self._listed, key)
        if at == len(self._listed) or self._listed[at] != key:
            self._listed.insert(at, key)

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
        self._unlist_if_unused(room.key)

    def _unlist_if_unused(self, key: str) -> None:
        """Rooms without history or members (on any server) are not listed."""
        if key in self._with_history or key in self._rooms:
            return
        if self._link is not None and self._link.elsewhere(key):
            return
        at = bisect.bisect_left(self._listed, key)
        if at < len(self._listed) and self._listed[at] == key:
            del self._listed[at]
