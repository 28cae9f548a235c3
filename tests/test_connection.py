"""Connections through the real HTTP front and transport, over socket pairs,
with Trio's mock clock: timeouts take no real time."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any
from unittest.mock import ANY

import pytest
import trio
import trio.lowlevel
import trio.testing
import trio_websocket
from trio_websocket import ConnectionClosed, WebSocketConnection
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, Ping, Request, TextMessage

from chatroom.front import ChatServer
from tests.conftest import SIGNER


def token(user: str, ttl: int = 3600) -> str:
    return SIGNER.issue(user, ttl=ttl, now=time.time())


async def connect(
    server: ChatServer,
    nursery: trio.Nursery,
    *,
    subprotocols: Sequence[str] = (),
    headers: Sequence[tuple[bytes, bytes]] = (),
    queue_size: int = 64,
    small_buffers: bool = False,
) -> WebSocketConnection:
    server_end, client_end = socket.socketpair()
    if small_buffers:
        server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        client_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    nursery.start_soon(server.handle_socket, server_end)
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(client_end))
    return await trio_websocket.wrap_client_stream(
        nursery,
        stream,
        "localhost",
        "/ws",
        subprotocols=list(subprotocols),
        extra_headers=list(headers),
        message_queue_size=queue_size,
    )


async def raw_client(
    server: ChatServer, nursery: trio.Nursery
) -> tuple[WSConnection, socket.socket]:
    """A sans-IO client on a plain socket: it does only what the test says."""
    server_end, client_end = socket.socketpair()
    nursery.start_soon(server.handle_socket, server_end)
    client = WSConnection(ConnectionType.CLIENT)
    client_end.sendall(client.send(Request(host="localhost", target="/ws")))
    await trio.lowlevel.wait_readable(client_end)
    client.receive_data(client_end.recv(65536))
    assert isinstance(next(client.events()), AcceptConnection)
    return client, client_end


async def send(ws: WebSocketConnection, **frame: Any) -> None:
    await ws.send_message(json.dumps(frame))


async def receive(ws: WebSocketConnection) -> dict[str, Any]:
    message = await ws.get_message()
    assert isinstance(message, str)
    frame: dict[str, Any] = json.loads(message)
    return frame


async def login(
    server: ChatServer, nursery: trio.Nursery, user: str, **kw: Any
) -> WebSocketConnection:
    ws = await connect(server, nursery, **kw)
    await send(ws, type="hello", token=token(user))
    assert (await receive(ws))["type"] == "welcome"
    return ws


async def closed_code(ws: WebSocketConnection) -> int:
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await ws.get_message()
    reason = info.value.reason
    assert reason is not None
    return reason.code


async def test_no_hello_in_10_seconds_closes_4401(
    nursery: trio.Nursery,
    make_server: Callable[..., ChatServer],
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = make_server()
    ws = await connect(server, nursery)
    start = trio.current_time()
    error = await receive(ws)
    assert error["type"] == "error"
    assert error["code"] == "unauthorized"
    assert await closed_code(ws) == 4401
    assert trio.current_time() - start == pytest.approx(10, abs=0.1)


@pytest.mark.parametrize(
    "first",
    [
        {"type": "join", "room": "lobby"},
        {"type": "hello", "token": "forged.token.value"},
        {"type": "hello", "token": SIGNER.issue("old", ttl=10, now=time.time() - 60)},
        {"type": "hello"},
    ],
)
async def test_anything_but_a_valid_hello_first_closes_4401(
    nursery: trio.Nursery, make_server: Callable[..., ChatServer], first: dict[str, Any]
) -> None:
    server = make_server()
    ws = await connect(server, nursery)
    await send(ws, **first, ref="r1")
    error = await receive(ws)
    assert (error["type"], error["code"], error["ref"]) == ("error", "unauthorized", "r1")
    assert await closed_code(ws) == 4401


async def test_token_in_subprotocol_header(
    nursery: trio.Nursery, make_server: Callable[..., ChatServer]
) -> None:
    server = make_server()
    ws = await connect(server, nursery, subprotocols=["chatroom.v1", f"token.{token('carol')}"])
    assert ws.subprotocol == "chatroom.v1"
    welcome = await receive(ws)
    assert (welcome["type"], welcome["user"]) == ("welcome", "carol")


async def test_token_in_authorization_header(
    nursery: trio.Nursery, make_server: Callable[..., ChatServer]
) -> None:
    server = make_server()
    ws = await connect(
        server, nursery, headers=[(b"Authorization", f"Bearer {token('dave')}".encode())]
    )
    assert (await receive(ws))["user"] == "dave"
    await send(ws, type="hello", token=token("dave"), ref=2)
    assert await receive(ws) == {
        "type": "error",
        "code": "bad_request",
        "message": "already authenticated",
        "ref": 2,
    }


async def test_bad_header_token_is_refused_4401(
    nursery: trio.Nursery, make_server: Callable[..., ChatServer]
) -> None:
    server = make_server()
    ws = await connect(server, nursery, headers=[(b"Authorization", b"Bearer nope")])
    assert (await receive(ws))["code"] == "unauthorized"
    assert await closed_code(ws) == 4401


async def test_bad_frames_get_errors_and_the_connection_stays(
    nursery: trio.Nursery, make_server: Callable[..., ChatServer]
) -> None:
    server = make_server()
    ws = await login(server, nursery, "eve")
    bad = [
        ("{not json", "bad_request"),
        ('{"type":"fly"}', "bad_request"),
        ('{"type":"join"}', "bad_request"),
        ('{"type":"join","room":"has space"}', "bad_request"),
        ('{"type":"send","room":"nowhere","text":"hi"}', "not_member"),
        ('{"type":"members","room":"nowhere"}', "not_member"),
        ('{"type":"history","room":"nowhere"}', "not_member"),
        ('{"type":"leave","room":"nowhere"}', "not_member"),
    ]
    for text, code in bad:
        await ws.send_message(text)
        reply = await receive(ws)
        assert (reply["type"], reply["code"]) == ("error", code), text
    await send(ws, type="join", room="r")
    assert (await receive(ws))["type"] == "joined"
    assert (await receive(ws))["type"] == "presence"
    await send(ws, type="send", room="r", text="x" * 4001, ref="long")
    assert (await receive(ws))["code"] == "too_large"
    await send(ws, type="ping", ref="still")
    assert await receive(ws) == {"type": "pong", "ref": "still"}


async def test_binary_frames_close_1003(
    nursery: trio.Nursery, make_server: Callable[..., ChatServer]
) -> None:
    server = make_server()
    ws = await login(server, nursery, "bin")
    await ws.send_message(b"\x00\x01")
    assert await closed_code(ws) == 1003


async def test_frames_over_the_limit_close_1009(
    nursery: trio.Nursery, make_server: Callable[..., ChatServer]
) -> None:
    server = make_server(max_frame_bytes=1000)
    ws = await login(server, nursery, "big")
    await ws.send_message("x" * 1001)
    assert await closed_code(ws) == 1009


async def test_slow_member_is_closed_1013_while_others_get_everything(
    nursery: trio.Nursery, make_server: Callable[..., ChatServer]
) -> None:
    server = make_server(outbound_limit_bytes=512 * 1024, send_burst=1000, frame_burst=1000)
    fast = await login(server, nursery, "fast")
    slow = await login(server, nursery, "slow", queue_size=1, small_buffers=True)
    for ws in (fast, slow):
        await send(ws, type="join", room="r")
    assert (await receive(fast))["type"] == "joined"
    for _ in range(2):
        assert (await receive(fast))["type"] == "presence"

    # The fast member reads as it goes (at most 20 messages behind); the slow
    # one reads nothing, so its queue passes the limit.
    count, window = 300, 20
    ids: list[int] = []
    others: list[dict[str, Any]] = []
    for i in range(count):
        await send(fast, type="send", room="r", text=f"{i:04d}" + "." * 3000)
        while len(ids) < i + 1 - window or (i == count - 1 and len(ids) < count):
            frame = await receive(fast)
            if frame["type"] == "message":
                ids.append(frame["id"])
            else:
                others.append(frame)
    assert ids == list(range(1, count + 1))
    assert others == [{"type": "presence", "room": "r", "event": "leave", "user": "slow"}]

    # Real time: the slow client reads within the server's 3 s close timeout.
    assert await closed_code(slow) == 1013
    # The room goes on without the slow member.
    await send(fast, type="members", room="r")
    assert (await receive(fast))["members"] == [{"user": "fast", "since": ANY, "role": "owner"}]


async def test_dead_peer_is_dropped_by_keepalive(
    nursery: trio.Nursery,
    make_server: Callable[..., ChatServer],
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Jumps wait for real idleness, so that the user's look-up (in a worker
    # thread, which the mock clock cannot see) ends before time moves on.
    autojump_clock.autojump_threshold = 0.2
    server = make_server(ping_interval=30, ping_timeout=20)
    client, client_end = await raw_client(server, nursery)
    client_end.sendall(client.send(TextMessage(json.dumps({"type": "hello", "token": token("z")}))))
    await trio.testing.wait_all_tasks_blocked()
    assert len(server.sessions) == 1
    # The client now never answers: the server pings at 30 s, gives up at 50 s.
    await trio.sleep(49)
    assert len(server.sessions) == 1
    await trio.sleep(2)
    assert len(server.sessions) == 0
    client.receive_data(client_end.recv(65536))
    assert any(isinstance(e, Ping) for e in client.events())


async def test_client_reset_mid_frame_leaves_the_server_serving(
    nursery: trio.Nursery, make_server: Callable[..., ChatServer]
) -> None:
    server = make_server()
    ws = await login(server, nursery, "ok")
    client, client_end = await raw_client(server, nursery)
    half = client.send(TextMessage('{"type":"ping"}'))[:5]
    client_end.sendall(half)
    client_end.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client_end.close()
    await trio.testing.wait_all_tasks_blocked()
    await send(ws, type="rooms")
    assert await receive(ws) == {"type": "rooms", "rooms": [], "more": False}
    assert len(server.sessions) == 1


def opcodes(stream: bytes) -> list[int]:
    """The opcodes of the unmasked frames in `stream`, in order."""
    found = []
    while len(stream) >= 2:
        size, offset = stream[1] & 0x7F, 2
        if size == 126:
            size, offset = int.from_bytes(stream[2:4], "big"), 4
        elif size == 127:
            size, offset = int.from_bytes(stream[2:10], "big"), 10
        found.append(stream[0] & 0x0F)
        stream = stream[offset + size :]
    return found


async def test_nothing_follows_the_close_frame(
    nursery: trio.Nursery, make_server: Callable[..., ChatServer]
) -> None:
    server = make_server(send_burst=1000, frame_burst=1000)
    talker = await login(server, nursery, "talker")
    await send(talker, type="join", room="busy")
    client, client_end = await raw_client(server, nursery)
    client_end.sendall(client.send(TextMessage(json.dumps({"type": "hello", "token": token("q")}))))
    client_end.sendall(client.send(TextMessage('{"type":"join","room":"busy"}')))

    async def talk() -> None:
        for i in range(200):
            await send(talker, type="send", room="busy", text=f"chatter {i}")
            await trio.lowlevel.checkpoint()

    nursery.start_soon(talk)
    await trio.sleep(0.05)
    client_end.sendall(client.send(BytesMessage(b"binary")))
    stream = b""
    client_end.setblocking(False)
    with trio.fail_after(5):
        while True:
            await trio.lowlevel.wait_readable(client_end)
            try:
                chunk = client_end.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            stream += chunk
    codes = opcodes(stream)
    assert codes[-1] == 0x8  # close
    assert 0x8 not in codes[:-1]
    assert stream.rsplit(b"\x88", 1)[1][1:3] == (1003).to_bytes(2, "big")
