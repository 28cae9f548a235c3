"""Hostile and odd clients, in process: RFC 6455 corner cases through our own
outbound stream, Origin checks, rate limits, caps, token lifetimes."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

from chatroom.front import ChatServer
from tests.conftest import SIGNER
from tests.rawws import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RawClient,
)

MakeServer = Callable[..., ChatServer]


def token(user: str, ttl: int = 3600) -> str:
    return SIGNER.issue(user, ttl=ttl, now=time.time())


async def raw(server: ChatServer, nursery: trio.Nursery, **headers: str) -> RawClient:
    ours, theirs = socket.socketpair()
    nursery.start_soon(server.handle_socket, ours)
    return await RawClient.connect(theirs, headers)


async def logged_in(server: ChatServer, nursery: trio.Nursery, user: str) -> RawClient:
    client = await raw(server, nursery)
    client.send_json(type="hello", token=token(user))
    assert (await client.next_json())["type"] == "welcome"
    return client


async def http_status(server: ChatServer, nursery: trio.Nursery, request: bytes) -> bytes:
    ours, theirs = socket.socketpair()
    nursery.start_soon(server.handle_socket, ours)
    client = RawClient(theirs)
    client.sock.sendall(request)
    return (await client.read_head()).split(b"\r\n", 1)[0]


UPGRADE = (
    "GET /ws HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n{origin}\r\n"
)


@pytest.mark.parametrize(
    ("origin", "allowed", "status"),
    [
        ("", (), b"HTTP/1.1 101 Switching Protocols"),
        ("Origin: http://localhost:8080\r\n", (), b"HTTP/1.1 101 Switching Protocols"),
        ("Origin: https://evil.example\r\n", (), b"HTTP/1.1 403 Forbidden"),
        ("Origin: http://localhost\r\n", (), b"HTTP/1.1 403 Forbidden"),
        (
            "Origin: https://app.example\r\n",
            ("https://app.example",),
            b"HTTP/1.1 101 Switching Protocols",
        ),
    ],
)
async def test_cross_site_upgrades_are_refused(
    nursery: trio.Nursery,
    make_server: MakeServer,
    origin: str,
    allowed: tuple[str, ...],
    status: bytes,
) -> None:
    server = make_server(allowed_origins=allowed)
    request = UPGRADE.format(origin=origin).encode()
    assert await http_status(server, nursery, request) == status


async def test_invalid_utf8_closes_1007(nursery: trio.Nursery, make_server: MakeServer) -> None:
    client = await logged_in(make_server(), nursery, "u")
    client.send(OP_TEXT, b'{"type":"ping","x":"\xff\xfe"}')
    assert await client.close_code() == 1007


async def test_binary_closes_1003_and_big_frames_1009(
    nursery: trio.Nursery, make_server: MakeServer
) -> None:
    server = make_server(max_frame_bytes=1024)
    client = await logged_in(server, nursery, "u")
    client.send(OP_BINARY, b"\x00")
    assert await client.close_code() == 1003
    client = await logged_in(server, nursery, "v")
    client.send(OP_TEXT, b"x" * 1025)
    assert await client.close_code() == 1009


async def test_fragments_are_reassembled_and_pings_answered_between_them(
    nursery: trio.Nursery, make_server: MakeServer
) -> None:
    client = await logged_in(make_server(), nursery, "u")
    text = json.dumps({"type": "ping", "ref": "fragmented ☃"}).encode()
    client.send(OP_TEXT, text[:5], fin=False)
    client.send(OP_PING, b"are you there")
    assert await client.next_frame() == (OP_PONG, b"are you there")
    client.send(OP_CONTINUATION, text[5:10], fin=False)
    client.send(OP_CONTINUATION, text[10:], fin=True)
    assert await client.next_json() == {"type": "pong", "ref": "fragmented ☃"}


async def test_unmasked_client_frames_are_refused(
    nursery: trio.Nursery, make_server: MakeServer
) -> None:
    client = await logged_in(make_server(), nursery, "u")
    client.send(OP_TEXT, b'{"type":"ping"}', masked=False)
    assert await client.close_code() == 1002


async def test_a_close_from_the_client_is_answered_with_its_code(
    nursery: trio.Nursery, make_server: MakeServer
) -> None:
    server = make_server()
    client = await logged_in(server, nursery, "u")
    client.send(OP_CLOSE, (1000).to_bytes(2, "big") + b"bye")
    assert await client.close_code() == 1000
    with pytest.raises(EOFError):
        await client.next_frame()
    await trio.testing.wait_all_tasks_blocked()
    assert not server.sessions


async def test_a_client_within_the_promised_rate_is_never_refused(
    nursery: trio.Nursery, make_server: MakeServer
) -> None:
    # Real time: the store's worker threads and MockClock's autojump disagree.
    client = await logged_in(make_server(), nursery, "steady")
    client.send_json(type="join", room="r")
    assert (await client.next_json())["type"] == "joined"
    assert (await client.next_json())["type"] == "presence"
    sent = 0
    for _second in range(3):
        # A burst of 20, then 10 a second on average: what PROTOCOL.md promises.
        for _ in range(20 if sent == 0 else 10):
            client.send_json(type="send", room="r", text=f"m{sent}")
            sent += 1
        for _ in range(20 if sent == 20 else 10):
            assert (await client.next_json())["type"] == "message"
        await trio.sleep(1)


async def test_floods_are_refused_then_closed_1008(
    nursery: trio.Nursery, make_server: MakeServer
) -> None:
    server = make_server(send_burst=5, send_rate=10, abuse_strikes=5, abuse_forgiveness=0.1)
    client = await logged_in(server, nursery, "flood")
    client.send_json(type="join", room="r")
    await client.next_json()
    await client.next_json()
    for i in range(40):
        client.send_json(type="send", room="r", text=f"spam {i}", ref=i)
    refused: list[dict[str, Any]] = []
    code = None
    while code is None:
        opcode, payload = await client.next_frame()
        if opcode == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big")
        elif (frame := json.loads(payload))["type"] == "error":
            refused.append(frame)
    assert code == 1008
    assert refused[0]["code"] == "rate_limited"
    assert refused[0]["retry_after_ms"] > 0
    assert refused[0]["ref"] == 5


async def test_caps_on_rooms_users_and_addresses(
    nursery: trio.Nursery, make_server: MakeServer
) -> None:
    server = make_server(
        max_rooms_per_connection=2,
        max_rooms_per_user=3,
        max_connections_per_user=2,
        max_connections_per_address=4,
    )
    first = await logged_in(server, nursery, "capped")
    for room in ("a", "b"):
        first.send_json(type="join", room=room)
        assert (await first.next_json())["type"] == "joined"
        await first.next_json()
    first.send_json(type="join", room="c", ref="third")
    assert await first.next_json() == {
        "type": "error",
        "code": "forbidden",
        "message": "a connection may join 2 rooms at most",
        "ref": "third",
    }
    second = await logged_in(server, nursery, "capped")
    second.send_json(type="join", room="c")  # the user's third room; d is one too many
    assert (await second.next_json())["type"] == "joined"
    await second.next_json()
    second.send_json(type="join", room="d", ref="d")
    assert await second.next_json() == {
        "type": "error",
        "code": "forbidden",
        "message": "a user may have 3 rooms at most; leave one first",
        "ref": "d",
    }
    third = await raw(server, nursery)
    third.send_json(type="hello", token=token("capped"))
    assert (await third.next_json())["code"] == "forbidden"
    assert await third.close_code() == 1008
    await trio.testing.wait_all_tasks_blocked()
    # socketpairs share one "address": 2 sessions + 1 more socket + this one
    fourth = await raw(server, nursery)
    status = await http_status(server, nursery, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status == b"HTTP/1.1 503 Service Unavailable"
    assert second.sock.fileno() >= 0 and fourth.sock.fileno() >= 0  # held open until here


async def test_unauthenticated_sockets_are_capped(
    nursery: trio.Nursery, make_server: MakeServer
) -> None:
    server = make_server(max_unauthenticated=2)
    waiting = [await raw(server, nursery), await raw(server, nursery)]
    status = await http_status(server, nursery, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status == b"HTTP/1.1 503 Service Unavailable"
    waiting[0].send_json(type="hello", token=token("now-in"))
    assert (await waiting[0].next_json())["type"] == "welcome"
    status = await http_status(server, nursery, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status == b"HTTP/1.1 200 OK"


async def test_tokens_valid_for_too_long_are_refused(
    nursery: trio.Nursery, make_server: MakeServer
) -> None:
    server = make_server(max_token_ttl=3600)
    client = await raw(server, nursery)
    client.send_json(type="hello", token=token("patient", ttl=7200))
    assert (await client.next_json())["message"] == "token invalid"
    assert await client.close_code() == 4401


async def test_malformed_frames_count_against_the_rate_too(
    nursery: trio.Nursery, make_server: MakeServer
) -> None:
    server = make_server(frame_burst=5, frame_rate=10, abuse_strikes=5, abuse_forgiveness=0.1)
    client = await logged_in(server, nursery, "garbler")
    for _ in range(40):
        client.send(OP_TEXT, b'{"type":"nope"}')
    codes = []
    while True:
        opcode, payload = await client.next_frame()
        if opcode == OP_CLOSE:
            break
        codes.append(json.loads(payload)["code"])
    assert codes[:5] == ["bad_request"] * 5
    assert "rate_limited" in codes
    assert int.from_bytes(payload[:2], "big") == 1008


async def test_a_connection_failing_as_the_server_stops_fails_alone(
    make_server: MakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """trio-websocket's reader raises when a ping arrives while our close
    frame waits for its answer; if the server is stopping at that moment,
    the failure comes beside the cancellation and must still stay with the
    connection (seen as an exit 1 at shutdown under load)."""
    server = make_server()
    failing = trio.Event()

    async def serve(nursery: trio.Nursery, *_: object) -> None:
        async def fail_once_cancelled() -> None:
            with trio.CancelScope(shield=True):
                await failing.wait()
            raise RuntimeError("a pong cannot be sent in state LOCAL_CLOSING")

        nursery.start_soon(fail_once_cancelled)
        await trio.sleep_forever()

    monkeypatch.setattr(server, "_serve", serve)
    ours, _theirs = socket.socketpair()
    with trio.CancelScope() as clients:  # the server's clients nursery, stopping
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.handle_socket, ours)
            await trio.testing.wait_all_tasks_blocked()
            clients.cancel()
            failing.set()
    assert clients.cancelled_caught
