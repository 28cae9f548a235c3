"""One WebSocket client: its nursery, reader, keepalive and the way it closes.

The reader has the client authenticated first (`Authentication`, its hello),
then parses each text frame (`protocol.parse_request`), holds it to the rate
limits and has the `RequestHandler` act on it (requests_handler.py, and
joining.py for joins and leaves); replies and room traffic leave through the
transport's non-blocking `offer`, so nothing here ever waits on the client's
socket. Whoever decides the connection must end calls `request_close(code)`;
`run` then closes the WebSocket with that code, leaves every room and returns.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from chatroom import protocol
from chatroom.attachments.service import Attachments
from chatroom.auth import TokenGate
from chatroom.authentication import Authentication
from chatroom.cluster.events import Event
from chatroom.commands.service import Commands
from chatroom.config import Settings
from chatroom.directory import Directory
from chatroom.domain import ChatMessage, read_cost
from chatroom.hooks.service import Hooks
from chatroom.metrics import Counters
from chatroom.net.transport import SocketTransport
from chatroom.net.wsframe import close_frame, ping_frame, text_frame
from chatroom.protocol import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNSUPPORTED_DATA,
    ProtocolError,
    Ref,
)
from chatroom.ratelimit import BucketsByKey, TokenBucket
from chatroom.requests_handler import RequestHandler
from chatroom.rooms.actor import Room
from chatroom.rooms.inbox import RoomClosed
from chatroom.rooms.registry import RoomRegistry
from chatroom.rooms.requests import LeaveRequest
from chatroom.store import Store

log = logging.getLogger(__name__)

LEAVE_TIMEOUT = 5.0


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
    owner: str | None = None  # a bot's owner: this is a bot's connection
    learn_bot: Callable[[str, str], None] = lambda bot, owner: None
    commands: Commands | None = None  # (None: no commands, as in some tests)
    hooks: Hooks | None = None  # (None: no webhooks, as in some tests)
    attachments: Attachments | None = None  # (None: no files, as in some tests)
    directory: Directory | None = None  # (None: no user directory, as in some tests)
    # Reactions each user may send, shared by their connections.
    reactions: BucketsByKey | None = None
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
    _authentication: Authentication = attrs.field(init=False)
    _requests: RequestHandler = attrs.field(init=False)

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
        self._authentication = Authentication(
            connection=self,
            store=self.store,
            tokens=self.tokens,
            settings=settings,
            admit=self.admit,
            counters=self.counters,
            learn_bot=self.learn_bot,
        )
        self._requests = RequestHandler(
            connection=self,
            registry=self.registry,
            store=self.store,
            settings=settings,
            publish=self.publish,
            storage=self.storage,
            invitations=self.invitations,
            commands=self.commands,
            hooks=self.hooks,
            attachments=self.attachments,
            directory=self.directory,
            reactions=self.reactions,
        )

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
            if self.commands is not None:
                self.commands.closed(self)
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
                await self._authentication.authenticate(header_token, ref=None)
            else:
                await self._authentication.await_hello()
            while self.authenticated_user is not None:
                message = await self.next_text()
                if message is None:
                    return
                # Every frame costs a token, a malformed one too.
                frame_wait = self._frames.take(trio.current_time())
                try:
                    request = protocol.parse_request(message)
                    if self._within_rate(request, frame_wait):
                        await self._requests.handle(request)
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
        if not wait and isinstance(request, protocol.History | protocol.Join | protocol.Search):
            # Reads cost by their size, charged once known (see charge_history).
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
        self.strike("rate limits exceeded again and again")

    def strike(self, reason: str) -> None:
        """Count a refused frame against the abuse limit; past it, close 1008."""
        if self._strikes.take(trio.current_time()):
            self.request_close(CLOSE_POLICY, reason)

    async def next_text(self) -> str | None:
        """The next text frame; None, closing 1003, for a binary one."""
        message = await self.ws.get_message()
        if isinstance(message, bytes):
            self.request_close(CLOSE_UNSUPPORTED_DATA, "binary frames are not supported")
            return None
        return message

    def marker_moved(self, room: str, marker: int) -> bool:
        """The user read `room` up to `marker` (here or on another connection
        of theirs); False if that moves nothing."""
        key = room.lower()
        if marker <= self.read_markers.get(key, 0):
            return False
        self.read_markers[key] = marker
        return True

    def charge_history(self, messages: list[ChatMessage]) -> None:
        """History read for this client costs its size (characters, near
        enough) against its budget; past it, reads get `rate_limited`."""
        self._history_bytes.spend(trio.current_time(), read_cost(messages))
