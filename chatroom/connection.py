"""One WebSocket client: its nursery, reader, keepalive and the way it closes.

The reader parses each text frame (`protocol.parse_request`) and acts on it;
replies and room traffic leave through the transport's non-blocking `offer`,
so nothing here ever waits on the client's socket. Whoever decides the
connection must end calls `request_close(code)`; `run` then closes the
WebSocket with that code, leaves every room and returns.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from chatroom import __version__, protocol
from chatroom.auth import TokenGate, TokenRefused
from chatroom.cluster.events import Event, ForgottenEvent, ReadEvent, SettingsEvent
from chatroom.config import Settings
from chatroom.domain import (
    ChatMessage,
    ErrorCode,
    UserRoom,
    direct_room_name,
    direct_room_users,
    read_cost,
)
from chatroom.domain.rules import BANNED, NOT_INVITED, NOT_YOUR_DIRECT_ROOM, Action
from chatroom.metrics import Counters
from chatroom.net.transport import SocketTransport
from chatroom.net.wsframe import close_frame, ping_frame, text_frame
from chatroom.protocol import ProtocolError, Ref
from chatroom.ratelimit import BucketsByKey, TokenBucket
from chatroom.rooms.actor import Room
from chatroom.rooms.inbox import RoomClosed
from chatroom.rooms.registry import RoomRegistry
from chatroom.rooms.requests import (
    ChangeRequest,
    JoinRequest,
    LeaveRequest,
    MembersRequest,
    ModerateRequest,
    PublishRequest,
    SettingsRequest,
    TypingRequest,
)
from chatroom.rooms.timeline import JOIN_HISTORY, MAX_CHANGES, SINCE_LIMIT
from chatroom.store import Store, StoreUnavailable
from chatroom.store import markers as markers_db
from chatroom.store import messages as messages_db
from chatroom.store import rooms as rooms_db
from chatroom.store import users as users_db

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_POLICY = 1008
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_UNAUTHORIZED = 4401

LEAVE_TIMEOUT = 5.0

T = TypeVar("T")


@attrs.define(eq=False)
class Connection:
    ws: WebSocketConnection
    transport: SocketTransport
    registry: RoomRegistry
    store: Store
    # Decides on the token of `hello` (or of the upgrade request).
    tokens: TokenGate
    settings: Settings
    # Counts the user's connections; False when the user has too many.
    admit: Callable[[str], bool] = lambda _user: True
    counters: Counters = attrs.field(factory=Counters)
    # Bytes of message text each user may store, shared by their connections.
    storage: BucketsByKey | None = None
    # What this connection tells the user's other sessions and the rooms,
    # here and on other servers: a room left for good, a read marker moved,
    # an invitation declined (see cluster/router.py).
    publish: Callable[[Event], None] = lambda event: None
    session: str = attrs.field(factory=lambda: secrets.token_urlsafe(12))
    authenticated_user: str | None = None
    token_id: str | None = None  # the `jti` of the token it authenticated with
    token_issued: int | None = None  # and its `iat`
    # Invitations each user may send, shared by their connections.
    invitations: BucketsByKey | None = None
    rooms: dict[str, Room] = attrs.field(factory=dict)  # joined here, by key
    # Keys of the user's rooms, which the store remembers until a `leave`.
    saved_rooms: set[str] = attrs.field(factory=set)
    # Room key -> how far the user has read there (from any of their connections).
    read_markers: dict[str, int] = attrs.field(factory=dict)
    close_code: int | None = None
    close_reason: str = ""
    _close_requested: trio.Event = attrs.field(factory=trio.Event)

    _frames: TokenBucket = attrs.field(init=False)
    _sends: TokenBucket = attrs.field(init=False)
    _history_bytes: TokenBucket = attrs.field(init=False)
    _strikes: TokenBucket = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.transport.on_overflow = self._on_outbound_overflow
        self.transport.final_frame = self._protocol_error_close
        now = trio.current_time()
        settings = self.settings
        self._frames = TokenBucket(settings.frame_burst, settings.frame_rate, stamp=now)
        self._sends = TokenBucket(settings.send_burst, settings.send_rate, stamp=now)
        history_rate = settings.history_kib_per_second * 1024
        self._history_bytes = TokenBucket(4 * history_rate, history_rate, stamp=now)
        self._strikes = TokenBucket(settings.abuse_strikes, settings.abuse_forgiveness, stamp=now)

    @property
    def user(self) -> str:
        assert self.authenticated_user is not None
        return self.authenticated_user

    def deliver(self, data: bytes) -> bool:
        """Queue whole frames for the client; never blocks."""
        return self.transport.offer(data)

    def not_in(self, room: str) -> None:
        """A room refused or dropped us: `send`, `members` and `history` there
        are `not_member` again, and it no longer counts toward the cap."""
        self.rooms.pop(room.lower(), None)

    def reply(self, text: str) -> None:
        self.transport.offer(text_frame(text))

    def reply_error(self, error: ProtocolError) -> None:
        self.counters.error_codes[error.code] += 1
        self.reply(protocol.encode_error(error))

    def request_close(self, code: int | None, reason: str = "") -> None:
        """End the connection; `code` None means without a close frame of ours."""
        if self._close_requested.is_set():
            return
        self.close_code, self.close_reason = code, reason
        # Nothing may follow the close frame; the rooms drop us at once.
        self.transport.refuse_offers()
        self._close_requested.set()

    def log_fields(self, **more: object) -> dict[str, object]:
        """What a log line about this connection says of it (see logs.py)."""
        return {
            "session": self.session,
            "user": self.authenticated_user,
            "client": self.transport.client,
            **more,
        }

    def _protocol_error_close(self) -> bytes | None:
        """wsproto reports a bad frame (invalid UTF-8: 1007, protocol: 1002)
        as a close, and trio-websocket then closes the socket without a
        close frame; send the one RFC 6455 asks for."""
        reason = self.ws.closed
        if reason is not None and reason.code in (1002, 1007):
            return close_frame(reason.code, "invalid frame")
        return None

    def _on_outbound_overflow(self) -> None:
        log.info(
            "closing %s (%s): outbound queue full",
            self.session,
            self.authenticated_user,
            extra=self.log_fields(close_code=CLOSE_TRY_AGAIN_LATER),
        )
        self.counters.outbound_overflows += 1
        self.request_close(CLOSE_TRY_AGAIN_LATER, "outbound queue overflow; reconnect with since")

    async def run(self, header_token: str | None) -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read_frames, header_token)
                await self._keep_alive_until_closing()
                if self.close_code is not None:
                    with trio.move_on_after(self.settings.close_timeout):
                        await self.ws.aclose(self.close_code, self.close_reason)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + LEAVE_TIMEOUT):
                await self._leave_all()

    async def _leave_all(self) -> None:
        rooms, self.rooms = self.rooms, {}
        for room in rooms.values():
            try:
                await room.submit(LeaveRequest(self, reply=False))
            except RoomClosed:
                pass

    async def _keep_alive_until_closing(self) -> None:
        """Wait for request_close(), pinging a quiet peer and dropping a dead one.

        Any bytes from the peer show it is alive: a ping goes out only after
        `ping_interval` of silence, and `ping_timeout` more of it drops the
        connection (no close frame: nobody is listening). Done here rather
        than in a task of its own, so an idle connection costs one task less.
        """
        interval, timeout = self.settings.ping_interval, self.settings.ping_timeout
        while not self._close_requested.is_set():
            quiet = trio.current_time() - self.transport.last_received
            if quiet >= interval + timeout:
                log.info(
                    "dropping %s: silent for %.0f s", self.session, quiet, extra=self.log_fields()
                )
                self.request_close(None)
                return
            if quiet >= interval:
                self.transport.offer(ping_frame(self.session.encode()[:8]))
                wait = interval + timeout - quiet
            else:
                wait = interval - quiet
            with trio.move_on_after(wait):
                await self._close_requested.wait()

    async def _read_frames(self, header_token: str | None) -> None:
        try:
            if header_token is not None:
                await self._authenticate(header_token, ref=None)
            else:
                await self._await_hello()
            while self.authenticated_user is not None:
                message = await self._next_text()
                if message is None:
                    return
                # Every frame costs a token, a malformed one too.
                frame_wait = self._frames.take(trio.current_time())
                try:
                    request = protocol.parse_request(message)
                    if self._within_rate(request, frame_wait):
                        await self._dispatch(request)
                except ProtocolError as error:
                    if frame_wait:
                        self._refuse_for_rate(frame_wait, error.ref)
                    else:
                        self.reply_error(error)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception(
                "session %s (%s) failed",
                self.session,
                self.authenticated_user,
                extra=self.log_fields(close_code=CLOSE_INTERNAL_ERROR),
            )
            self.request_close(CLOSE_INTERNAL_ERROR, "internal error")
        finally:
            self.request_close(None)

    def _within_rate(self, request: protocol.Request, frame_wait: float) -> bool:
        """False for a frame past the rate limits (it gets `rate_limited`)."""
        wait = frame_wait
        if not wait and isinstance(request, protocol.Send | protocol.Edit | protocol.Delete):
            wait = self._sends.take(trio.current_time())
        if not wait and isinstance(request, protocol.History | protocol.Join):
            # Reads cost by their size, charged once known (see _read_history).
            wait = self._history_bytes.owed(trio.current_time())
        if not wait:
            return True
        self._refuse_for_rate(wait, request.ref)
        return False

    def _refuse_for_rate(self, wait: float, ref: Ref) -> None:
        """`rate_limited` for a refused frame; sustained abuse closes with 1008."""
        self.counters.rate_limited_frames += 1
        error = protocol.rate_limited_error(f"too many frames; retry in {wait:.1f} s", wait, ref)
        self.reply_error(error)
        self._strike("rate limits exceeded again and again")

    def _strike(self, reason: str) -> None:
        """Count a refused frame against the abuse limit; past it, close 1008."""
        if self._strikes.take(trio.current_time()):
            self.request_close(CLOSE_POLICY, reason)

    async def _next_text(self) -> str | None:
        """The next text frame; None, closing 1003, for a binary one."""
        message = await self.ws.get_message()
        if isinstance(message, bytes):
            self.request_close(CLOSE_UNSUPPORTED_DATA, "binary frames are not supported")
            return None
        return message

    async def _await_hello(self) -> None:
        """Authenticate with the first frame, which must be a `hello` arriving
        within the hello timeout (looking the user up may take longer)."""
        with trio.move_on_after(self.settings.hello_timeout) as waiting:
            message = await self._next_text()
        if waiting.cancelled_caught:
            self._refuse(f"no hello within {self.settings.hello_timeout:g} s", None)
            return
        if message is None:  # a binary frame: closing already
            return
        try:
            request = protocol.parse_request(message)
        except ProtocolError as error:
            self._refuse(error.message, error.ref)
            return
        if isinstance(request, protocol.Hello):
            await self._authenticate(request.token, request.ref)
        else:
            self._refuse("the first frame must be hello", request.ref)

    async def _authenticate(self, token: str, ref: Ref) -> None:
        try:
            claims = self.tokens.check(token)
        except TokenRefused as exc:
            self._refuse(exc.reason, ref)
            return
        # Known before the look-up: a logout meanwhile finds this session too.
        self.token_id, self.token_issued = claims.token_id, claims.issued
        try:
            unwritten = self.store.read_markers.unwritten(claims.user)
            start = await self.store.read(
                users_db.start_session, claims.user, claims.token_id, unwritten
            )
        except StoreUnavailable:
            # Without its rooms, a welcome would tell the client it has none.
            self.reply_error(protocol.unavailable_error(ref))
            self.request_close(CLOSE_TRY_AGAIN_LATER, "the database is unavailable; retry")
            return
        try:
            self.tokens.check_revocation(start.revoked)  # read as the session started
            # Again: a ban or logout read meanwhile did not find this session yet.
            self.tokens.check_refusal(claims)
        except TokenRefused as exc:
            self._refuse(exc.reason, ref)
            return
        if not self.admit(start.user):
            error = ProtocolError(
                ErrorCode.FORBIDDEN, f"{start.user} has too many connections open", ref
            )
            self.reply_error(error)
            self.request_close(CLOSE_POLICY, "too many connections for this user")
            return
        self.authenticated_user = start.user
        if not start.known:  # once per user: `direct` finds them from now on
            try:
                await self.store.write(users_db.remember_user, start.user)
            except StoreUnavailable:
                pass  # recorded at their next hello
        self.saved_rooms = {r.name.lower() for r in start.rooms}
        self.read_markers = {r.name.lower(): r.read for r in start.rooms if r.read is not None}
        rooms = [UserRoom(r.name, r.unread) for r in start.rooms]
        invitations = [(i.room, i.by) for i in start.invitations]
        welcome = protocol.encode_welcome(
            start.user, self.session, __version__, rooms, ref, invitations
        )
        self.reply(welcome)
        self.counters.hello_seconds.observe(trio.current_time() - self.transport.opened)

    def _refuse(self, message: str, ref: Ref) -> None:
        self.reply_error(ProtocolError(ErrorCode.UNAUTHORIZED, message, ref))
        self.request_close(CLOSE_UNAUTHORIZED, "unauthorized")

    def _joined_room(self, name: str, ref: Ref) -> Room:
        """The room joined here called `name`: requests go to its task, which
        refuses them if the join it has not handled yet is refused."""
        room = self.rooms.get(name.lower())
        if room is None:
            raise protocol.not_member_error(name, ref)
        return room

    def _member_of(self, name: str, ref: Ref) -> Room:
        """For what is answered here, not by the room's task (history, read
        markers): the room must have let this connection in already."""
        room = self._joined_room(name, ref)
        if not room.has_subscriber(self):
            raise protocol.not_member_error(name, ref)
        return room

    async def _dispatch(self, request: protocol.Request) -> None:
        match request:
            case protocol.Send(room, text, ref, cid):
                joined = self._joined_room(room, ref)
                self._charge_storage(text, ref)
                sent = PublishRequest(self, text, ref, cid, received=trio.current_time())
                await self._submit(joined, sent)
            case protocol.Edit(room, message_id, text, ref):
                joined = self._joined_room(room, ref)
                self._charge_storage(text, ref)
                await self._submit(joined, ChangeRequest(self, message_id, text, ref))
            case protocol.Delete(room, message_id, ref):
                joined = self._joined_room(room, ref)
                await self._submit(joined, ChangeRequest(self, message_id, None, ref))
            case protocol.Topic(room, topic, ref):
                joined = self._joined_room(room, ref)
                await self._submit(joined, SettingsRequest(self, topic=topic, ref=ref))
            case protocol.SetRole(room, user, role, ref):
                joined = self._joined_room(room, ref)
                if role == "moderator":  # (a name nobody has yet would pass the role on)
                    user = await self._known(user, ref)
                change = SettingsRequest(self, user=user, moderator=role == "moderator", ref=ref)
                await self._submit(joined, change)
            case protocol.Moderate(action, room, user, reason, ref):
                joined = self._joined_room(room, ref)
                if action == "invite":
                    user = await self._invitable(user, ref)
                await self._submit(joined, ModerateRequest(self, Action(action), user, reason, ref))
            case protocol.Decline(room, ref):
                if not await self._read(self.store.write(rooms_db.decline, room, self.user), ref):
                    raise ProtocolError(ErrorCode.NOT_FOUND, f"no invitation to {room}", ref)
                self.publish(SettingsEvent(room))  # (its rules changed)
                self.reply(protocol.encode_done(ref))
            case protocol.Join(room, since, ref):
                await self._join(room, since, ref)
            case protocol.Direct(user, since, ref):
                if user.lower() == self.user.lower():
                    raise ProtocolError(ErrorCode.BAD_REQUEST, "direct needs another user", ref)
                await self._join(direct_room_name(self.user, user), since, ref)
            case protocol.Create(room, private, topic, ref):
                await self._create(room, private, topic, ref)
            case protocol.Leave(room, ref):
                await self._leave(room, ref)
            case protocol.Typing(room, ref):
                await self._submit(self._joined_room(room, ref), TypingRequest(self, ref))
            case protocol.Read(room, message_id, ref):
                self._read_up_to(self._member_of(room, ref), message_id, ref)
            case protocol.Members(room, ref):
                await self._submit(self._joined_room(room, ref), MembersRequest(self, ref))
            case protocol.Rooms(ref, prefix, after, limit):
                # The user's part is asked of the store, which every server shares.
                unwritten = self.store.read_markers.unwritten(self.user)
                view = await self._read(
                    self.store.read(markers_db.user_view, self.user, unwritten), ref
                )
                listing = self.registry.page(prefix, after, limit, view)
                self.reply(protocol.encode_rooms(listing, ref))
            case protocol.History(room, before, limit, ref):
                name = self._member_of(room, ref).name
                page = await self._read(
                    self.store.read(messages_db.history_page, name, before, limit), ref
                )
                self._charge_history(page.messages)
                self.reply(protocol.encode_history(name, page, ref))
            case protocol.Ping(ref):
                self.reply(protocol.encode_pong(ref))
            case protocol.Hello(_token, ref):
                raise ProtocolError(ErrorCode.BAD_REQUEST, "already authenticated", ref)

    async def _known(self, user: str, ref: Ref) -> str:
        """The spelling of `user`, known to the server (an account or a past
        hello); not_found otherwise: whoever registered the name first would
        get what it was given."""
        known = await self._read(self.store.read(users_db.known_user, user), ref)
        if known is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no user named {user} is known here", ref)
        return known

    async def _invitable(self, user: str, ref: Ref) -> str:
        """`user`, to be invited by this user: known, and within this user's
        invitation rate (a flood of them would reach the invitee)."""
        wait = self.invitations.take(self.user.lower()) if self.invitations else 0.0
        if wait:
            per_hour = self.settings.invitations_per_hour
            raise protocol.rate_limited_error(
                f"at most {per_hour} invitations an hour; wait", wait, ref
            )
        return await self._known(user, ref)

    async def _create(self, name: str, private: bool, topic: str, ref: Ref) -> None:
        """Make a room owned by the user, and join it."""
        exists = ProtocolError(ErrorCode.CONFLICT, f"a room named {name} exists; join it", ref)
        if self.registry.stored_name(name) is not None:
            raise exists
        self._check_room_caps(name, ref)
        counted = [key for key in self.saved_rooms if not key.startswith("@")]  # (direct: not)
        if len(counted) >= self.settings.max_rooms_per_user:
            raise self._too_many_rooms(ref)
        made = self.store.write(rooms_db.make_room, name, self.user, private=private, topic=topic)
        if not await self._read(made, ref):
            raise exists  # made meanwhile, here or on another server
        self.registry.created(name, private=private)
        await self._join(name, None, ref)

    async def _open_direct(self, users: tuple[str, str], ref: Ref) -> str:
        """Make the direct room of `users` (this user and a known one), or
        find it made; its name as first spelled."""
        other = users[1] if users[0].lower() == self.user.lower() else users[0]
        known = await self._read(self.store.read(users_db.known_user, other), ref)
        if known is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no user {other} is known here", ref)
        name = direct_room_name(self.user, known)
        made = self.store.write(rooms_db.make_direct_room, name, [self.user, known])
        spelled = await self._read(made, ref)
        self.registry.created(spelled, private=True)
        self.saved_rooms.add(spelled.lower())  # (of both users, outside the cap)
        return spelled

    def _check_room_caps(self, name: str, ref: Ref) -> None:
        """The connection's cap on rooms, and the user's on new rooms."""
        key = name.lower()
        if key not in self.rooms and len(self.rooms) >= self.settings.max_rooms_per_connection:
            raise ProtocolError(
                ErrorCode.FORBIDDEN,
                f"a connection may join {self.settings.max_rooms_per_connection} rooms at most",
                ref,
            )
        if wait := self.registry.creation_wait(name, self.user):
            raise protocol.rate_limited_error(
                f"at most {self.settings.room_creations_per_hour} new rooms an hour; "
                "join an existing room, or wait",
                wait,
                ref,
            )

    def _too_many_rooms(self, ref: Ref) -> ProtocolError:
        cap = self.settings.max_rooms_per_user
        return ProtocolError(
            ErrorCode.FORBIDDEN, f"a user may have {cap} rooms at most; leave one first", ref
        )

    async def _join(self, name: str, since: int | None, ref: Ref) -> None:
        key = name.lower()
        users = direct_room_users(name)
        if users is not None and self.user.lower() not in (users[0].lower(), users[1].lower()):
            # Said alike whether the room exists or not: nobody learns who talks.
            raise self._join_refused(NOT_YOUR_DIRECT_ROOM, ref)
        loaded = self.registry.get(name)
        if loaded is not None and (why := loaded.join_refusal(self.user)):
            raise self._join_refused(why, ref)  # before any database work
        self._check_room_caps(name, ref)
        if users is not None and self.registry.stored_name(name) is None:
            name = await self._open_direct(users, ref)
        if key not in self.saved_rooms:
            # Counted in the database: the user's other connections add rooms too.
            cap = self.settings.max_rooms_per_user
            remember = self.store.write(rooms_db.remember_room, self.user, name, cap)
            remembered = await self._read(remember, ref)
            if remembered == "full":
                raise self._too_many_rooms(ref)
            if remembered != "remembered":  # the stored rules refuse it, as the room would
                raise self._join_refused(BANNED if remembered == "banned" else NOT_INVITED, ref)
            self.saved_rooms.add(key)
        # A room that empties between open() and submit() is closed; the
        # registry makes a fresh one on the next open().
        while True:
            room = self.registry.open(name)
            prefetched, changes, counted = None, None, room.changes_made
            # Read here, not in the room's task, which everyone there waits on.
            if room.covers(since) is False:
                count = JOIN_HISTORY if since is None else SINCE_LIMIT
                read = self.store.read(
                    messages_db.history_page, room.name, None, count, after=since or 0
                )
                prefetched = await self._read(read, ref)
                self._charge_history(prefetched.messages)
            if since is not None and room.join_refusal(self.user) is None:
                changes = await self._read(
                    self.store.read(messages_db.changes_since, room.name, since, MAX_CHANGES), ref
                )
                self._charge_history(changes)
            # In before the room decides: its refusal (not_in) takes it out again.
            earlier, self.rooms[key] = self.rooms.get(key), room
            try:
                marker = self.read_markers.get(key)
                await room.submit(
                    JoinRequest(self, ref, since, prefetched, marker, changes, counted)
                )
            except RoomClosed:
                if earlier is None:
                    self.rooms.pop(key, None)
                continue
            return

    def _join_refused(self, why: str, ref: Ref) -> ProtocolError:
        """`forbidden` for a join the room's rules refuse; repeated, it is abuse."""
        self._strike("refused again and again")
        return ProtocolError(ErrorCode.FORBIDDEN, why, ref)

    def _read_up_to(self, room: Room, message_id: int, ref: Ref) -> None:
        """Move the user's read marker in `room` forward (never past its last
        message, never back); every connection of theirs is told."""
        marker = min(message_id, room.last_id)
        if self.marker_moved(room.name, marker):
            self.store.read_markers.mark(self.user, room.name, marker)
            self.publish(ReadEvent(room.name, self.user, marker))
        self.reply(protocol.encode_read(room.name, self.read_markers.get(room.key, 0), ref))

    def marker_moved(self, room: str, marker: int) -> bool:
        """The user read `room` up to `marker` (here or on another connection
        of theirs); False if that moves nothing."""
        key = room.lower()
        if marker <= self.read_markers.get(key, 0):
            return False
        self.read_markers[key] = marker
        return True

    async def _read(self, read: Awaitable[T], ref: Ref) -> T:
        """`read` (or write) in the store; `unavailable` when it cannot be reached."""
        try:
            return await read
        except StoreUnavailable:
            raise protocol.unavailable_error(ref) from None

    def _charge_history(self, messages: list[ChatMessage]) -> None:
        """History read for this client costs its size (characters, near
        enough) against its budget; past it, reads get `rate_limited`."""
        self._history_bytes.spend(trio.current_time(), read_cost(messages))

    def _charge_storage(self, text: str, ref: Ref) -> None:
        """Count `text` against the user's storage rate; rate_limited past it."""
        if self.storage is None:
            return
        wait = self.storage.take(self.user.lower(), len(text.encode()))
        if wait:
            kib = self.settings.storage_kib_per_hour
            raise protocol.rate_limited_error(
                f"at most {kib} KiB of messages an hour; wait", wait, ref
            )

    async def _leave(self, name: str, ref: Ref) -> None:
        """Leave the room here, and forget it among the user's rooms: a room
        not joined on this connection can be left too (a leave queued offline)."""
        key = name.lower()
        room = self.rooms.get(key)
        # Asked of the store: the user's other connections may have added it.
        self.store.read_markers.drop(self.user, name)
        if await self._read(self.store.write(rooms_db.forget_room, self.user, name), ref):
            self.publish(ForgottenEvent(name, self.user))
        elif room is None:
            raise protocol.not_member_error(name, ref)
        if room is None:
            self.reply(protocol.encode_left(self.registry.stored_name(name) or name, ref))
            return
        await self._submit(room, LeaveRequest(self, ref, as_sent=name))
        # Only now: if the submit is cancelled, _leave_all still leaves.
        self.rooms.pop(key, None)

    async def _submit(
        self,
        room: Room,
        request: PublishRequest
        | LeaveRequest
        | MembersRequest
        | ChangeRequest
        | SettingsRequest
        | ModerateRequest
        | TypingRequest,
    ) -> None:
        try:
            await room.submit(request)
        except RoomClosed:
            self.rooms.pop(room.key, None)
            raise protocol.not_member_error(room.name, request.ref) from None
