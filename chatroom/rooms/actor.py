"""A room's task: one inbox, one loop, and every wait on the store.

Joins, leaves, sends and member queries arrive through one bounded channel,
so every member sees the same order; what other servers did arrives through
take() without blocking, and wakes the task. The task drains what is
waiting, commits the batch's messages to the store, and only then fans out:
under load, one write per member carries many messages (see outbox.py).
What the room decides, and what it sends to whom, is the core's (core.py):
the task reads and writes the store, tells the core what came of it, and
carries out the effects the core lists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import trio

from chatroom.cluster.events import (
    ChangedEvent,
    Event,
    InvitationEvent,
    MessagesEvent,
    PresenceEvent,
    RoomEvent,
    SettingsEvent,
)
from chatroom.domain import Member
from chatroom.metrics import Counters
from chatroom.rooms import storage
from chatroom.rooms.catchup import CatchUp, Waiting
from chatroom.rooms.commits import Commits
from chatroom.rooms.core import ForgetRoom, MarkSeen, RoomCore
from chatroom.rooms.inbox import Batch, Inbox, Wake
from chatroom.rooms.members import Elsewhere
from chatroom.rooms.recent import MAX_MESSAGES, MAX_ROOM_BYTES, CacheBudget
from chatroom.rooms.requests import (
    ChangeRequest,
    JoinRequest,
    LeaveRequest,
    MembersRequest,
    ModerateRequest,
    PublishRequest,
    RoomRequest,
    SettingsRequest,
    Subscriber,
    TypingRequest,
)
from chatroom.store import Store, StoreUnavailable
from chatroom.store import markers as markers_db
from chatroom.store import messages as messages_db
from chatroom.store import rooms as rooms_db

log = logging.getLogger("chatroom.rooms.room")  # (its name before actor.py)

T = TypeVar("T")

CATCH_UP_PAGE = 200  # messages of another server's read at a time
COALESCE_MIN_MEMBERS = 64  # members from which a room coalesces (see inbox.py)


class Room:
    def __init__(
        self,
        name: str,
        *,
        store: Store,
        counters: Counters,
        publish: Callable[[Event], None],
        on_empty: Callable[[Room], None],
        on_loaded: Callable[[Room], None],
        clock_ms: Callable[[], int],
        inbound_size: int,
        cache_budget: CacheBudget,
        elsewhere: Elsewhere | None = None,
        stored: bool = False,
        linger: float = 0.0,
        is_bot: Callable[[str], bool] = lambda user: False,
    ) -> None:
        self.core = RoomCore(
            name,
            clock_ms=clock_ms,
            budget=cache_budget,
            elsewhere=elsewhere,
            error_codes=counters.error_codes,
            is_bot=is_bot,
        )
        self.stored = stored  # whether the store has the room (its row in `rooms`)
        self._store = store
        self._counters = counters
        self._publish = publish
        self._on_empty = on_empty
        self._on_loaded = on_loaded  # told whether the room is private
        self._inbox = Inbox(inbound_size)
        self._linger_seconds = linger
        self._empty_since: float | None = None  # when the last member left (lingering)
        self._waiting = Waiting()  # from other servers, for the task
        self._catch_up = CatchUp(core=self.core, store=store, counters=counters)
        self._commits = Commits(
            core=self.core,
            store=store,
            counters=counters,
            catch_up=self._catch_up,
            load=self._load,
            carry_out=self._carry_out,
        )

    @property
    def name(self) -> str:
        return self.core.name

    @property
    def key(self) -> str:
        return self.core.key

    @property
    def last_id(self) -> int:
        """The id of the last message fanned out here (0: none, or not loaded yet)."""
        return self.core.timeline.last_id

    @property
    def loaded(self) -> bool:
        return self.core.timeline.loaded

    @property
    def private(self) -> bool:
        return self.core.private

    @property
    def settings_read(self) -> bool:
        return self.core.settings_read

    @property
    def member_count(self) -> int:
        return self.core.members.count

    @property
    def changes_made(self) -> int:
        return self.core.timeline.changes_made

    def has_subscriber(self, subscriber: Subscriber) -> bool:
        return self.core.is_member(subscriber)

    def covers(self, since: int | None) -> bool | None:
        return self.core.timeline.covers(since)

    def join_refusal(self, user: str) -> str | None:
        return self.core.join_refusal(user)

    def members(self) -> list[Member]:
        return self.core.members.listed(self.core.settings.rules)

    # -- from other servers (called outside the room's task; never block) ---------

    def take(self, event: RoomEvent) -> None:
        """What another server did here, for the room's task."""
        if isinstance(event, SettingsEvent | InvitationEvent):
            # Stale from now, not from when the task gets to it: an
            # invitee's join, at once, must not be refused here by old rules.
            self.core.settings_stale = True
        if isinstance(event, MessagesEvent):
            self.core.timeline.take_remote(list(event.messages))
            self.core.mentioned.expect(event.notify)
            self._catch_up.arrived()
        elif isinstance(event, ChangedEvent) and not self.loaded:
            return  # (loading reads the message as it is now)
        self._waiting.keep(event)
        self._inbox.wake()

    def behind(self, last_id: int) -> None:
        """The store has messages up to `last_id` here."""
        if self.core.timeline.take_behind(last_id):
            self._inbox.wake()

    async def submit(self, request: RoomRequest) -> None:
        """Queue a request; waits while the room's inbox is full."""
        await self._inbox.submit(request, self.name)

    # -- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        """Serve requests until the room is empty and nothing is waiting."""
        try:
            await self._serve()
        finally:
            try:
                self._carry_out()  # (what a failure left)
            except Exception:
                log.exception("room %s: its last effects failed", self.name)
            self.core.timeline.forget()
            # After a failure, members may remain: they leave every server's list.
            for user in self.core.members.users_here:
                self._publish(PresenceEvent(self.name, user, None))

    async def _serve(self) -> None:
        inbox = self._inbox
        async with inbox:
            batch = await inbox.next_batch()
            while True:
                await self._process(batch)
                if self.core.members.subscribers:
                    many = len(self.core.members.subscribers) >= COALESCE_MIN_MEMBERS
                    batch = await inbox.next_batch(coalesce=many)
                    continue
                batch = inbox.waiting()
                if not batch:
                    # Stay loaded a while after the last member left, for the
                    # next join (a reconnect, a page reload). What other
                    # servers write meanwhile reaches a lingering room as it
                    # reaches a room with members: from the broker, and from
                    # the store's last ids at the registry's gap check.
                    if self._empty_since is None:
                        self._empty_since = trio.current_time()
                    batch = await inbox.next_batch_before(self._empty_since + self._linger_seconds)
                if not batch:
                    # No await between this check and closing the inbox: a
                    # join either got in or gets RoomClosed.
                    self._on_empty(self)
                    return

    async def _process(self, batch: Batch) -> None:
        core = self.core
        await self._from_other_servers()
        # Sends, and edits and deletes, are committed a run at a time.
        publishing: list[PublishRequest] = []
        changing: list[ChangeRequest] = []
        for request in batch:
            if isinstance(request, Wake):
                continue
            member = core.is_member(request.subscriber)
            if isinstance(request, PublishRequest) and (member or request.posted):
                await self._commits.change_all(changing)  # (an edit may be of a send after it)
                changing = []
                publishing.append(request)
                continue
            if isinstance(request, ChangeRequest) and member:
                await self._commits.publish_all(publishing)  # (an edit may be of a send before it)
                publishing = []
                changing.append(request)
                continue
            # Everything else comes after the sends and changes before it, committed.
            await self._commits.publish_all(publishing)
            await self._commits.change_all(changing)
            publishing, changing = [], []
            if isinstance(request, JoinRequest):
                await self._join(request)
            elif isinstance(request, LeaveRequest):
                core.leave(request.subscriber, request.ref, request.reply, request.as_sent)
            elif not member:
                core.not_member(request.subscriber, request.ref)
            elif isinstance(request, TypingRequest):
                core.typing(request.subscriber.user, trio.current_time())
            elif isinstance(request, MembersRequest):
                core.list_members(request.subscriber, request.ref)
            elif isinstance(request, SettingsRequest):
                await self._commits.set(request)
            elif isinstance(request, ModerateRequest):
                await self._commits.moderate(request)
            self._carry_out()
        await self._commits.publish_all(publishing)
        await self._commits.change_all(changing)
        core.timeline.loaded_now = None
        await self._from_other_servers()  # what arrived while this batch loaded
        core.flush()
        self._carry_out()
        now = trio.current_time()
        for request in batch:
            if isinstance(request, PublishRequest) and request.received is not None:
                self._counters.fanout_seconds.observe(now - request.received)

    def _carry_out(self) -> None:
        """The core's effects: events for the cluster, writes that may wait."""
        for effect in self.core.take_effects():
            if isinstance(effect, MarkSeen):
                self._store.write_soon(markers_db.mark_seen, effect.user, self.name, effect.last_id)
            elif isinstance(effect, ForgetRoom):
                # (lost if the write queue is full: the room then stays
                # listed among the user's until they leave it)
                self._store.write_soon(rooms_db.forget_room, effect.user, self.name)
            else:
                self._publish(effect)

    # -- reading the store ------------------------------------------------------------

    async def _load(self, creator: str | None = None) -> bool:
        """Read the last id, recent messages and settings (again after a
        failed commit), creating the room (owned by `creator`) if new, or
        anew if the operator deleted it since; False while the store cannot
        be read."""
        if self.loaded:
            return True
        store, core = self._store, self.core
        try:
            settings = await storage.settings_of(store, self.name) if self.stored else None
            if settings is None:
                core.name = await store.write(rooms_db.create_room, self.name, creator)
                self.stored = True
                settings = await storage.settings_of(store, self.name)
            core.read(settings or core.settings)
            last_id = await store.read(messages_db.last_id, self.name)
            recent = await store.read(
                messages_db.history, self.name, None, MAX_MESSAGES, max_bytes=MAX_ROOM_BYTES
            )
        except Exception as exc:
            if not isinstance(exc, StoreUnavailable):
                log.exception(
                    "room %s: reading its history failed", self.name, extra={"room": self.name}
                )
            return False
        core.load(last_id, recent)
        self._on_loaded(self)
        return True

    async def _join(self, request: JoinRequest) -> None:
        core = self.core
        if not await self._load(request.subscriber.user):
            core.join_failed(request.subscriber, request.ref)
            return
        if core.refuse(request):
            return
        self._empty_since = None
        seen = request.seen
        if seen > core.timeline.last_id:  # it saw (or read) more than this room has sent
            await self._catch_up.fill_gap_before(seen + 1)
        core.admit(request)

    async def _from_other_servers(self) -> None:
        if not self.loaded:
            return  # (kept until then: what the load reads is not all of it)
        waiting, self._waiting = self._waiting, Waiting()
        await self._catch_up.from_other_servers(waiting)
