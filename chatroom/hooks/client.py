"""A small HTTP/1.1 client for webhook deliveries: one POST on a fresh
connection (TLS for https), h11 for the bytes, never following a redirect.

Only the status of the answer matters; its body is never read. The target's
name is resolved here and the connection made to an address checked then
(addresses.py), never to the name again.
"""

from __future__ import annotations

import ssl

import h11
import trio

from chatroom.hooks.addresses import Network, resolve
from chatroom.protocol import url_parts

USER_AGENT = "chatroom-webhooks"
READ_SIZE = 4096
MAX_HEAD_BYTES = 16 * 1024  # of the answer's status line and headers


class DeliveryFailed(Exception):
    """No answer: the target could not be reached, or said nothing in time
    or nothing HTTP."""


def tls_context() -> ssl.SSLContext:
    """Certificates checked against the system's authorities and the name."""
    return ssl.create_default_context()


async def post(
    url: str,
    body: bytes,
    headers: list[tuple[str, str]],
    *,
    allowed: tuple[Network, ...],
    tls: ssl.SSLContext | None = None,
) -> int:
    """POST `body` (JSON) to `url`; the status of the answer (a redirect's
    too: it is not followed). DeliveryFailed without one, AddressRefused for
    a target webhooks may not reach. The caller bounds how long it waits."""
    use_tls, host, port, host_header, target = url_parts(url)
    request = h11.Request(
        method="POST",
        target=target,
        headers=[
            ("Host", host_header),
            ("User-Agent", USER_AGENT),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            *headers,
        ],
    )
    stream = await _connect(host, port, allowed)
    try:
        if use_tls:
            stream = trio.SSLStream(
                stream, tls or tls_context(), server_hostname=host, https_compatible=True
            )
        return await _exchange(stream, request, body)
    except (OSError, trio.BrokenResourceError, h11.ProtocolError) as exc:
        cause = exc.__cause__ or exc  # (trio's wraps the TLS error)
        raise DeliveryFailed(f"{host}:{port}: {cause or type(cause).__name__}") from None
    finally:
        await trio.aclose_forcefully(stream)


async def _connect(host: str, port: int, allowed: tuple[Network, ...]) -> trio.abc.Stream:
    """A connection to one of the addresses `host` resolves to now, each
    checked before it is tried."""
    addresses = await resolve(host, port, allowed)
    failures = []
    for address in addresses:
        try:
            # (an address, not a name: nothing is resolved again)
            return await trio.open_tcp_stream(str(address), port)
        except OSError as exc:
            failures.append(f"{address}: {exc.strerror or exc}")
    raise DeliveryFailed(f"cannot connect to {host}:{port} ({'; '.join(failures)})")


async def _exchange(stream: trio.abc.Stream, request: h11.Request, body: bytes) -> int:
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
    for sent in (request, h11.Data(data=body), h11.EndOfMessage()):
        await stream.send_all(conn.send(sent) or b"")
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some(READ_SIZE)))
        elif isinstance(event, h11.Response):
            return event.status_code
        elif isinstance(event, h11.ConnectionClosed):
            raise DeliveryFailed("the target closed the connection without an answer")
        # (an informational answer, 100 Continue: the final one follows)
