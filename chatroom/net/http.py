"""The one-port front: h11 reads each request head; plain requests are
answered here (keep-alive), `GET /ws` upgrades are replayed into
trio-websocket over the same transport and become a `Connection`."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import AsyncIterable, Awaitable, Callable
from http import HTTPStatus
from typing import Protocol

import attrs
import h11
import trio
import trio_websocket

from chatroom.config import Settings
from chatroom.domain import ErrorCode
from chatroom.net.admission import Admission, Ticket
from chatroom.net.messages import HttpRequest, Response, bearer_token, error_response
from chatroom.net.proxy import client_address
from chatroom.net.transport import SocketTransport

WEBSOCKET_PATH = "/ws"
SUBPROTOCOL = "chatroom.v1"
TOKEN_SUBPROTOCOL_PREFIX = "token."

# Called with the transport, the accepted WebSocket on it, and the token
# found in the upgrade's headers.
WebSocketHandler = Callable[
    [SocketTransport, trio_websocket.WebSocketConnection, str | None], Awaitable[None]
]


class Responder(Protocol):
    """Whatever answers plain-HTTP requests (chatroom/api.py)."""

    async def respond(self, request: HttpRequest) -> Response: ...

    def streams_body(self, method: str, path: str) -> bool:
        """Whether the route reads the body itself, as it arrives (an
        upload), instead of being given it whole (at most max_http_body_bytes)."""


@attrs.frozen
class Upgrade:
    """A WebSocket upgrade the front accepted; its request is replayed into
    trio-websocket, and nothing else of it is kept."""

    token: str | None
    subprotocol: str | None


class _TooLarge(Exception):
    pass


class _ResponseFailed(Exception):
    """A streamed response body failed after its head was sent: the
    connection can only be closed (its client sees the body cut short)."""


def _headers_of(request: h11.Request) -> dict[str, str]:
    """Lower-case names; repeated headers joined with commas (RFC 9110 5.3)."""
    headers: dict[str, str] = {}
    for name, value in request.headers:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def websocket_credentials(headers: dict[str, str]) -> tuple[str | None, str | None]:
    """The token offered on the upgrade, and the subprotocol to answer with."""
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
    token = next(
        (
            p.removeprefix(TOKEN_SUBPROTOCOL_PREFIX)
            for p in offered
            if p.startswith(TOKEN_SUBPROTOCOL_PREFIX)
        ),
        None,
    )
    if token is None:
        token = bearer_token(headers)
    return token, SUBPROTOCOL if SUBPROTOCOL in offered else None


def origin_allowed(headers: dict[str, str], allowed: tuple[str, ...]) -> bool:
    """Browsers send Origin: refuse other sites' pages (cross-site WebSocket
    hijacking). Clients that send none (bots, CLIs) are not browsers."""
    origin = headers.get("origin")
    if origin is None:
        return True
    host = headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}") or origin in allowed


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def host_allowed(headers: dict[str, str], settings: Settings) -> bool:
    """Whether the request is addressed to a name this server answers to: a
    page on another name that resolves here (DNS rebinding) is refused."""
    host = headers.get("host", "").strip().lower()
    name = host.rpartition(":")[0] if host.rpartition(":")[2].isdigit() else host
    # A rebinding page's requests carry its own name, never a loopback one.
    listening_on = f"[{settings.host}]" if ":" in settings.host else settings.host
    if name in LOOPBACK_NAMES or name in settings.allowed_hosts or name == listening_on:
        return True
    return not settings.allowed_hosts and not _is_loopback(settings.host)


def _handshake_problem(headers: dict[str, str]) -> str | None:
    if headers.get("sec-websocket-version", "").strip() != "13":
        return "WebSocket version 13 is required (Sec-WebSocket-Version: 13)"
    if not headers.get("sec-websocket-key", "").strip():
        return "Sec-WebSocket-Key is missing"
    return None


def _is_upgrade(headers: dict[str, str]) -> bool:
    return (
        headers.get("upgrade", "").lower() == "websocket"
        and "upgrade" in headers.get("connection", "").lower()
    )


# A refused or answered-and-closed socket is closed only after the client
# has stopped sending or these run out: closing with unread bytes makes the
# kernel send a reset, which may destroy the answer before the client reads it.
LINGER_SECONDS = 2.0
LINGER_BYTES = 64 * 1024
# How long a socket refused at accept may take to send its request head
# before it is answered anyway.
REFUSED_HEAD_TIMEOUT = 2.0

# Small reads, so h11's limit on an incomplete request head is checked
# every few KiB and a head can pass it by at most one read.
HTTP_READ_SIZE = 4096
# A body a route streams (an upload) is read in larger pieces.
STREAM_READ_SIZE = 65536
# What the client of a streamed body that was refused before its end may
# still send, and for how long, before the connection closes: its refusal
# (413, say) reaches it instead of a reset.
REFUSED_BODY_BYTES = 64 * 1024 * 1024
REFUSED_BODY_SECONDS = 5.0
ERROR_SEND_TIMEOUT = 5.0


async def _next_event(
    conn: h11.Connection, transport: SocketTransport, read_size: int = HTTP_READ_SIZE
) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await transport.receive_some(read_size))


@attrs.frozen
class _Progress:
    """A request's deadline, moved on by each piece of a streamed body that
    comes or goes: a large upload or download has as long as it needs while
    it moves, and `seconds` between pieces."""

    scope: trio.CancelScope
    seconds: float

    def made(self) -> None:
        self.scope.deadline = trio.current_time() + self.seconds


class _StreamedBody:
    """A request body for its route to read as it arrives (a BodyStream)."""

    def __init__(
        self,
        conn: h11.Connection,
        transport: SocketTransport,
        headers: dict[str, str],
        progress: _Progress,
    ) -> None:
        self._conn = conn
        self._transport = transport
        self._progress = progress
        length = headers.get("content-length", "").strip()
        chunked = "transfer-encoding" in headers
        self.declared_length = int(length) if length.isdecimal() and not chunked else None

    async def receive_some(self) -> bytes:
        conn = self._conn
        if conn.their_state is not h11.SEND_BODY:
            return b""
        if conn.client_is_waiting_for_100_continue:  # (curl's Expect: 100-continue)
            continue_ = h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
            await self._transport.send_all(conn.send(continue_))
        while True:
            event = await _next_event(conn, self._transport, STREAM_READ_SIZE)
            self._progress.made()
            if isinstance(event, h11.Data) and event.data:
                return bytes(event.data)
            if isinstance(event, h11.EndOfMessage):
                return b""


async def _send_response(
    conn: h11.Connection,
    transport: SocketTransport,
    response: Response,
    head_only: bool,
    progress: _Progress | None = None,
) -> None:
    await transport.send_all(
        conn.send(
            h11.Response(
                status_code=response.status,
                headers=response.header_list(),
                reason=HTTPStatus(response.status).phrase,
            )
        )
    )
    if response.stream is not None and not head_only:
        await _send_stream(conn, transport, response.stream, progress)
    elif response.body and not head_only:
        await transport.send_all(conn.send(h11.Data(data=response.body)))
    try:
        await transport.send_all(conn.send(h11.EndOfMessage()))
    except h11.LocalProtocolError:  # the stream ended short of its length
        raise _ResponseFailed from None


async def _send_stream(
    conn: h11.Connection,
    transport: SocketTransport,
    stream: AsyncIterable[bytes],
    progress: _Progress | None,
) -> None:
    """Send `stream`'s pieces as they come."""
    pieces = aiter(stream)
    while True:
        try:
            piece = await anext(pieces)
            data = conn.send(h11.Data(data=piece))
        except StopAsyncIteration:
            return
        except Exception as exc:  # (the stream logs why)
            raise _ResponseFailed from exc
        await transport.send_all(data)
        if progress is not None:
            progress.made()


async def _read_body(conn: h11.Connection, transport: SocketTransport, limit: int) -> bytes:
    body = bytearray()
    while True:
        event = await _next_event(conn, transport)
        if isinstance(event, h11.Data):
            body += event.data
            if len(body) > limit:
                raise _TooLarge
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return bytes(body)


def _replayed_head(request: h11.Request) -> bytes:
    lines = [b"%s %s HTTP/1.1" % (request.method, request.target)]
    lines += [name + b": " + value for name, value in request.headers.raw_items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def serve_http(
    transport: SocketTransport,
    api: Responder,
    settings: Settings,
    admission: Admission,
    ticket: Ticket,
) -> Upgrade | None:
    """Serve one client connection until it closes or idles out (None), or
    until it asks for an acceptable WebSocket upgrade. Returning drops the
    HTTP parser's state, which a long-lived WebSocket would otherwise keep."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=settings.max_http_head_bytes)
    while True:
        try:
            # Waiting for a request head, the socket is idle: it may be
            # evicted, and waits less while unauthenticated slots run low.
            with (
                trio.move_on_after(admission.idle_timeout(settings.http_timeout)) as waited,
                admission.idle(ticket) as evictable,
            ):
                event = await _next_event(conn, transport)
            # Evicted after its request arrived, it still goes: its slot is given away.
            if waited.cancelled_caught or evictable.cancel_called or ticket.released:
                return None
            with trio.fail_after(settings.http_timeout) as deadline:
                if not isinstance(event, h11.Request):
                    return None
                headers = _headers_of(event)
                transport.client = client_address(transport.peer, headers, settings.trusted_proxies)
                if refused := admission.readdress(ticket, transport.client):
                    await _send_error_and_close(
                        conn, transport, error_response(ErrorCode.UNAVAILABLE, refused, status=503)
                    )
                    return None
                if not host_allowed(headers, settings):
                    misdirected = error_response(
                        ErrorCode.BAD_REQUEST,
                        "this server does not answer to that Host (see --allowed-host)",
                        status=421,
                    )
                    await _send_error_and_close(conn, transport, misdirected)
                    return None
                method = event.method.decode("ascii")
                target = event.target.decode("latin-1")
                upgrade = (
                    target.split("?", 1)[0] == WEBSOCKET_PATH
                    and method == "GET"
                    and _is_upgrade(headers)
                )
                if not upgrade:
                    progress = _Progress(deadline, settings.http_timeout)
                    if api.streams_body(method, target.split("?", 1)[0]):
                        stream = _StreamedBody(conn, transport, headers, progress)
                        request = HttpRequest(
                            method, target, headers, client=transport.client, stream=stream
                        )
                    else:
                        body = await _read_body(conn, transport, settings.max_http_body_bytes)
                        request = HttpRequest(method, target, headers, body, transport.client)
                    response = await _route(api, request)
                    if "transfer-encoding" in headers and "content-length" in headers:
                        # A body framed two ways may be smuggling a request
                        # past a proxy: answer, then close (RFC 9112 6.1).
                        response = _closing(response)
                    unread = conn.their_state is h11.SEND_BODY
                    if unread:  # a streamed body refused before its end
                        response = _closing(response)
                    await _send_response(conn, transport, response, method == "HEAD", progress)
                    if unread:
                        await linger(transport, REFUSED_BODY_BYTES, REFUSED_BODY_SECONDS)
                        return None
        except _TooLarge:
            await _send_error_and_close(
                conn, transport, error_response(ErrorCode.TOO_LARGE, "request body too large")
            )
            return None
        except h11.RemoteProtocolError as exc:
            error = error_response(
                ErrorCode.BAD_REQUEST, f"bad HTTP request: {exc}", status=exc.error_status_hint
            )
            await _send_error_and_close(conn, transport, error)
            return None
        except (
            trio.TooSlowError,
            trio.BrokenResourceError,
            trio.ClosedResourceError,
            _ResponseFailed,
        ):
            return None
        if upgrade:
            return await _upgrade(conn, transport, event, headers, settings)
        if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            return None
        conn.start_next_cycle()


async def _route(api: Responder, request: HttpRequest) -> Response:
    if request.path == WEBSOCKET_PATH:
        return error_response(
            ErrorCode.BAD_REQUEST,
            "this path takes WebSocket upgrades",
            ("Upgrade", "websocket"),
            status=426,
        )
    return await api.respond(request)


def _closing(response: Response) -> Response:
    """`response`, saying the connection closes after it."""
    return attrs.evolve(response, headers=(*response.headers, ("Connection", "close")))


async def _send_error_and_close(
    conn: h11.Connection, transport: SocketTransport, response: Response
) -> None:
    # A client that does not read its error must not hold the connection.
    with trio.move_on_after(ERROR_SEND_TIMEOUT):
        try:
            await _send_response(conn, transport, _closing(response), head_only=False)
        except (h11.LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            return
    await linger(transport)


async def linger(
    transport: SocketTransport, max_bytes: int = LINGER_BYTES, seconds: float = LINGER_SECONDS
) -> None:
    """Half-close, then read and drop what the client still sends, until it
    closes or `seconds` or `max_bytes` run out; the caller closes."""
    if transport.shutdown_write():
        with trio.move_on_after(seconds):
            await transport.discard_received(max_bytes)


def refusal_response(reason: str) -> bytes:
    """A whole HTTP 503 for a socket refused as it was accepted."""
    body = json.dumps({"error": {"code": "unavailable", "message": reason}}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
    )
    return head.encode() + body


async def refuse_socket(transport: SocketTransport, reason: str, max_head_bytes: int) -> None:
    """Answer a socket refused as it was accepted with a 503 that its client
    reads whatever its timing: after its request head (bounded in time and
    bytes, and given up on if it is not HTTP), then a lingering close."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head_bytes)
    with trio.move_on_after(REFUSED_HEAD_TIMEOUT):
        try:
            await _next_event(conn, transport)
        except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
    with trio.move_on_after(ERROR_SEND_TIMEOUT):
        try:
            await transport.send_all(refusal_response(reason))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
    await linger(transport)


async def _upgrade(
    conn: h11.Connection,
    transport: SocketTransport,
    request: h11.Request,
    headers: dict[str, str],
    settings: Settings,
) -> Upgrade | None:
    """Check the upgrade; if it is one to accept, replay its request for
    trio-websocket (re-serialised, with what followed it)."""
    event = conn.next_event()
    problem = _handshake_problem(headers)
    if not isinstance(event, h11.EndOfMessage):
        problem = "a WebSocket upgrade has no body"
    if problem:
        # Answered here: trio-websocket would answer without a JSON body.
        await _send_error_and_close(conn, transport, error_response(ErrorCode.BAD_REQUEST, problem))
        return None
    if not origin_allowed(headers, settings.allowed_origins):
        forbidden = error_response(
            ErrorCode.FORBIDDEN, "WebSocket connections from this Origin are refused"
        )
        await _send_error_and_close(conn, transport, forbidden)
        return None
    trailing, _closed = conn.trailing_data
    transport.replay_first(_replayed_head(request) + trailing)
    return Upgrade(*websocket_credentials(headers))


async def serve_websocket(
    nursery: trio.Nursery,
    transport: SocketTransport,
    upgrade: Upgrade,
    settings: Settings,
    on_websocket: WebSocketHandler,
) -> None:
    """trio-websocket's handshake on the replayed request, then the session;
    its reader task runs in `nursery`, the connection's, which the caller
    cancels once this returns."""
    with trio.move_on_after(settings.http_timeout) as handshake:
        ws_request = await trio_websocket.wrap_server_stream(
            nursery,
            transport,
            message_queue_size=settings.inbound_queue,
            max_message_size=settings.max_frame_bytes,
        )
        try:
            ws = await ws_request.accept(subprotocol=upgrade.subprotocol)
        except trio_websocket.ConnectionClosed:
            handshake.cancel()  # the client went away mid-handshake
    if not handshake.cancel_called:
        await on_websocket(transport, ws, upgrade.token)
