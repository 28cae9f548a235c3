"""The rooms: a task for each room someone is in (started by the first join,
ended a while after it empties: see actor.py), and the listing of every room
the store holds (listing.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio

from chatroom.cluster.events import Event, MembersChanged, MessagesEvent, RoomEvent, SettingsEvent
from chatroom.domain import Member, RoomCount, RoomsPage
from chatroom.metrics import Counters
from chatroom.ratelimit import BucketsByKey
from chatroom.rooms.actor import Room
from chatroom.rooms.listing import Listing
from chatroom.rooms.members import Elsewhere
from chatroom.rooms.recent import DEFAULT_BUDGET_BYTES, CacheBudget
from chatroom.store import Store, StoredRoom, StoreUnavailable, UserView, ownership
from chatroom.store import messages as messages_db
from chatroom.store import rooms as rooms_db

ROOM_INBOUND_SIZE = 256
ROOM_CREATIONS_PER_HOUR = 60  # per user, in bursts of as many
# How often, with other servers, each room checks the store for messages the
# broker did not bring (a server died before publishing, the broker was down).
GAP_CHECK_INTERVAL = 2.0
OPERATIONS_MARGIN_MS = 60_000  # see _read_operations

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
        counters: Counters | None = None,
        publish: Callable[[Event], None] = lambda event: None,
        elsewhere: Elsewhere | None = None,
        inbound_size: int = ROOM_INBOUND_SIZE,
        clock_ms: Callable[[], int] = wall_clock_ms,
        creations_per_hour: int = ROOM_CREATIONS_PER_HOUR,
        cache_bytes: int = DEFAULT_BUDGET_BYTES,
        linger: float = 0.0,
        is_bot: Callable[[str], bool] = lambda user: False,
    ) -> None:
        self._nursery = nursery
        self._linger = linger
        self._is_bot = is_bot
        self._store = store
        # What the rooms count (errors, fan-out times): one set with the server's.
        self.counters = Counters() if counters is None else counters
        self._inbound_size = inbound_size
        self._clock_ms = clock_ms
        self._rooms: dict[str, Room] = {}  # by key: the rooms with a task
        self._listing = Listing()
        self._creations = BucketsByKey(creations_per_hour, creations_per_hour / 3600)
        self.cache_budget = CacheBudget(cache_bytes)  # every room's recent messages
        self._publish = publish  # a room's events, for the cluster (see cluster/router.py)
        self._elsewhere = elsewhere
        # The operator's changes to rooms (`python -m chatroom room`) read so far.
        self._operations_read: set[tuple[str, int]] = set()
        self._operations_since = clock_ms() - OPERATIONS_MARGIN_MS

    async def load(self) -> None:
        """Learn the rooms the store holds (once, before serving)."""
        for stored in await self._store.read(rooms_db.all_rooms):
            self._learn(stored)
        self._listing.list_learned()

    def _learn(self, stored: StoredRoom) -> None:
        self._listing.learn(stored.name, has_history=stored.has_history, private=stored.private)

    def creation_wait(self, name: str, user: str) -> float:
        """0 if `user` may join `name` now; if that creates a room and the
        user has created too many lately, the seconds until they may."""
        if self.stored_name(name) is not None:
            return 0.0
        return self._creations.take(user.lower())

    def created(self, name: str, *, private: bool) -> None:
        """A room this server just made (see store.rooms.make_room)."""
        self._learn(StoredRoom(name, has_history=False, private=private))

    def privacy(self, name: str) -> bool | None:
        """Whether the room is private; None if this server does not know."""
        return self._listing.privacy(name)

    def get(self, name: str) -> Room | None:
        return self._rooms.get(name.lower())

    def stored_name(self, name: str) -> str | None:
        """The spelling of the room called `name` in any case, if it exists."""
        room = self._rooms.get(name.lower())
        return room.name if room is not None else self._listing.stored_name(name.lower())

    def open(self, name: str) -> Room:
        """The room called `name` (in any case), starting its task if it has none."""
        key = name.lower()
        room = self._rooms.get(key)
        if room is None:
            stored = self._listing.stored_name(key)
            room = Room(
                name if stored is None else stored,
                store=self._store,
                counters=self.counters,
                publish=self._publish,
                on_empty=self._forget,
                on_loaded=self._loaded,
                clock_ms=self._clock_ms,
                inbound_size=self._inbound_size,
                cache_budget=self.cache_budget,
                elsewhere=self._elsewhere,
                stored=stored is not None,
                linger=self._linger,
                is_bot=self._is_bot,
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
            log.exception("room %s failed", room.name, extra={"room": room.name})
            self._forget(room)

    def _loaded(self, room: Room) -> None:
        """The room's task read it from the store: now it is known whether
        it is private."""
        self._listing.unresolved.pop(room.key, None)
        self._learn(StoredRoom(room.name, has_history=bool(room.last_id), private=room.private))
        if room.private:
            self._listing.unlist(room.key)
        else:
            self._listing.list(room.key)

    def page(
        self,
        prefix: str = "",
        after: str | None = None,
        limit: int = 100,
        view: UserView | None = None,
    ) -> RoomsPage:
        """Public rooms with history or members, and the private rooms of
        the asking user's `view`, whose names start with `prefix` (any
        case), by name, after the room `after`: at most `limit`, with their
        members now and the user's unread counts. Costs the page and the
        user's private rooms, never the whole listing."""
        return self._listing.page(
            prefix,
            after,
            limit,
            private_rooms=view.private_rooms if view is not None else (),
            unread=view.unread if view is not None else {},
            archived=view.archived if view is not None else frozenset(),
            in_use=self._in_use,
            count=self._count,
        )

    async def archived(self, name: str) -> bool:
        """Whether the room is archived, as the store says (for posts by
        bots and webhooks, which no member sees refused)."""
        settings = await self._store.read(rooms_db.room_settings, name)
        return settings is not None and settings.rules.archived

    def _in_use(self, key: str) -> bool:
        room = self._rooms.get(key)
        if room is None or room.member_count or room.last_id or self._listing.has_history(key):
            return True
        return self._has_elsewhere(key)

    def _count(self, key: str, private_name: str | None) -> RoomCount:
        """A listing entry: the room's members now, on every server."""
        room = self._rooms.get(key)
        if room is not None:
            return RoomCount(room.name, room.member_count, private_name is not None)
        elsewhere = self._elsewhere.users(key) if self._elsewhere is not None else ()
        name = private_name or self._listing.stored_name(key) or key
        return RoomCount(name, len(elsewhere), private_name is not None)

    def members(self, name: str) -> tuple[str, list[Member]] | None:
        """The room's spelling and members on every server; None if it has none."""
        room = self._rooms.get(name.lower())
        if room is not None:
            members = room.members()
        elif self._elsewhere is not None:
            since = self._elsewhere.users(name.lower())
            members = [Member(u, s) for u, s in sorted(since.items(), key=lambda item: item[1])]
        else:
            members = []
        spelling = self.stored_name(name)
        return (spelling, members) if members and spelling is not None else None

    # -- from other servers ------------------------------------------------------

    def on_event(self, event: RoomEvent) -> None:
        """What another server did in a room: for the room's task if it has
        one; the listing learns of the room."""
        room_name = event.room
        key = room_name.lower()
        room = self._rooms.get(key)
        if isinstance(event, MessagesEvent):
            self._note(room_name, with_history=True)
        elif isinstance(event, MembersChanged) and room is None:
            if self._has_elsewhere(key):
                self._note(room_name)
            else:
                self._unlist_if_unused(key)
        if room is not None:
            room.take(event)

    def _has_elsewhere(self, key: str) -> bool:
        return self._elsewhere is not None and bool(self._elsewhere.users(key))

    async def check_gaps(self, interval: float = GAP_CHECK_INTERVAL) -> None:
        """Every `interval`, each room with a task catches up with what the
        store has that the broker did not bring, and rooms heard of from
        other servers are read; runs until cancelled."""
        while True:
            await trio.sleep(interval)
            await self._resolve()
            rooms = [room for room in self._rooms.values() if room.loaded]
            if not rooms:
                continue
            try:
                last_ids = await self._store.read(
                    messages_db.last_ids, [room.key for room in rooms]
                )
            except Exception as exc:  # never a reason to stop serving
                if not isinstance(exc, StoreUnavailable):
                    log.exception("checking rooms for missed messages failed")
                continue
            for room in rooms:
                room.behind(last_ids.get(room.key, 0))

    async def follow_operations(self, interval: float = GAP_CHECK_INTERVAL) -> None:
        """Every `interval`, the rooms the operator changed since the last
        look have their settings read again (a room deleted sends its
        members away); runs until cancelled."""
        while True:
            await trio.sleep(interval)
            await self._read_operations()

    async def _read_operations(self) -> None:
        try:
            found = await self._store.read(ownership.operations_since, self._operations_since)
            new = [(name, at) for name, at in found if (name, at) not in self._operations_read]
            existing = await self._store.read(rooms_db.privacy, [n.lower() for n, _at in new])
        except Exception as exc:  # tried again next time
            if not isinstance(exc, StoreUnavailable):
                log.exception("reading the operator's changes to rooms failed")
            return
        # Clocks differ between the operator's machine and this one: what
        # was noted up to OPERATIONS_MARGIN_MS before the latest is read
        # again, and each change acted on once.
        newest = max([self._operations_since, *(at for _name, at in found)])
        self._operations_since = newest - OPERATIONS_MARGIN_MS
        self._operations_read = {(n, at) for n, at in found if at >= self._operations_since}
        kept = {stored.name.lower() for stored in existing}
        for name, _at in new:
            key = name.lower()
            if key not in kept:
                self._listing.forget(key)
            if (room := self._rooms.get(key)) is not None:
                room.take(SettingsEvent(name))

    def _note(self, name: str, *, with_history: bool = False) -> None:
        open_here = name.lower() in self._rooms
        self._listing.note(name, with_history=with_history, open_here=open_here)

    async def _resolve(self) -> None:
        """Read whether the rooms heard of from other servers are private;
        only then are public ones listed."""
        if not self._listing.unresolved:
            return
        keys = list(self._listing.unresolved)
        try:
            found = await self._store.read(rooms_db.privacy, keys)
        except Exception as exc:  # tried again next time
            if not isinstance(exc, StoreUnavailable):
                log.exception("reading rooms other servers made failed")
            return
        for stored in found:
            self._learn(stored)
        self._listing.resolved(keys, [stored.name.lower() for stored in found])

    def member_counts(self) -> list[int]:
        """Members of each room that has a task, for metrics."""
        return [room.member_count for room in self._rooms.values()]

    def _forget(self, room: Room) -> None:
        if self._rooms.get(room.key) is room:
            del self._rooms[room.key]
        if room.settings_read:  # (else it is not known to be public)
            self._learn(StoredRoom(room.name, bool(room.last_id), room.private))
        self._unlist_if_unused(room.key)

    def _unlist_if_unused(self, key: str) -> None:
        """Rooms without history or members (on any server) are not listed."""
        used = self._listing.has_history(key) or key in self._rooms or self._has_elsewhere(key)
        if not used:
            self._listing.unlist(key)
