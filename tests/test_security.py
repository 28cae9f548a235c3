"""Black-box: the findings of the second adversarial review (issue 11), each
against `python -m chatroom` as an attacker would meet it."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from tests.blackbox import (
    TIMEOUT,
    RunningServer,
    clean_env,
    hello,
    receive,
    receive_until,
    send,
    start_server,
    stop_server,
)
from tests.rawws import upgrade_request
from tests.test_durability import PASSWORD, register

SECRET_ENV = {"CHATROOM_SECRET": "s" * 48}


def test_numbers_json_cannot_say_are_refused_not_echoed(server: RunningServer) -> None:
    ws = hello(server, "mallory")
    ws.send('{"type":"ping","ref":1e999}')
    error = receive(ws)
    assert (error["type"], error["code"], error.get("ref")) == ("error", "bad_request", None)
    send(ws, type="ping", ref=1.5)
    assert receive(ws) == {"type": "pong", "ref": 1.5}


def test_huge_numbers_in_a_query_get_400(server: RunningServer) -> None:
    token = server.token("mallory")
    ws = hello(server, "mallory")  # the room exists (a missing one is 404)
    send(ws, type="join", room="r")
    receive_until(ws, "joined")
    for query in ("limit=" + "9" * 5000, "before=" + "1" * 5000, "before=" + "0" * 30 + "7"):
        status, body, _ = server.http("GET", f"/api/rooms/r/messages?{query}", token)
        expected = 200 if query.endswith("7") else 400
        assert status == expected, (query[:20], body)
    assert not any("Traceback" in line for line in server.log)


def test_a_body_framed_two_ways_closes_the_connection(server: RunningServer) -> None:
    smuggled = (
        b"POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(smuggled)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in received.lower()
    assert received.count(b"HTTP/1.1 ") == 1  # the pipelined request was not answered


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_chatroom(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatroom", *args],
        input="a long password\n",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**clean_env(), **(env or {})},
    )


def test_the_data_dir_is_0700_and_its_files_0600_whatever_came_first(tmp_path: Path) -> None:
    # `user add` before any `serve`, with the secret in the environment.
    first = tmp_path / "first"
    added = run_chatroom("user", "add", "alice", "--data-dir", str(first), env=SECRET_ENV)
    assert added.returncode == 0, added.stderr
    assert mode(first) == 0o700
    assert [(p.name, mode(p)) for p in sorted(first.iterdir())] == [
        (name, 0o600) for name in sorted(p.name for p in first.iterdir())
    ]
    # A data dir and database made by someone else, open to all.
    open_dir = tmp_path / "open"
    open_dir.mkdir(mode=0o755)
    os.chmod(open_dir, 0o755)
    with sqlite3.connect(open_dir / "chatroom.db"):
        pass
    os.chmod(open_dir / "chatroom.db", 0o644)
    server = start_server(open_dir)
    try:
        hello(server, "bob").close()
        assert mode(open_dir) == 0o700
        files = {p.name: mode(p) for p in open_dir.iterdir()}
        assert {"chatroom.db", "chatroom.db-wal", "secret.key"} <= set(files)
        assert set(files.values()) == {0o600}
    finally:
        assert stop_server(server) == 0


def test_secrets_others_can_read_or_too_short_are_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert run_chatroom("token", "alice", "--data-dir", str(data_dir)).returncode == 0
    os.chmod(data_dir / "secret.key", 0o644)
    refused = run_chatroom("--port", "0", "--data-dir", str(data_dir))
    assert refused.returncode == 1
    assert "can be read by others (mode 0644)" in refused.stderr
    assert "Traceback" not in refused.stderr
    short = run_chatroom(
        "token", "alice", "--data-dir", str(data_dir), env={"CHATROOM_SECRET": "x"}
    )
    assert short.returncode == 1
    assert "CHATROOM_SECRET is 1 bytes; use at least 32" in short.stderr


def raw_http(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_dns_rebinding_names_are_refused(server: RunningServer, tmp_path: Path) -> None:
    rebound = f"rebind.evil.example:{server.port}"
    upgrade = upgrade_request(rebound, {"Origin": f"http://{rebound}"})
    assert raw_http(server.port, upgrade).startswith(b"HTTP/1.1 421 ")
    page = f"GET /api/rooms HTTP/1.1\r\nHost: {rebound}\r\n\r\n".encode()
    assert raw_http(server.port, page).startswith(b"HTTP/1.1 421 ")
    for name in ("localhost", "127.0.0.1", "[::1]"):
        health = f"GET /healthz HTTP/1.1\r\nHost: {name}:{server.port}\r\nConnection: close\r\n\r\n"
        assert raw_http(server.port, health.encode()).startswith(b"HTTP/1.1 200 ")

    named = start_server(tmp_path / "named", "--allowed-host", "Chat.Example")
    try:
        for host, status in (("chat.example", b"200"), ("other.example", b"421")):
            health = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            assert raw_http(named.port, health.encode()).startswith(b"HTTP/1.1 " + status)
    finally:
        assert stop_server(named) == 0


def test_a_cross_site_form_cannot_make_an_account(server: RunningServer) -> None:
    body = b'{"username":"csrf","password":"a long password"}'
    form = (
        b"POST /api/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
        b"Origin: https://evil.example\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    assert raw_http(server.port, form).startswith(b"HTTP/1.1 415 ")
    status, _, _ = server.http("POST", "/api/login", body={"username": "csrf", "password": "x" * 8})
    assert status == 401  # no such account was made


def test_joined_is_bounded_in_encoded_bytes(fast_server: RunningServer) -> None:
    writer = hello(fast_server, "writer")
    send(writer, type="join", room="escapes")
    receive_until(writer, "joined")
    for _ in range(50):  # each 4,000 characters, 24,000 bytes as \u0001 escapes
        send(writer, type="send", room="escapes", text="\u0001" * 4000)
    for _ in range(50):
        receive_until(writer, "message")
    reader = hello(fast_server, "reader")
    send(reader, type="join", room="escapes")
    text = reader.recv(timeout=TIMEOUT)
    assert isinstance(text, str)
    joined = json.loads(text)
    assert joined["type"] == "joined"
    assert len(text.encode()) <= 256 * 1024 + 4096
    assert joined["more"] is True
    assert 0 < len(joined["history"]) < 50


def http_from(
    server: RunningServer, source: str, path: str, body: dict[str, str]
) -> tuple[int, dict[str, object]]:
    """A JSON POST from another loopback address (all of 127/8 reaches the server)."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=TIMEOUT, source_address=(source, 0)
    )
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_guesses_from_one_address_do_not_lock_the_account_elsewhere(
    server: RunningServer,
) -> None:
    register(server, "carol")
    wrong = {"username": "carol", "password": "not her password"}
    statuses = [http_from(server, "127.0.0.66", "/api/login", wrong)[0] for _ in range(7)]
    assert statuses[-1] == 429
    right = {"username": "carol", "password": PASSWORD}
    assert http_from(server, "127.0.0.66", "/api/login", right)[0] == 429
    status, body = http_from(server, "127.0.0.1", "/api/login", right)
    assert (status, body["user"]) == (200, "carol")


def test_registration_is_throttled_per_address(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--register-rate", "10")
    try:
        register(server, "taken")
        taken = {"username": "taken", "password": "a long password"}
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            flood = pool.map(
                lambda _: http_from(server, "127.0.0.66", "/api/register", taken)[0], range(64)
            )
            # Meanwhile, from elsewhere, somebody logs in.
            right = {"username": "taken", "password": PASSWORD}
            login = http_from(server, "127.0.0.1", "/api/login", right)
            statuses = list(flood)
        assert login[0] == 200
        assert statuses.count(409) == 10
        assert statuses.count(429) == 54
    finally:
        assert stop_server(server) == 0


HEALTH = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"


def keep_alive_client(port: int, source: str) -> socket.socket:
    """A plain-HTTP client from `source` that made one request and now idles."""
    sock = socket.create_connection(
        ("127.0.0.1", port), timeout=TIMEOUT, source_address=(source, 0)
    )
    health(sock)
    return sock


def health(sock: socket.socket) -> None:
    sock.sendall(HEALTH)
    response = b""
    while not response.endswith(b"}"):  # the whole JSON body
        response += sock.recv(65536)
    assert response.startswith(b"HTTP/1.1 200 ")


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def test_idle_keep_alive_sockets_cannot_hold_every_slot(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "data", "--max-unauthenticated", "12", "--max-unauthenticated-per-address", "4"
    )
    try:
        # One address gets four slots; a fifth socket takes its own oldest one.
        first = keep_alive_client(server.port, "127.0.0.2")
        mine = [keep_alive_client(server.port, "127.0.0.2") for _ in range(4)]
        assert closed_by_server(first)
        # Three addresses fill every slot...
        others = [keep_alive_client(server.port, f"127.0.0.{n}") for n in (3, 4) for _ in range(4)]
        # ...and still a new client is served, in place of the longest idle.
        status, body, _ = server.http("GET", "/healthz")
        assert (status, body["status"]) == (200, "ok")
        assert closed_by_server(mine[0])
        hello(server, "newcomer").close()
        # With the slots nearly all taken, a keep-alive ends after 2 s of quiet.
        busy = others[-1]
        health(busy)
        busy.settimeout(5)
        assert closed_by_server(busy)
        for sock in [*mine, *others]:
            sock.close()
    finally:
        assert stop_server(server) == 0


def test_room_creation_is_capped_per_user(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--room-create-rate", "10")
    try:
        maker = hello(server, "maker")
        for i in range(10):
            send(maker, type="join", room=f"new-{i}")
            receive_until(maker, "joined")
        send(maker, type="join", room="one-too-many", ref="x")
        refused = receive_until(maker, "error")
        assert (refused["code"], refused["ref"]) == ("rate_limited", "x")
        assert refused["retry_after_ms"] > 0
        other = hello(server, "other")
        send(other, type="join", room="new-1", ref="old")  # joining is not creating
        assert receive_until(other, "joined")["ref"] == "old"
    finally:
        assert stop_server(server) == 0


def test_room_listing_comes_in_bounded_pages(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--frame-rate", "1000000")
    try:
        makers = [hello(server, f"maker{i}") for i in range(5)]
        for i in range(250):
            send(makers[i % 5], type="join", room=f"room-{i:03d}")
        for maker in makers:
            for _ in range(50):
                receive_until(maker, "joined")
        reader = hello(server, "reader")
        send(reader, type="rooms")
        first = receive_until(reader, "rooms")
        assert (len(first["rooms"]), first["more"]) == (100, True)
        assert first["rooms"][0] == {"room": "room-000", "count": 1, "private": False}
        send(reader, type="rooms", after=first["rooms"][-1]["room"], limit=200)
        rest = receive_until(reader, "rooms")
        names = [r["room"] for r in first["rooms"] + rest["rooms"]]
        assert names == [f"room-{i:03d}" for i in range(250)]
        assert rest["more"] is False
        send(reader, type="rooms", prefix="ROOM-24")
        assert [r["room"] for r in receive_until(reader, "rooms")["rooms"]] == [
            f"room-{i}" for i in range(240, 250)
        ]
        status, body, _ = server.http(
            "GET", "/api/rooms?prefix=room-1&limit=5", server.token("reader")
        )
        assert (status, len(body["rooms"]), body["more"]) == (200, 5, True)
    finally:
        assert stop_server(server) == 0


LIFTED = ("--send-rate", "1000000", "--frame-rate", "1000000", "--storage-rate", "1000000")
BIG = "長" * 3990  # about 12 KB of UTF-8


def fill(server: RunningServer, room: str, count: int, user: str = "filler") -> None:
    writer = hello(server, user)
    send(writer, type="join", room=room)
    receive_until(writer, "joined")
    for start in range(0, count, 20):  # reading as it goes: its own queue stays small
        for i in range(start, min(count, start + 20)):
            send(writer, type="send", room=room, text=f"{i} {BIG}")
        for _ in range(start, min(count, start + 20)):
            receive_until(writer, "message")
    writer.close()


def metric(server: RunningServer, name: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return int(float(next(line.split()[1] for line in text.splitlines() if line.startswith(name))))


def test_old_history_is_read_outside_the_room_and_costs_by_size(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", *LIFTED)
    try:
        fill(server, "archive", 1200)
        member, other = hello(server, "member"), hello(server, "other")
        for ws in (member, other):
            send(ws, type="join", room="archive")
            receive_until(ws, "joined")
        hog = hello(server, "hog")
        codes = []
        for _ in range(200):  # joins with since 0 (the frame rate is lifted)
            send(hog, type="join", room="archive", since=0)
            frame = receive(hog)
            while frame["type"] not in ("joined", "error"):
                frame = receive(hog)
            codes.append(frame.get("code", "joined"))
            if frame["type"] == "error":
                break
            if frame["type"] == "joined":
                assert len(json.dumps(frame, ensure_ascii=False).encode()) < 300 * 1024
                assert frame["truncated"] is True
        # Each reads what it gives, 256 KiB; the burst is 8 MiB.
        assert codes[:20] == ["joined"] * 20
        assert codes[-1] == "rate_limited"
        # The room went on serving its members meanwhile.
        send(member, type="send", room="archive", text="still here")
        assert receive_until(other, "message")["text"] == "still here"
        # Over HTTP the same, per address.
        token = server.token("reader")
        statuses: list[int] = []
        while len(statuses) < 200 and 429 not in statuses:
            statuses.append(server.http("GET", "/api/rooms/archive/messages?limit=200", token)[0])
        assert statuses[:20] == [200] * 20
        assert statuses[-1] == 429
    finally:
        assert stop_server(server) == 0


def test_recent_messages_in_memory_have_one_budget_for_all_rooms(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, *LIFTED)
    try:
        for n in range(12):
            fill(server, f"full-{n}", 200)
    finally:
        assert stop_server(server) == 0
    server = start_server(data_dir, "--history-cache-mib", "1", "--frame-rate", "1000")
    try:
        reader = hello(server, "reader")
        for n in range(12):  # about 2.4 MiB of recent messages each
            send(reader, type="join", room=f"full-{n}")
            joined = receive_until(reader, "joined")
            # Memory holds a few of each; the rest of the page is read for the joiner.
            assert len(joined["history"]) >= 15
        cached = metric(server, "chatroom_history_cache_bytes")
        assert 512 * 1024 < cached <= 1024 * 1024
    finally:
        assert stop_server(server) == 0


def test_each_user_may_store_only_so_much_an_hour(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--storage-rate", "30")  # KiB an hour
    try:
        writer = hello(server, "writer")
        send(writer, type="join", room="disk")
        receive_until(writer, "joined")
        for _ in range(2):
            send(writer, type="send", room="disk", text=BIG)
            assert receive_until(writer, "message")["user"] == "writer"
        send(writer, type="send", room="disk", text=BIG, ref="third")
        refused = receive(writer)
        assert (refused["code"], refused["ref"]) == ("rate_limited", "third")
        assert refused["retry_after_ms"] > 60_000
        send(writer, type="send", room="disk", text="a short one still fits")
        assert receive_until(writer, "message")["text"] == "a short one still fits"
    finally:
        assert stop_server(server) == 0


def test_logins_sent_all_at_once_are_held_to_the_address_limit(server: RunningServer) -> None:
    def guess(i: int) -> int:
        body = {"username": f"sprayed{i}", "password": "Summer2026!"}
        return http_from(server, "127.0.0.77", "/api/login", body)[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(guess, range(40)))
    assert statuses.count(401) <= 21  # 20 names free, then the address waits
    assert statuses.count(429) >= 19
