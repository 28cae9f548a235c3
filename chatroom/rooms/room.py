"""A room: one task that owns its members and orders everything said in it.

Joins, leaves, sends and member queries arrive through one bounded channel,
so every member sees the same order. The task drains what is waiting, commits
the batch's messages to the store, and only then fans out: under load, one
write per member carries many messages (see outbox.py). Fan-out never
blocks: a member whose transport refuses bytes (closed, or its outbound queue
full) stops being a member at once and is closed by its own connection.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, TypeVar

import attrs
import trio

from chatroom import protocol
from chatroom.domain import (
    HISTORY_PAGE_BYTES,
    ChatMessage,
    ErrorCode,
    HistoryPage,
    Member,
    RoomInfo,
    newest_within,
)
from chatroom.domain.rules import (
    Action,
    Change,
    RoomRules,
    may_change_others,
    may_join,
    may_set_topic,
    refusal,
    why_not_join,
)
from chatroom.metrics import Counters
from chatroom.net.wsframe import text_frame
from chatroom.protocol import ProtocolError, Ref
from chatroom.rooms.outbox import Outbox
from chatroom.rooms.recent import MAX_MESSAGES, MAX_ROOM_BYTES, CacheBudget, RecentMessages
from chatroom.store import Change as StoredChange
from chatroom.store import (
    MessageChange,
    RoomList,
    RoomSettings,
    Saved,
    Store,
    StoreUnavailable,
)
from chatroom.store import markers as markers_db
from chatroom.store import messages as messages_db
from chatroom.store import rooms as rooms_db

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BATCH = 512
# Fan out before a batch's broadcast bytes pass this, so that one write stays
# well inside a member's outbound limit however large the messages are.
MAX_FLUSH_BYTES = 256 * 1024
JOIN_HISTORY = 50  # messages in `joined` without `since`
SINCE_LIMIT = 1000  # past this, `joined` is truncated and the client pages with `history`
# Messages that may arrive between a connection asking covers() and its join
# reaching the room; nearer the edge of memory than this, it reads instead.
COVER_MARGIN = 50
CATCH_UP_PAGE = 200  # messages of another server's read at a time
# A flush costs a write per member. In a large room, the room lets the
# connections' readers run more scheduler rounds while requests keep coming,
# so that each write carries more messages: a round costs microseconds, a
# flush to a thousand members milliseconds. Idle, it costs two rounds.
COALESCE_MIN_MEMBERS = 64
COALESCE_MAX_ROUNDS = 16
COALESCE_QUIET_ROUNDS = 2
# Messages from other servers waiting for the room's task; past this they are
# dropped and read from the store instead.
MAX_REMOTE_WAITING = 4096
# A user's `typing` reaches the others at most this often (seconds) per room.
TYPING_INTERVAL = 2.0
# A join's `changes`: at most MAX_CHANGES read by its connection, plus the
# latest changes of the room's RECENT_CHANGES most recently changed messages,
# within CHANGES_BYTES (the newest kept); past any of these, `joined` says
# `changes_truncated`.
MAX_CHANGES = 200
RECENT_CHANGES = 256
CHANGES_BYTES = 256 * 1024


class Subscriber(Protocol):
    """What a room needs of a connection."""

    @property
    def user(self) -> str: ...

    def deliver(self, data: bytes) -> bool:
        """Queue whole frames for the client without blocking; False if refused."""

    def not_in(self, room: str) -> None:
        """The room does not count this connection as a member (any more)."""


class ClusterLink(Protocol):
    """What a room needs of the other servers sharing its store (see broker/)."""

    def published(self, room: str, messages: list[ChatMessage]) -> None:
        """Messages committed here, for the members on other servers; never blocks."""

    def member_changed(self, room: str, user: str, since: int | None) -> None:
        """`user` became a member here at `since`, or stopped being one (None)."""

    def elsewhere(self, key: str) -> Mapping[str, int]:
        """Members of the room on other servers, with their `since`."""

    def is_elsewhere(self, key: str, user: str) -> bool: ...

    def changed(self, room: str, message: ChatMessage) -> None:
        """A message edited or deleted here, for the members on other servers."""

    def settings_changed(self, room: str) -> None:
        """The room's topic or roles changed here: other servers read them again."""

    def expelled(self, room: str, user: str, by: str, reason: str | None) -> None:
        """`user` was kicked or banned here: their connections elsewhere leave too."""

    def typing(self, room: str, user: str) -> None:
        """`user` is typing here: the members elsewhere are told too."""


class UserNotices(Protocol):
    """What a room tells every connection of a user, in whatever rooms."""

    def invited(self, room: str, user: str, by: str) -> None:
        """`by` invited `user` to the private `room`."""

    def room_forgotten(self, room: str, user: str) -> None:
        """`room` is no longer among `user`'s rooms (kicked, banned, or a
        join refused)."""

    def direct_messages(self, room: str, messages: list[ChatMessage]) -> None:
        """Committed in the direct `room`: its two users' connections that
        have not joined it get them too."""


@attrs.frozen(eq=False)
class JoinRequest:
    subscriber: Subscriber
    ref: Ref = None
    since: int | None = None
    # The newest messages after `since` (or the latest page), read by the
    # connection itself when the room said its memory does not reach back
    # that far (see covers()).
    prefetched: HistoryPage | None = None
    read: int | None = None  # the user's read marker, for `joined`
    # With `since`: what changed up to it, read by the connection (see
    # messages.changes_since); what changed after that read is added here.
    changes: list[ChatMessage] | None = None
    changes_counted: int = 0  # Room.changes_made when that read began


@attrs.frozen(eq=False)
class LeaveRequest:
    subscriber: Subscriber
    ref: Ref = None
    reply: bool = True
    # The room as the client spelled it: a connection the room never let in
    # is told not_member in its own words, never the room's real spelling.
    as_sent: str | None = None


@attrs.frozen(eq=False)
class PublishRequest:
    subscriber: Subscriber
    text: str
    ref: Ref = None
    cid: str | None = None
    received: float = attrs.field(factory=trio.current_time)  # (for the fan-out histogram)


@attrs.frozen(eq=False)
class ChangeRequest:
    """Edit a message (`text`) or delete it (None)."""

    subscriber: Subscriber
    message_id: int
    text: str | None
    ref: Ref = None


@attrs.frozen(eq=False)
class SettingsRequest:
    """Set the topic (`topic`), or make `user` a moderator or a member again."""

    subscriber: Subscriber
    topic: str | None = None
    user: str | None = None
    moderator: bool = False
    ref: Ref = None


@attrs.frozen(eq=False)
class ModerateRequest:
    """Kick, ban or unban `user`."""

    subscriber: Subscriber
    action: Action
    user: str
    reason: str | None = None
    ref: Ref = None


@attrs.frozen(eq=False)
class TypingRequest:
    subscriber: Subscriber
    ref: Ref = None


@attrs.frozen(eq=False)
class MembersRequest:
    subscriber: Subscriber
    ref: Ref = None


class Wake:
    """Something arrived from other servers (see take_remote() and friends)."""


WAKE = Wake()

RoomRequest = (
    JoinRequest
    | LeaveRequest
    | PublishRequest
    | MembersRequest
    | ChangeRequest
    | SettingsRequest
    | ModerateRequest
    | TypingRequest
    | Wake
)


class RoomClosed(Exception):
    """The room's task has ended; open the room again from the registry."""


@attrs.define
class _Membership:
    since: int
    connections: int = 0


class Room:
    def __init__(
        self,
        name: str,
        *,
        inbound_size: int,
        store: Store,
        counters: Counters,
        clock_ms: Callable[[], int],
        on_empty: Callable[[Room], None],
        stored: bool = False,
        cache_budget: CacheBudget | None = None,
        link: ClusterLink | None = None,
        on_loaded: Callable[[Room], None] = lambda room: None,
        users: UserNotices | None = None,
        linger: float = 0.0,
    ) -> None:
        # As first spelled: the store's spelling once the room is stored.
        self.name = name
        self.key = name.lower()
        # Whether the store has the room (its row in `rooms`).
        self.stored = stored
        self._store = store
        self._counters = counters
        self._sender, self._receiver = trio.open_memory_channel[RoomRequest](inbound_size)
        self._clock_ms = clock_ms
        self._on_empty = on_empty
        # connection -> its bound deliver(), called once per member per flush
        self._subscribers: dict[Subscriber, Callable[[bytes], bool]] = {}
        self._members: dict[str, _Membership] = {}
        self._outbox: Outbox[Subscriber] = Outbox()
        self._last_id = 0
        # None until the last id and recent messages are read from the store;
        # None again after a failed commit, so the store stays the truth.
        self._recent: RecentMessages | None = None
        # What the load read, kept for the batch that loaded it: its joins
        # need no second read even if the memory budget cut the room at once.
        self._loaded_now: list[ChatMessage] | None = None
        self._cache_budget = CacheBudget() if cache_budget is None else cache_budget
        self._settings = RoomSettings(RoomRules(), None, "", [])  # read by _load
        self.settings_read = False  # until then, whether the room is private is not known
        self._settings_changed = False  # by another server: read them again
        self._link = link
        self._on_loaded = on_loaded  # told whether the room is private
        self._users = users
        self._linger_seconds = linger
        self._empty_since: float | None = None  # when the last member left (lingering)
        # Who this room's clients were told are members (here or elsewhere).
        self._announced: set[str] = set()
        # From other servers, for the room's task: messages, the last id the
        # store has (when the broker lost some), users whose presence changed.
        self._remote: list[ChatMessage] = []
        self._remote_changes: list[ChatMessage] = []  # edited or deleted elsewhere
        self._remote_expels: list[tuple[str, str, str | None]] = []  # (user, by, reason)
        self._behind = 0
        self._presence_changed: set[str] = set()
        self._remote_typing: list[str] = []
        # user -> when their typing was last relayed (members only)
        self._typing: dict[str, float] = {}
        # The latest edit or delete of the messages changed most recently, by
        # id, for joins whose `changes` were read before them (see
        # JoinRequest.changes); how many changes were fanned out, and how many
        # when the oldest of them was last dropped.
        self._recent_changes: collections.OrderedDict[int, ChatMessage] = collections.OrderedDict()
        self.changes_made = 0
        self._changes_dropped_at = 0
        self._woken = False

    @property
    def last_id(self) -> int:
        """The id of the last message committed here (0: none, or not loaded yet)."""
        return self._last_id

    def has_subscriber(self, subscriber: Subscriber) -> bool:
        """Whether `subscriber` joined here (its join handled and accepted)."""
        return subscriber in self._subscribers

    @property
    def private(self) -> bool:
        """Whether the room is private (known once loaded)."""
        return self._settings.rules.private

    @property
    def loaded(self) -> bool:
        """Whether the room has read its last id and recent messages."""
        return self._recent is not None

    def covers(self, since: int | None) -> bool | None:
        """Whether a join with `since` (None: the latest messages) can be
        answered from memory; None while the room has not loaded them. With a
        margin: sends queued ahead of the join move memory on meanwhile."""
        if self._recent is None:
            return None
        if since is None:
            return len(self._recent) >= JOIN_HISTORY + COVER_MARGIN or self._recent.oldest_id == 1
        if since >= self._last_id:
            return True
        oldest = self._recent.oldest_id
        return oldest is not None and (oldest == 1 or since >= oldest - 1 + COVER_MARGIN)

    def _kept_after(self, since: int) -> list[ChatMessage] | None:
        """Every message after `since` from the room's memory alone; None if
        some are not kept."""
        assert self._recent is not None
        return [] if since >= self._last_id else self._recent.after(since)

    def _in_memory_after(self, since: int) -> list[ChatMessage] | None:
        """Every message after `since`, from memory or from what this batch's
        load read (before the memory budget cut it); None if some are missing."""
        found = self._kept_after(since)
        loaded = self._loaded_now
        if found is None and loaded and since >= loaded[0].id - 1:
            tail = self._kept_after(loaded[-1].id)
            if tail is not None:
                found = [m for m in loaded if m.id > since] + tail
        return found

    @property
    def member_count(self) -> int:
        if self._link is None:
            return len(self._members)
        return len(self._members.keys() | self._link.elsewhere(self.key).keys())

    def members(self) -> list[Member]:
        """Users in the room (on any server), in the order they became
        members, with their roles."""
        role_of = self._settings.rules.role_of
        here = [Member(user, m.since, role_of(user)) for user, m in self._members.items()]
        elsewhere = self._link.elsewhere(self.key) if self._link is not None else None
        if not elsewhere:
            return here
        since = dict(elsewhere)
        for member in here:
            since[member.user] = min(member.since, since.get(member.user, member.since))
        ordered = sorted(since.items(), key=lambda item: item[1])
        return [Member(user, joined, role_of(user)) for user, joined in ordered]

    def _info(self) -> RoomInfo:
        settings = self._settings
        return RoomInfo(
            settings.rules.private, settings.topic, settings.owner, tuple(settings.moderators)
        )

    def _is_member(self, user: str) -> bool:
        return user in self._members or (
            self._link is not None and self._link.is_elsewhere(self.key, user)
        )

    # -- from other servers (called outside the room's task; never block) ------

    def take_remote(self, messages: list[ChatMessage]) -> None:
        """Messages another server committed here, in id order."""
        if self._recent is None:  # loading reads them, unless it has already
            self._behind = max(self._behind, messages[-1].id)
        elif len(self._remote) + len(messages) > MAX_REMOTE_WAITING:
            self._behind = max(self._behind, messages[-1].id)
            self._remote.clear()
        else:
            self._remote.extend(messages)
        self._wake()

    def take_remote_change(self, message: ChatMessage) -> None:
        """A message another server edited or deleted, as it is now."""
        if self._recent is not None and len(self._remote_changes) < MAX_REMOTE_WAITING:
            self._remote_changes.append(message)
            self._wake()

    def behind(self, last_id: int) -> None:
        """The store has messages up to `last_id` here."""
        if last_id > self._last_id:
            self._behind = max(self._behind, last_id)
            self._wake()

    def presence_changed(self, users: list[str]) -> None:
        self._presence_changed.update(users)
        self._wake()

    def _wake(self) -> None:
        if self._woken:
            return
        try:
            self._sender.send_nowait(WAKE)
            self._woken = True
        except trio.WouldBlock:
            pass  # requests are waiting: the task looks before it waits again
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the room has ended: a new one reads the store

    async def submit(self, request: RoomRequest) -> None:
        """Queue a request; waits while the room's inbound channel is full."""
        try:
            await self._sender.send(request)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise RoomClosed(self.name) from None

    async def run(self) -> None:
        """Serve requests until the room is empty and nothing is waiting."""
        try:
            await self._serve()
        finally:
            self._forget_recent()
            if self._link is not None:  # after a failure, members may remain
                for user in self._members:
                    self._link.member_changed(self.name, user, None)

    def _forget_recent(self) -> None:
        if self._recent is not None:
            self._recent.close()
            self._recent = None

    async def _serve(self) -> None:
        async with self._receiver:
            batch = [await self._receiver.receive()]
            while True:
                self._drain_into(batch)
                await self._process(batch)
                if not self._subscribers:
                    batch = []
                    self._drain_into(batch)
                    if not batch:
                        batch = await self._linger()
                    if not batch:
                        # No await between this check and closing the
                        # channel: a join either got in or gets RoomClosed.
                        self._on_empty(self)
                        return
                    continue
                batch = [await self._receiver.receive()]
                if len(self._subscribers) >= COALESCE_MIN_MEMBERS:
                    await self._coalesce()

    async def _linger(self) -> list[RoomRequest]:
        """Stay loaded a while after the last member left, for the next join
        (a reconnect, a page reload): the room's next request, or nothing
        once the linger time has passed since the room emptied."""
        if self._empty_since is None:
            # What other servers write meanwhile reaches a lingering room as
            # it reaches a room with members: from the broker, and from the
            # store's last ids at the registry's gap check.
            self._empty_since = trio.current_time()
        with trio.move_on_at(self._empty_since + self._linger_seconds):
            return [await self._receiver.receive()]
        batch: list[RoomRequest] = []
        self._drain_into(batch)  # (what came at the last moment)
        return batch

    async def _coalesce(self) -> None:
        """Yield while more requests keep arriving (see COALESCE_MAX_ROUNDS)."""
        quiet = 0
        waiting = self._receiver.statistics().current_buffer_used
        for _ in range(COALESCE_MAX_ROUNDS):
            await trio.lowlevel.checkpoint()
            now_waiting = self._receiver.statistics().current_buffer_used
            quiet = quiet + 1 if now_waiting == waiting else 0
            if quiet >= COALESCE_QUIET_ROUNDS:
                return
            waiting = now_waiting

    def _drain_into(self, batch: list[RoomRequest]) -> None:
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._receiver.receive_nowait())
            except trio.WouldBlock:
                return

    async def _process(self, batch: list[RoomRequest]) -> None:
        self._woken = False
        await self._from_other_servers()
        # Sends, and edits and deletes, are committed a run at a time.
        publishing: list[PublishRequest] = []
        changing: list[ChangeRequest] = []
        for request in batch:
            if isinstance(request, Wake):
                continue
            member = request.subscriber in self._subscribers
            if isinstance(request, PublishRequest) and member:
                await self._change_all(changing)  # (an edit may be of a send after it)
                changing = []
                publishing.append(request)
                continue
            if isinstance(request, ChangeRequest) and member:
                await self._publish(publishing)  # (an edit may be of a send before it)
                publishing = []
                changing.append(request)
                continue
            # Everything else comes after the sends and changes before it, committed.
            await self._publish(publishing)
            await self._change_all(changing)
            publishing, changing = [], []
            match request:
                case PublishRequest(subscriber, _text, ref, _cid):
                    self._send_error(subscriber, self._not_member(ref))
                case JoinRequest():
                    await self._join(request)
                case TypingRequest(subscriber, ref):
                    if not member:
                        self._send_error(subscriber, self._not_member(ref))
                    elif self._relay_typing(subscriber.user) and self._link is not None:
                        self._link.typing(self.name, subscriber.user)
                case LeaveRequest(subscriber, ref, reply, as_sent):
                    self._leave(subscriber, ref, reply, as_sent)
                case ChangeRequest(subscriber, _id, _text, ref):
                    self._send_error(subscriber, self._not_member(ref))
                case SettingsRequest(subscriber, _topic, _user, _moderator, ref):
                    if member:
                        await self._set(request)
                    else:
                        self._send_error(subscriber, self._not_member(ref))
                case ModerateRequest(subscriber, _action, _user, _reason, ref):
                    if member:
                        await self._moderate(request)
                    else:
                        self._send_error(subscriber, self._not_member(ref))
                case MembersRequest(subscriber, ref):
                    if member:
                        members = protocol.encode_members(self.name, self.members(), ref)
                        self._send_to(subscriber, members)
                    else:
                        self._send_error(subscriber, self._not_member(ref))
        await self._publish(publishing)
        await self._change_all(changing)
        self._loaded_now = None
        await self._from_other_servers()  # what arrived while this batch loaded
        self._flush()
        now = trio.current_time()
        for request in batch:
            if isinstance(request, PublishRequest):
                self._counters.fanout_seconds.observe(now - request.received)

    async def _load(self, creator: str | None = None) -> bool:
        """Read the last id, recent messages and settings (again after a
        failed commit), creating the room (owned by `creator`) if new; False
        while the store cannot be read."""
        if self._recent is not None:
            return True
        try:
            if not self.stored:
                self.name = await self._store.write(rooms_db.create_room, self.name, creator)
                self.stored = True
            found = await self._store.read(rooms_db.room_settings, self.name)
            self._settings = found or self._settings
            self.settings_read = True
            last_id = await self._store.read(messages_db.last_id, self.name)
            recent = await self._store.read(
                messages_db.history, self.name, None, MAX_MESSAGES, max_bytes=MAX_ROOM_BYTES
            )
        except Exception as exc:
            if not isinstance(exc, StoreUnavailable):
                log.exception(
                    "room %s: reading its history failed", self.name, extra={"room": self.name}
                )
            return False
        if self._subscribers and self._last_id:
            # Again, after a failed commit: the members have seen up to
            # _last_id; what others committed since goes out as a catch-up.
            recent = [m for m in recent if m.id <= self._last_id]
            self._behind = max(self._behind, last_id)
        else:  # (the history read may have seen a later commit than last_id)
            self._last_id = max(last_id, recent[-1].id if recent else 0)
        self._recent = RecentMessages(self._cache_budget, recent)
        self._loaded_now = recent
        self._on_loaded(self)
        return True

    async def _publish(self, requests: list[PublishRequest]) -> None:
        """Commit the messages, then queue them for every member.

        A message is never sent before it is committed; the senders of those
        that could not be committed get `unavailable`. A send whose `cid` its
        user already used here is answered with the stored message, to the
        sender alone. With group commit the batch is one transaction; without,
        one each (to measure what grouping saves).
        """
        if not requests:
            return
        if not await self._load():
            for request in requests:
                self._send_error(request.subscriber, protocol.unavailable_error(request.ref))
            return
        chunks = [requests] if self._store.group_commit else [[r] for r in requests]
        for at, chunk in enumerate(chunks):
            now = self._clock_ms()
            # Ids here are drafts: the store numbers the messages.
            drafts = [
                ChatMessage(self.name, 0, r.subscriber.user, r.text, now, r.cid) for r in chunk
            ]
            try:
                saved = await self._store.write(messages_db.insert_messages, drafts)
                self._counters.messages_committed += sum(s.new for s in saved)
            except Exception as exc:
                if not isinstance(exc, StoreUnavailable):
                    log.exception(
                        "room %s: saving %d messages failed",
                        self.name,
                        len(chunk),
                        extra={"room": self.name},
                    )
                # The store stays the truth: reread it before the next batch.
                self._forget_recent()
                for chunk_after in chunks[at:]:
                    for request in chunk_after:
                        self._send_error(
                            request.subscriber, protocol.unavailable_error(request.ref)
                        )
                return
            new = [s.message for s in saved if s.new]
            if new and self._link is not None:
                self._link.published(self.name, new)
            if new and self._settings.rules.direct and self._users is not None:
                self._users.direct_messages(self.name, new)
            if new and not await self._fill_gap_before(new[0].id):
                # Committed, but what others committed before it cannot be
                # read now: it goes out after them (its sender included).
                self._remote.extend(new)
                self._behind = max(self._behind, new[-1].id)
                continue
            if new:
                self._accept(new)
            for request, result in zip(chunk, saved, strict=True):
                self._deliver_saved(request, result)

    def _deliver_saved(self, request: PublishRequest, result: Saved) -> None:
        own = protocol.encode_message(result.message, request.ref)
        if not result.new:  # its cid was used before: the sender alone hears again
            self._outbox.send_to(request.subscriber, text_frame(own))
            return
        self._outbox.broadcast(text_frame(protocol.encode_message(result.message)))
        if request.ref is not None:
            self._outbox.replace_last(request.subscriber, text_frame(own))
        if self._outbox.size > MAX_FLUSH_BYTES:
            self._flush()

    async def _fill_gap_before(self, next_id: int) -> bool:
        """Fan out every message before `next_id`: those the broker brought
        first, then the store's. False if the store could not be read."""
        await self._remote_messages(before=next_id)
        return await self._catch_up(next_id)

    async def _catch_up(self, next_id: int) -> bool:
        """Another server using the same database committed messages here
        (ids below `next_id` that this room has not seen): read and fan them
        out first, so that every member still gets every message, in order.
        Rare with one server: this read runs in the room's task."""
        while self._last_id + 1 < next_id:
            try:
                missed = await self._store.read(
                    messages_db.between, self.name, self._last_id, next_id, CATCH_UP_PAGE
                )
            except StoreUnavailable:
                log.warning(
                    "room %s: messages %d..%d not read", self.name, self._last_id + 1, next_id - 1
                )
                return False
            if not missed:
                return True  # (the store has none: rolled back, or never there)
            self._accept(missed)
            for message in missed:
                self._outbox.broadcast(text_frame(protocol.encode_message(message)))
                if self._outbox.size > MAX_FLUSH_BYTES:
                    self._flush()
        return True

    async def _from_other_servers(self) -> None:
        """What other servers did here: messages, edits and deletes, settings,
        kicks and bans, presence changes, typing."""
        if self._recent is None:
            self._remote.clear()
            return
        await self._remote_messages()
        if self._behind > self._last_id:
            await self._catch_up(self._behind + 1)
        changes, self._remote_changes = self._remote_changes, []
        for message in changes:
            if message.id > self._last_id:  # (the read has it as it is now)
                await self._catch_up(message.id + 1)
            self._changed(message)
        if self._settings_changed:
            self._settings_changed = False
            try:
                found = await self._store.read(rooms_db.room_settings, self.name)
                self._settings = found or self._settings
            except StoreUnavailable:
                self._settings_changed = True  # the next wake tries again
            else:
                info = protocol.encode_room_info(self.name, self._info())
                self._outbox.broadcast(text_frame(info))
        expels, self._remote_expels = self._remote_expels, []
        for user, by, reason in expels:
            self._expel(user, by, reason)
        changed, self._presence_changed = self._presence_changed, set()
        for user in changed:
            self._announce(user)
        typing, self._remote_typing = self._remote_typing, []
        for user in typing:
            self._relay_typing(user)

    async def _remote_messages(self, before: int | None = None) -> None:
        """Fan out what other servers committed (before id `before`), in id
        order, each message once: what the broker did not bring (lost, or
        overtaken by a later id) is read from the store first."""
        if self._recent is None:
            return
        self._remote.sort(key=lambda m: m.id)
        while self._remote and (before is None or self._remote[0].id < before):
            message = self._remote[0]
            if message.id > self._last_id and not await self._catch_up(message.id):
                break  # the store is down: the gap check tries again
            del self._remote[0]
            if message.id <= self._last_id:
                continue  # read already, or committed here
            self._accept([message])
            self._outbox.broadcast(text_frame(protocol.encode_message(message)))

    async def _change_all(self, requests: list[ChangeRequest]) -> None:
        """Edit or delete messages, each if the policy lets its requester, in
        one commit: one member's flood of them costs the room one wait."""
        if not requests:
            return
        if not await self._load():
            for request in requests:
                self._send_error(request.subscriber, protocol.unavailable_error(request.ref))
            return
        rules = self._settings.rules
        changes: list[MessageChange] = [
            (
                r.message_id,
                r.subscriber.user,
                r.text,
                may_change_others(
                    Change.EDIT if r.text is not None else Change.DELETE,
                    rules.role_of(r.subscriber.user),
                ),
            )
            for r in requests
        ]
        try:
            results = await self._store.write(messages_db.change_messages, self.name, changes)
        except Exception as exc:
            if not isinstance(exc, StoreUnavailable):
                log.exception(
                    "room %s: %d changes failed", self.name, len(changes), extra={"room": self.name}
                )
            for request in requests:
                self._send_error(request.subscriber, protocol.unavailable_error(request.ref))
            return
        for request, result in zip(requests, results, strict=True):
            await self._changed_by(request, result)

    async def _changed_by(self, request: ChangeRequest, result: StoredChange) -> None:
        subscriber, message_id, ref = request.subscriber, request.message_id, request.ref
        if result.message is None:
            error = protocol.not_yours_error if result.found else None
            self._send_error(
                subscriber,
                error(ref) if error else protocol.not_found_error(message_id, ref),
            )
            return
        if message_id > self._last_id:  # the message itself goes out first
            await self._fill_gap_before(message_id + 1)
        self._changed(result.message)
        if ref is not None:
            own = protocol.encode_change(result.message, ref)
            self._outbox.replace_last(subscriber, text_frame(own))
        if self._link is not None:
            self._link.changed(self.name, result.message)

    async def _set(self, request: SettingsRequest) -> None:
        """Change the topic or a role, if the policy lets the requester."""
        subscriber, ref = request.subscriber, request.ref
        rules, actor = self._settings.rules, subscriber.user
        if request.topic is not None:
            refused = None if may_set_topic(rules, actor) else ErrorCode.FORBIDDEN
        else:
            assert request.user is not None
            refused = refusal(rules, actor, Action.SET_ROLE, request.user)
        if refused is not None:
            message = "only the owner and moderators may" if request.topic else "only the owner may"
            self._send_error(subscriber, ProtocolError(refused, f"{message} do that here", ref))
            return

        async def apply() -> RoomSettings:
            if request.topic is not None:
                await self._store.write(rooms_db.set_topic, self.name, request.topic)
            else:
                assert request.user is not None
                await self._store.write(
                    rooms_db.set_listed,
                    RoomList.MODERATORS,
                    self.name,
                    request.user,
                    actor,
                    request.moderator,
                )
            return await self._store.read(rooms_db.room_settings, self.name) or self._settings

        settings = await self._write(subscriber, ref, "changing its settings", apply())
        if settings is None:
            return
        self._settings = settings
        self._outbox.broadcast(text_frame(protocol.encode_room_info(self.name, self._info())))
        self._send_to(subscriber, protocol.encode_done(ref))
        if self._link is not None:
            self._link.settings_changed(self.name)

    async def _moderate(self, request: ModerateRequest) -> None:
        """Invite, kick, ban or unban, if the policy lets the requester."""
        subscriber, action, target, ref = (
            request.subscriber,
            request.action,
            request.user,
            request.ref,
        )
        actor = subscriber.user
        refused = refusal(self._settings.rules, actor, action, target)
        if refused is not None:
            why = f"you may not {action.value} {target} here"
            self._send_error(subscriber, ProtocolError(refused, why, ref))
            return

        expelling = action in (Action.KICK, Action.BAN)
        invited_now = False  # not repeated: an invitation not acted on yet

        async def apply() -> RoomSettings:
            nonlocal invited_now
            store = self._store
            if action in (Action.BAN, Action.UNBAN):
                banned = action is Action.BAN
                await store.write(
                    rooms_db.set_listed, RoomList.BANS, self.name, target, actor, banned
                )
            if action is Action.INVITE:
                invited_now = await store.write(rooms_db.invite, self.name, target, actor)
            elif expelling:
                if self.private:  # an expelled user's invitation is withdrawn
                    await store.write(
                        rooms_db.set_listed, RoomList.INVITATIONS, self.name, target, actor, False
                    )
                # A kick or ban ends a moderator's role (only the owner may do either).
                await store.write(
                    rooms_db.set_listed, RoomList.MODERATORS, self.name, target, actor, False
                )
                # No longer among their rooms (nor is a marker of before).
                store.read_markers.drop(target, self.name)
                await store.write(rooms_db.forget_room, target, self.name)
            return await store.read(rooms_db.room_settings, self.name) or self._settings

        settings = await self._write(subscriber, ref, action.value, apply())
        if settings is None:
            return
        role_ended = self._settings.rules.moderators != settings.rules.moderators
        self._settings = settings
        if role_ended:
            self._outbox.broadcast(text_frame(protocol.encode_room_info(self.name, self._info())))
        if expelling:
            self._expel(target, actor, request.reason)
            if self._users is not None:
                self._users.room_forgotten(self.name, target)
        if action is Action.INVITE:
            self._send_to(subscriber, protocol.encode_invited(self.name, target, ref))
            if invited_now and self._users is not None:
                self._users.invited(self.name, target, actor)
        else:
            self._send_to(subscriber, protocol.encode_done(ref))
        if self._link is not None:
            if expelling:
                self._link.expelled(self.name, target, actor, request.reason)
            if action is not Action.KICK or self.private or role_ended:  # lists changed
                self._link.settings_changed(self.name)

    def take_expel(self, user: str, by: str, reason: str | None) -> None:
        """Another server kicked or banned `user` here."""
        if len(self._remote_expels) < MAX_REMOTE_WAITING:
            self._remote_expels.append((user, by, reason))
            self._wake()

    def _expel(self, user: str, by: str, reason: str | None) -> None:
        """Every connection of `user` here gets `kicked` and is no longer a
        member (the others see a presence leave)."""
        kicked = text_frame(protocol.encode_kicked(self.name, by, reason))
        for subscriber in [s for s in self._subscribers if s.user.lower() == user.lower()]:
            owed = self._outbox.take(subscriber)
            self._remove(subscriber)
            subscriber.deliver(owed + kicked)

    def take_settings_changed(self) -> None:
        """Another server changed the room's topic or roles."""
        self._settings_changed = True
        self._wake()

    async def _write(
        self, subscriber: Subscriber, ref: Ref, what: str, write: Awaitable[T]
    ) -> T | None:
        """What a store write for `subscriber` gave; None after answering
        `unavailable` (logged when not just the store being away)."""
        try:
            return await write
        except Exception as exc:
            if not isinstance(exc, StoreUnavailable):
                log.exception("room %s: %s failed", self.name, what, extra={"room": self.name})
            self._send_error(subscriber, protocol.unavailable_error(ref))
            return None

    def _changed(self, message: ChatMessage) -> None:
        """Members see the message as it is now; so will later joins."""
        assert self._recent is not None
        self._recent.replace(message)
        self.changes_made += 1
        self._recent_changes.pop(message.id, None)
        self._recent_changes[message.id] = message
        if len(self._recent_changes) > RECENT_CHANGES:
            self._recent_changes.popitem(last=False)
            self._changes_dropped_at = self.changes_made
        self._outbox.broadcast(text_frame(protocol.encode_change(message)))

    def _accept(self, messages: list[ChatMessage]) -> None:
        """Messages committed here, in id order: the room's last id and memory move on."""
        self._last_id = messages[-1].id
        if self._recent is not None:
            self._recent.extend(messages)

    def _history_since(
        self, since: int | None, prefetched: HistoryPage | None
    ) -> tuple[HistoryPage, bool]:
        """What `joined` carries, and whether it was cut (at SINCE_LIMIT
        messages or HISTORY_PAGE_BYTES, or where neither memory nor a
        prefetched page reaches back). Never a query: this runs in the
        room's task, which everybody in the room waits on."""
        assert self._recent is not None
        if since is None:
            return self._latest(prefetched), False
        found = self._in_memory_after(since)
        cut = False
        if found is None and prefetched is not None:
            last_read = prefetched.messages[-1].id if prefetched.messages else since or 0
            tail = self._in_memory_after(last_read)
            if tail is not None:
                found, cut = prefetched.messages + tail, prefetched.more
        if found is None:  # memory alone, where it does not reach back
            found, cut = self._recent.latest(SINCE_LIMIT), True
        page = self._page(found[-SINCE_LIMIT:])
        return page, cut or len(page.messages) < len(found)

    def _latest(self, prefetched: HistoryPage | None) -> HistoryPage:
        """The latest JOIN_HISTORY messages, from the longest of what is in
        memory, the page the joining connection read, and what the load read."""
        assert self._recent is not None
        found = self._recent.latest(JOIN_HISTORY)
        for base in (prefetched.messages if prefetched else None, self._loaded_now):
            if base and len(found) < JOIN_HISTORY:
                tail = self._kept_after(base[-1].id)
                if tail is not None and len(base) + len(tail) > len(found):
                    found = (base + tail)[-JOIN_HISTORY:]
        return self._page(found)

    def _page(self, found: list[ChatMessage]) -> HistoryPage:
        """The newest of `found` within HISTORY_PAGE_BYTES; ids are contiguous
        from 1, so older messages exist when the first one's id is above 1."""
        kept = newest_within(found, HISTORY_PAGE_BYTES)
        return HistoryPage(kept, more=kept[0].id > 1 if kept else self._last_id > 0)

    def join_refusal(self, user: str) -> str | None:
        """Why `user` may not join, when this server knows already (the
        room's settings read, none changed elsewhere since); else None, and
        the room's task decides."""
        rules = self._settings.rules
        if not self.settings_read or self._settings_changed or may_join(rules, user):
            return None
        return why_not_join(rules, user)

    async def _join(self, request: JoinRequest) -> None:
        subscriber, ref, since, prefetched = (
            request.subscriber,
            request.ref,
            request.since,
            request.prefetched,
        )
        if not await self._load(subscriber.user):
            if subscriber not in self._subscribers:
                subscriber.not_in(self.name)
            self._send_error(subscriber, protocol.unavailable_error(ref))
            return
        # Decided before anything is read for it, and never waiting on the
        # store: refusals cost the room's members nothing.
        if not may_join(self._settings.rules, subscriber.user):
            if subscriber not in self._subscribers:
                subscriber.not_in(self.name)
            why = why_not_join(self._settings.rules, subscriber.user)
            self._send_error(subscriber, ProtocolError(ErrorCode.FORBIDDEN, why, ref))
            # Its join remembered it (lost if the write queue is full: the room
            # then stays listed among the user's until they leave it).
            self._store.write_soon(rooms_db.forget_room, subscriber.user, self.name)
            if self._users is not None:
                self._users.room_forgotten(self.name, subscriber.user)
            return
        self._empty_since = None
        seen = max(
            since or 0, prefetched.messages[-1].id if prefetched and prefetched.messages else 0
        )
        if seen > self._last_id:  # it saw (or read) more than this room has sent
            await self._fill_gap_before(seen + 1)
        history, truncated = self._history_since(since, prefetched)
        user = subscriber.user
        if subscriber not in self._subscribers:
            if not self._subscribers:  # what the first client here is told
                self._announced = {member.user for member in self.members()}
            self._subscribers[subscriber] = subscriber.deliver
            # Its history already holds what was broadcast before this point.
            self._outbox.start_here(subscriber)
            if user not in self._members:
                joined_at = self._clock_ms()
                self._members[user] = _Membership(joined_at)
                if self._link is not None:
                    self._link.member_changed(self.name, user, joined_at)
            self._members[user].connections += 1
        joined = protocol.encode_joined(
            self.name,
            self.members(),
            history,
            ref,
            truncated,
            self._info(),
            request.read,
            *self._changes_up_to(request),
        )
        self._outbox.send_to(subscriber, text_frame(joined))
        self._announce(user)

    def _changes_up_to(self, request: JoinRequest) -> tuple[list[ChatMessage] | None, bool]:
        """A join's `changes`: those read for it, then those fanned out here
        since, each message once, as it is now (None without `since`); and
        whether some may be missing (a bound was reached)."""
        since, read = request.since, request.changes or []
        if since is None:
            return None, False
        latest: dict[int, ChatMessage] = {}
        for message in [*read, *self._recent_changes.values()]:
            if message.id <= since:
                latest.pop(message.id, None)  # (moved to its latest place)
                latest[message.id] = message
        changes = newest_within(list(latest.values()), CHANGES_BYTES)
        cut = (
            len(read) >= MAX_CHANGES
            or len(changes) < len(latest)
            or self._changes_dropped_at > request.changes_counted
        )
        return changes, cut

    def _relay_typing(self, user: str) -> bool:
        """Tell the other members that `user` is typing, unless they were
        told less than TYPING_INTERVAL ago (the rest are dropped)."""
        now = trio.current_time()
        if now < self._typing.get(user, -math.inf) + TYPING_INTERVAL:
            return False
        self._typing[user] = now
        frame = text_frame(protocol.encode_typing(self.name, user))
        for subscriber in self._subscribers:
            if subscriber.user != user:
                self._outbox.send_to(subscriber, frame)
        return True

    def take_typing(self, user: str) -> None:
        """Another server relayed that `user` is typing here."""
        if len(self._remote_typing) < MAX_REMOTE_WAITING:
            self._remote_typing.append(user)
            self._wake()

    def _announce(self, user: str) -> None:
        """Tell the members when `user` became or stopped being a member on
        any server (a user on two servers is one member)."""
        member = self._is_member(user)
        if member == (user in self._announced):
            return
        if member:
            self._announced.add(user)
        else:
            self._announced.discard(user)
            self._typing.pop(user, None)
        event = protocol.encode_presence(self.name, "join" if member else "leave", user)
        self._outbox.broadcast(text_frame(event))

    def _leave(self, subscriber: Subscriber, ref: Ref, reply: bool, as_sent: str | None) -> None:
        if subscriber not in self._subscribers:  # its join was refused, or it left already
            if reply:
                error = protocol.not_member_error(as_sent or self.name, ref)
                self._send_error(subscriber, error)
            return
        # A connection that is gone (reply=False) is owed nothing more.
        owed = self._outbox.take(subscriber) if reply else b""
        self._remove(subscriber)
        if reply:
            subscriber.deliver(owed + text_frame(protocol.encode_left(self.name, ref)))

    def _remove(self, subscriber: Subscriber) -> None:
        if self._subscribers.pop(subscriber, None) is None:
            return
        subscriber.not_in(self.name)
        self._outbox.forget(subscriber)
        user = subscriber.user
        membership = self._members[user]
        membership.connections -= 1
        if membership.connections == 0:
            del self._members[user]
            self._store.write_soon(markers_db.mark_seen, user, self.name, self._last_id)
            if self._link is not None:
                self._link.member_changed(self.name, user, None)
            self._announce(user)

    def _send_to(self, subscriber: Subscriber, text: str) -> None:
        """A reply in its place in the member's stream (at once to a non-member)."""
        if subscriber in self._subscribers:
            self._outbox.send_to(subscriber, text_frame(text))
        else:
            subscriber.deliver(text_frame(text))

    def _send_error(self, subscriber: Subscriber, error: protocol.ProtocolError) -> None:
        self._counters.error_codes[error.code] += 1
        self._send_to(subscriber, protocol.encode_error(error))

    def _not_member(self, ref: Ref) -> protocol.ProtocolError:
        return protocol.not_member_error(self.name, ref)

    def _flush(self) -> None:
        """Send the batch so far; members that refuse it are removed (and
        the others then see them leave)."""
        while self._outbox:
            for subscriber in self._outbox.deliver(self._subscribers):
                self._remove(subscriber)
