"""serve(): the top of the task tree.

serve
├── the store's writer task                     (store/engine.py)
├── rooms nursery: one task per room            (rooms/registry.py)
│   └── with --broker: the Redis connection,    (broker/redis.py)
│       and each room's check for missed ids    (rooms/registry.py)
└── clients nursery
    ├── accept loop                             (net/listener.py)
    └── one task per socket: HTTP front         (net/http.py)
        └── after an upgrade: a Connection      (connection.py)
"""

from __future__ import annotations

import collections
import functools
import gc
import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

import trio
import trio_websocket

from chatroom import protocol
from chatroom.api import Api
from chatroom.auth import TOKEN_REVOKED, TokenGate, TokenSigner
from chatroom.auth.accounts import Accounts
from chatroom.auth.controls import UserControls
from chatroom.broker import RedisBroker
from chatroom.config import Settings
from chatroom.connection import CLOSE_GOING_AWAY, CLOSE_UNAUTHORIZED, Connection
from chatroom.domain import ChatMessage, direct_room_users
from chatroom.metrics import Counters
from chatroom.net.admission import Admission, Ticket
from chatroom.net.http import refusal_response, refuse_socket, serve_http, serve_websocket
from chatroom.net.listener import accept_loop, http_url, open_listener
from chatroom.net.proxy import is_trusted_peer
from chatroom.net.tls import TlsContext, TlsError
from chatroom.net.transport import SocketTransport
from chatroom.net.wsframe import text_frame
from chatroom.ratelimit import BucketsByKey
from chatroom.rooms import RoomRegistry
from chatroom.store import (
    Store,
    StoreUnavailable,
    UserControl,
    default_database_url,
    open_database,
)
from chatroom.store import tokens as tokens_db

log = logging.getLogger(__name__)

GC_YOUNG_THRESHOLD = 50_000  # allocations between young collections (Python: 700)
BROKER_DEPART_TIMEOUT = 1.0
INVITATION_BURST = 20  # invitations one user may send at once (then invitations_per_hour)


# Refused sockets answered politely at once (refuse_socket), in all and from
# one address; past these, a flood of them gets its 503 written at once and
# the socket closed, so that one address cannot take the others' share.
MAX_REFUSING = 256
MAX_REFUSING_PER_ADDRESS = 16


class ChatServer:
    """What every client connection shares; tracks live WebSocket sessions."""

    def __init__(
        self,
        settings: Settings,
        signer: TokenSigner,
        store: Store,
        registry: RoomRegistry,
        broker: RedisBroker | None = None,
        tls: TlsContext | None = None,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.tls = tls
        self.signer = signer
        self.store = store
        self.registry = registry
        self.counters = store.counters  # one set, counted by the store and the sessions
        self.controls = UserControls()
        # One decision on tokens, for hello and for HTTP bearer tokens.
        self.tokens = TokenGate(
            signer=signer, max_ttl=settings.max_token_ttl, refusal=self.controls.refusal
        )
        accounts = Accounts(
            store,
            signer,
            settings.token_ttl,
            registration_open=settings.registration_open,
            registrations_per_hour=settings.registrations_per_hour,
            banned=self.controls.banned,
        )
        self.api = Api(
            registry,
            self.tokens,
            store,
            accounts,
            self.gauges,
            self.counters,
            self.revoke_sessions,
            BucketsByKey(
                4 * settings.history_kib_per_second * 1024,
                settings.history_kib_per_second * 1024,
            ),
            health=self.health,
        )
        self.admission = Admission(
            max_per_address=settings.max_connections_per_address,
            max_per_user=settings.max_connections_per_user,
            max_unauthenticated=settings.max_unauthenticated,
            max_unauthenticated_per_address=settings.max_unauthenticated_per_address,
        )
        storage_per_hour = settings.storage_kib_per_hour * 1024
        self.storage = BucketsByKey(storage_per_hour, storage_per_hour / 3600)
        self.invitations = BucketsByKey(
            INVITATION_BURST, settings.invitations_per_hour / 3600, max_keys=10_000
        )
        self.sessions: set[Connection] = set()
        self._by_user: dict[str, set[Connection]] = {}  # user key -> their sessions here
        registry.users = self
        self.closing = False
        self._sessions_changed = trio.Event()
        self._refusing = 0  # sockets in refuse_socket now
        self._refusing_from: collections.Counter[str] = collections.Counter()  # by peer

    async def handle_socket(self, sock: socket.socket) -> None:
        transport = SocketTransport(sock, max_pending=self.settings.outbound_limit_bytes)
        from_proxy = is_trusted_peer(transport.peer, self.settings.trusted_proxies)
        ticket = self.admission.open_socket(transport.peer, per_address=not from_proxy)
        if isinstance(ticket, str) and (
            self._refusing >= MAX_REFUSING
            or self._refusing_from[transport.peer] >= MAX_REFUSING_PER_ADDRESS
        ):
            transport.offer(refusal_response(ticket))
            transport.close_now()
            return
        try:
            # The connection's nursery: its writer task, trio-websocket's reader.
            async with trio.open_nursery() as nursery:
                transport.writer_nursery = nursery
                if isinstance(ticket, str):
                    await self._refuse(transport, ticket)
                else:
                    await self._serve(nursery, transport, ticket)
                nursery.cancel_scope.cancel()
        except* Exception:
            # One client's failure must never reach the clients nursery, not
            # even beside a cancellation (the server stopping), which goes on.
            log.exception("connection failed", extra={"client": transport.client})
        finally:
            transport.close_now()
            if not isinstance(ticket, str):
                self.admission.close_socket(ticket)

    async def _refuse(self, transport: SocketTransport, reason: str) -> None:
        self._refusing += 1
        self._refusing_from[transport.peer] += 1
        try:
            await refuse_socket(transport, reason, self.settings.max_http_head_bytes)
        finally:
            self._refusing -= 1
            self._refusing_from[transport.peer] -= 1
            if not self._refusing_from[transport.peer]:
                del self._refusing_from[transport.peer]

    async def _serve(
        self, nursery: trio.Nursery, transport: SocketTransport, ticket: Ticket
    ) -> None:
        if self.tls is not None and not await self._tls_handshake(transport, ticket):
            return
        upgrade = await serve_http(transport, self.api, self.settings, self.admission, ticket)
        if upgrade is not None:
            run_session = functools.partial(self.run_session, ticket)
            await serve_websocket(nursery, transport, upgrade, self.settings, run_session)

    async def _tls_handshake(self, transport: SocketTransport, ticket: Ticket) -> bool:
        """False if the client does not complete one in time (plain HTTP,
        say); until it does, it may be evicted like a socket waiting for its
        first request."""
        assert self.tls is not None
        timeout = self.admission.idle_timeout(self.settings.http_timeout)
        with trio.move_on_after(timeout), self.admission.idle(ticket) as evictable:
            try:
                await transport.tls_handshake(self.tls.session())
            except (TlsError, trio.BrokenResourceError) as exc:
                log.debug("TLS handshake failed: %s", exc, extra={"client": transport.peer})
                return False
            return not (evictable.cancel_called or ticket.released)
        return False

    async def run_session(
        self,
        ticket: Ticket,
        transport: SocketTransport,
        ws: trio_websocket.WebSocketConnection,
        header_token: str | None,
    ) -> None:
        def admit(user: str) -> bool:
            if not self.admission.authenticate(ticket, user):
                return False
            self._by_user.setdefault(user.lower(), set()).add(connection)
            return True

        connection = Connection(
            ws,
            transport,
            self.registry,
            self.store,
            self.tokens,
            self.settings,
            admit,
            self.counters,
            self.storage,
            self.forget_saved_room,
            self.read_moved,
            invitations=self.invitations,
            invitation_declined=self.invitation_declined,
        )
        self.sessions.add(connection)
        self.counters.websocket_sessions += 1
        if self.closing:
            connection.request_close(CLOSE_GOING_AWAY, "server shutting down")
        try:
            await connection.run(header_token)
        finally:
            closed = connection.ws.closed  # (the peer's code, when it closed first)
            code = connection.close_code or (closed.code if closed is not None else None)
            self.counters.close_codes[str(code) if code else "none"] += 1
            log.debug(
                "session %s ended", connection.session, extra=connection.log_fields(close_code=code)
            )
            self.sessions.discard(connection)
            if connection.authenticated_user is not None:
                key = connection.authenticated_user.lower()
                self._by_user[key].discard(connection)
                if not self._by_user[key]:
                    del self._by_user[key]
            self._sessions_changed.set()

    def _connections_of(self, user: str) -> list[Connection]:
        return list(self._by_user.get(user.lower(), ()))

    def forget_saved_room(self, user: str, key: str) -> None:
        """`user` left the room `key`: none of their connections here keeps it
        among the user's rooms (a later join remembers it again)."""
        for connection in self._connections_of(user):
            connection.saved_rooms.discard(key)
            connection.read_markers.pop(key, None)

    def read_moved(self, room: str, user: str, marker: int, by: Connection) -> None:
        """`by` moved the user's read marker: their other connections hear of it."""
        self.remote_read(room, user, marker, but=by)
        if self.broker is not None:
            self.broker.read_moved(room, user, marker)

    # -- UserNotices: what rooms here tell a user's connections -------------------

    def invited(self, room: str, user: str, by: str) -> None:
        self.remote_invitation(room, user, by)
        if self.broker is not None:
            self.broker.invited(room, user, by)

    def direct_messages(self, room: str, messages: list[ChatMessage]) -> None:
        users = direct_room_users(room)
        if users is None:
            return
        key = room.lower()
        frames = b"".join(text_frame(protocol.encode_message(m)) for m in messages)
        for user in users:
            for connection in self._connections_of(user):
                if key not in connection.rooms:  # (members have them from the room)
                    connection.deliver(frames)

    def room_forgotten(self, room: str, user: str) -> None:
        # Other servers learn of kicks from the room's own `expelled` event.
        self.forget_saved_room(user, room.lower())

    def revoke_sessions(self, token_id: str) -> None:
        """The token was revoked here: its sessions end on every server."""
        self.token_revoked(token_id)
        if self.broker is not None:
            self.broker.token_revoked(token_id)

    def user_control_changed(self, control: UserControl) -> None:
        """A ban or logout read from the store: the sessions it refuses end."""
        for connection in self._connections_of(control.name):
            reason = self.controls.refusal(connection.user, connection.token_issued)
            if reason is not None:
                connection.request_close(CLOSE_UNAUTHORIZED, reason)

    # -- BrokerListener: what other servers did -----------------------------------

    def token_revoked(self, token_id: str) -> None:
        """The token was revoked: its sessions end as an invalid token would."""
        for connection in list(self.sessions):
            if connection.token_id == token_id:
                connection.request_close(CLOSE_UNAUTHORIZED, TOKEN_REVOKED)

    async def reconnected(self) -> None:
        """Revocations other servers published while this one was cut off
        were missed: ask the database about every live session's token."""
        by_token = {c.token_id: c for c in self.sessions if c.token_id is not None}
        try:
            revoked = await self.store.read(tokens_db.revoked_among, list(by_token))
        except Exception as exc:  # the gap check and later hellos still hold
            log.warning("could not check revoked tokens after reconnecting: %s", exc)
            return
        for token_id in revoked:
            self.token_revoked(token_id)

    def remote_messages(self, room: str, messages: list[ChatMessage]) -> None:
        self.direct_messages(room, messages)
        self.registry.remote_messages(room, messages)

    def remote_change(self, room: str, message: ChatMessage) -> None:
        room_here = self.registry.get(room)
        if room_here is not None:
            room_here.take_remote_change(message)

    def remote_settings_changed(self, room: str) -> None:
        room_here = self.registry.get(room)
        if room_here is not None:
            room_here.take_settings_changed()

    def invitation_declined(self, room: str) -> None:
        """A user declined an invitation to `room`: its rules changed, here and elsewhere."""
        self.remote_settings_changed(room)
        if self.broker is not None:
            self.broker.settings_changed(room)

    def remote_expelled(self, room: str, user: str, by: str, reason: str | None) -> None:
        self.forget_saved_room(user, room.lower())
        room_here = self.registry.get(room)
        if room_here is not None:
            room_here.take_expel(user, by, reason)

    def remote_invitation(self, room: str, user: str, by: str) -> None:
        # The room's rules here are stale from now on (its settings_changed
        # comes after): the invitee's join, at once, must not be refused here.
        self.remote_settings_changed(room)
        invitation = text_frame(protocol.encode_invitation(room, by))
        for connection in self._connections_of(user):
            connection.deliver(invitation)

    def remote_typing(self, room: str, user: str) -> None:
        room_here = self.registry.get(room)
        if room_here is not None:
            room_here.take_typing(user)

    def remote_read(
        self, room: str, user: str, message_id: int, but: Connection | None = None
    ) -> None:
        frame = text_frame(protocol.encode_read(room, message_id))
        for connection in self._connections_of(user):
            if connection is not but and connection.marker_moved(room, message_id):
                connection.deliver(frame)

    def presence_changed(self, names: Mapping[str, str], changed: Mapping[str, list[str]]) -> None:
        self.registry.presence_changed(names, changed)

    def health(self) -> dict[str, Any]:
        """For /healthz: what works, and what is degraded (still 200)."""
        answer: dict[str, Any] = {"status": "ok", "pid": os.getpid()}
        broker = self.broker
        if broker is None:
            return answer
        degraded = []
        if broker.state != "connected":
            degraded.append("broker")
        if broker.secret_mismatch:
            degraded.append("secret")
        answer.update(broker=broker.state, node=broker.node)
        if degraded:
            answer.update(status="degraded", degraded=degraded)
        return answer

    def gauges(self) -> dict[str, tuple[str, float]]:
        """Values for GET /metrics, read when asked."""
        counts = [count for count in self.registry.member_counts() if count]
        return {
            "websocket_connections": ("WebSocket sessions open", len(self.sessions)),
            "sockets": ("client sockets open", sum(self.admission.by_address.values())),
            "unauthenticated_sockets": (
                "sockets not yet authenticated",
                self.admission.unauthenticated,
            ),
            "rooms": ("rooms with members", len(counts)),
            "room_members": ("members summed over rooms", sum(counts)),
            "store_transactions": ("write transactions committed", self.store.transactions),
            "history_cache_bytes": (
                "bytes of recent messages kept in memory, all rooms",
                self.registry.cache_budget.total,
            ),
            **self._broker_gauges(),
        }

    def _broker_gauges(self) -> dict[str, tuple[str, float]]:
        broker = self.broker
        if broker is None:
            return {}
        return {
            "broker_connected": ("1 while the broker is reachable", broker.state == "connected"),
            "broker_events_dropped": (
                "events not published (queue full or broker down); rooms read them from "
                "the database",
                broker.dropped,
            ),
            "broker_nodes": ("other servers with members", len(broker.remote.nodes)),
        }

    async def close_sessions(self) -> None:
        """Close every WebSocket with 1001 and wait until they are gone."""
        self.closing = True
        for connection in list(self.sessions):
            connection.request_close(CLOSE_GOING_AWAY, "server shutting down")
        while self.sessions:
            self._sessions_changed = trio.Event()
            await self._sessions_changed.wait()


async def serve(
    settings: Settings,
    signer: TokenSigner,
    shutdown: trio.Event,
    *,
    listener: socket.socket | None = None,
    tls: TlsContext | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until `shutdown` is set, then close every client and return.

    Reports the bound port to `nursery.start()` once it accepts connections.
    Takes an already bound `listener`, or binds settings.host:settings.port.
    """
    if listener is None:
        listener = open_listener(settings.host, settings.port)
    port: int = listener.getsockname()[1]
    tune_garbage_collector()
    database_url = settings.database_url or default_database_url(settings.data_dir)
    counters = Counters()  # one set, counted by the store, the rooms and the sessions
    store = Store(
        open_database(database_url), group_commit=settings.group_commit, counters=counters
    )
    async with trio.open_nursery() as top:
        await top.start(store.run)
        log.info("database: %s", store.database.description)
        broker = None
        if settings.broker_url is not None:
            broker = RedisBroker(settings.broker_url, signer.secret)
        await _serve_clients(
            settings, signer, store, counters, broker, tls, listener, port, shutdown, task_status
        )
        # What the rooms queued last (where their members got to) is written too.
        with trio.move_on_after(settings.shutdown_grace):
            try:
                await store.flush()
            except StoreUnavailable:
                log.warning("stopping without the last unread positions: database unavailable")
        top.cancel_scope.cancel()
    log.info("stopped")


async def _serve_clients(
    settings: Settings,
    signer: TokenSigner,
    store: Store,
    counters: Counters,
    broker: RedisBroker | None,
    tls: TlsContext | None,
    listener: socket.socket,
    port: int,
    shutdown: trio.Event,
    task_status: trio.TaskStatus[int],
) -> None:
    async with trio.open_nursery() as rooms_nursery:
        registry = RoomRegistry(
            rooms_nursery,
            store,
            creations_per_hour=settings.room_creations_per_hour,
            cache_bytes=settings.history_cache_mib * 1024 * 1024,
            link=broker,
            linger=settings.room_linger,
            counters=counters,
        )
        await registry.load()
        server = ChatServer(settings, signer, store, registry, broker, tls)
        await rooms_nursery.start(server.controls.watch, store, server.user_control_changed)
        broker_scope = trio.CancelScope()
        if broker is not None:

            async def run_broker(task_status: trio.TaskStatus[None]) -> None:
                with broker_scope:
                    await broker.run(server, task_status=task_status)

            await rooms_nursery.start(run_broker)
            rooms_nursery.start_soon(registry.check_gaps)
        async with trio.open_nursery() as clients:
            accepting = trio.CancelScope()

            async def accept() -> None:
                with accepting:
                    try:
                        await accept_loop(listener, server.handle_socket, clients)
                    finally:
                        trio.lowlevel.notify_closing(listener)
                        listener.close()

            clients.start_soon(accept)
            url = http_url(settings.host, port, tls=tls is not None)
            log.info("listening on %s (WebSocket at /ws)", url)
            task_status.started(port)
            await shutdown.wait()
            log.info("shutting down: closing %d WebSocket sessions", len(server.sessions))
            accepting.cancel()
            with trio.move_on_after(settings.shutdown_grace):
                await server.close_sessions()
            clients.cancel_scope.cancel()
        if broker is not None:
            broker_scope.cancel()  # no heartbeat after it departs
            with trio.move_on_after(BROKER_DEPART_TIMEOUT):
                await broker.depart()
        rooms_nursery.cancel_scope.cancel()


def tune_garbage_collector() -> None:
    """Most of a busy server's heap is long-lived connection state: a full
    collection walks all of it (seconds, at 20,000 connections) and frees
    next to nothing. Freeze what start-up made, and run the oldest generation
    rarely; reference counting still frees everything that is not a cycle."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 50, 100)
