"""The front door: each socket admitted (or refused politely), spoken
HTTP to, and after a WebSocket upgrade handed to a session (connection.py)."""

from __future__ import annotations

import collections
import functools
import logging
import socket
from collections.abc import Callable

import trio
import trio_websocket

from chatroom.api import Api
from chatroom.config import Settings
from chatroom.connection import Connection
from chatroom.metrics import Counters
from chatroom.net.admission import Admission, Ticket
from chatroom.net.http import refusal_response, refuse_socket, serve_http, serve_websocket
from chatroom.net.proxy import is_trusted_peer
from chatroom.net.tls import TlsContext, TlsError
from chatroom.net.transport import SocketTransport, peer_name
from chatroom.sessions import Sessions

log = logging.getLogger("chatroom.app")

# Refused sockets answered politely at once (refuse_socket), in all and from
# one address; past these, a flood of them gets its 503 written at once and
# the socket closed, so that one address cannot take the others' share.
MAX_REFUSING = 256
MAX_REFUSING_PER_ADDRESS = 16


class ChatServer:
    """Serves each client socket (see app.py, which builds it)."""

    def __init__(
        self,
        *,
        settings: Settings,
        api: Api,
        admission: Admission,
        sessions: Sessions,
        counters: Counters,
        new_connection: Callable[..., Connection],
        tls: TlsContext | None = None,
    ) -> None:
        self.settings = settings
        self.api = api
        self.admission = admission
        self.sessions = sessions
        self.counters = counters
        # A session's Connection, given its ws, transport and admit().
        self.new_connection = new_connection
        self.tls = tls
        self._refusing = 0  # sockets in refuse_socket now
        self._refusing_from: collections.Counter[str] = collections.Counter()  # by peer

    async def handle_socket(self, sock: socket.socket) -> None:
        peer = peer_name(sock)
        from_proxy = is_trusted_peer(peer, self.settings.trusted_proxies)
        ticket = self.admission.open_socket(peer, per_address=not from_proxy)
        limit = self.settings.outbound_limit_bytes
        if isinstance(ticket, str) and (
            self._refusing >= MAX_REFUSING or self._refusing_from[peer] >= MAX_REFUSING_PER_ADDRESS
        ):
            # Past the polite refusals: the 503 at once, and no task for it.
            refused = SocketTransport(sock, max_pending=limit)
            refused.offer(refusal_response(ticket))
            refused.close_now()
            return
        transport: SocketTransport | None = None
        try:
            # The connection's nursery: its writer task, trio-websocket's reader.
            async with trio.open_nursery() as nursery:
                transport = SocketTransport(sock, max_pending=limit, writer_nursery=nursery)
                if isinstance(ticket, str):
                    await self._refuse(transport, ticket)
                else:
                    await self._serve(nursery, transport, ticket)
                nursery.cancel_scope.cancel()
        except* Exception:
            # One client's failure must never reach the clients nursery, not
            # even beside a cancellation (the server stopping), which goes on.
            client = peer if transport is None else transport.client
            log.exception("connection failed", extra={"client": client})
        finally:
            if transport is not None:
                transport.close_now()
            else:
                sock.close()
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
            self.sessions.authenticated(connection, user)
            return True

        connection = self.new_connection(ws=ws, transport=transport, admit=admit)
        self.sessions.add(connection)
        self.counters.websocket_sessions += 1
        try:
            await connection.run(header_token)
        finally:
            closed = connection.ws.closed  # (the peer's code, when it closed first)
            code = connection.close_code or (closed.code if closed is not None else None)
            self.counters.close_codes[str(code) if code else "none"] += 1
            log.debug(
                "session %s ended", connection.session, extra=connection.log_fields(close_code=code)
            )
            self.sessions.remove(connection)
