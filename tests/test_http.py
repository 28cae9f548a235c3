"""The HTTP front over a socket pair: routing, keep-alive, limits, bad input."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatroom.app import build_server
from chatroom.auth import TokenSigner
from chatroom.config import Settings
from chatroom.front import ChatServer
from chatroom.store import Store, open_database


async def make_server(nursery: trio.Nursery, tmp_path: Path) -> ChatServer:
    store = Store(open_database(f"sqlite:///{tmp_path / 'chat.db'}"))
    await nursery.start(store.run)
    signer = TokenSigner(b"http-test-secret".ljust(32, b"."))
    return build_server(nursery, settings=Settings(), signer=signer, store=store).front


async def exchange(server: ChatServer, nursery: trio.Nursery, data: bytes) -> bytes:
    """Send `data`, half-close, and read everything until the server closes."""
    ours, theirs = socket.socketpair()
    nursery.start_soon(server.handle_socket, ours)
    theirs.setblocking(False)
    theirs.sendall(data)
    theirs.shutdown(socket.SHUT_WR)
    received = b""
    while True:
        await trio.lowlevel.wait_readable(theirs)
        try:
            chunk = theirs.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    theirs.close()
    return received


def statuses(response: bytes) -> list[int]:
    """Status codes of the responses in `response`, walked by Content-Length."""
    found = []
    while response:
        head, _, rest = response.partition(b"\r\n\r\n")
        match = re.match(rb"HTTP/1\.1 (\d{3}) ", head)
        assert match, response
        found.append(int(match[1]))
        length = re.search(rb"(?i)\r\ncontent-length: (\d+)", head)
        response = rest[int(length[1]) if length else 0 :]
    return found


async def test_pipelined_requests_are_answered_in_order(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    server = await make_server(nursery, tmp_path)
    response = await exchange(
        server,
        nursery,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
        b"GET /missing HTTP/1.1\r\nHost: localhost\r\n\r\n"
        b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    # The HEAD response has a Content-Length but no body: it ends the bytes.
    head_response = response.rsplit(b"HTTP/1.1 ", 1)[1]
    assert head_response.startswith(b"200 ")
    assert head_response.endswith(b"\r\n\r\n")
    assert statuses(response[: -len(head_response) - 9]) == [200, 404]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n", 426),
        (b"DELETE /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 405),
        (b"GET /api/rooms HTTP/1.1\r\nHost: localhost\r\n\r\n", 401),
        (b"GET /api/rooms HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic abc\r\n\r\n", 401),
        (
            b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 70000\r\n\r\n" + b"x" * 70000,
            413,
        ),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 30000 + b"\r\n\r\n", 431),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),  # a TLS ClientHello
        (b"GARBAGE\r\n\r\n", 400),
    ],
)
async def test_bad_requests_get_json_errors(
    nursery: trio.Nursery, tmp_path: Path, request_bytes: bytes, status: int
) -> None:
    response = await exchange(await make_server(nursery, tmp_path), nursery, request_bytes)
    assert statuses(response) == [status]
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert set(body["error"]) == {"code", "message"}


async def test_a_client_that_never_finishes_its_head_is_dropped(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    server = await make_server(nursery, tmp_path)
    ours, theirs = socket.socketpair()
    nursery.start_soon(server.handle_socket, ours)
    theirs.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
    await trio.sleep(Settings().http_timeout + 1)
    theirs.setblocking(False)
    assert theirs.recv(100) == b""  # closed, no answer


# One database for all examples is fine: arbitrary bytes do not make users.
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_get_an_http_answer_or_a_close(tmp_path: Path, data: bytes) -> None:
    async def main() -> bytes:
        async with trio.open_nursery() as nursery:
            response = await exchange(await make_server(nursery, tmp_path), nursery, data)
            nursery.cancel_scope.cancel()
        return response

    response = trio.run(main)
    for status in statuses(response):
        assert 200 <= status < 500
