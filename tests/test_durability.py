"""Black-box: accounts, and history that survives restarts, crashes and
reconnects, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import concurrent.futures
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
from tests.postgres import PostgresServer

PASSWORD = "correct horse battery"


def register(server: RunningServer, user: str, password: str = PASSWORD) -> str:
    status, body, _ = server.http(
        "POST", "/api/register", body={"username": user, "password": password}
    )
    assert status == 201, body
    assert body["user"] == user
    token: str = body["token"]
    return token


def test_register_login_and_their_errors(server: RunningServer) -> None:
    token = register(server, "alice")
    status, body, _ = server.http(
        "POST", "/api/register", body={"username": "alice", "password": PASSWORD}
    )
    assert status == 409
    assert (
        server.http("POST", "/api/register", body={"username": "bad name", "password": PASSWORD})[0]
        == 400
    )
    assert (
        server.http("POST", "/api/register", body={"username": "bob", "password": "short"})[0]
        == 400
    )
    assert server.http("POST", "/api/register", body=["not", "an", "object"])[0] == 400
    assert server.http("GET", "/api/register")[0] == 405

    status, body, _ = server.http(
        "POST", "/api/login", body={"username": "alice", "password": PASSWORD}
    )
    assert status == 200
    assert set(body) == {"user", "token", "expires"}
    hello(server, "alice", token=body["token"]).close()
    hello(server, "alice", token=token).close()

    wrong = server.http(
        "POST", "/api/login", body={"username": "alice", "password": "wrong password"}
    )
    missing = server.http(
        "POST", "/api/login", body={"username": "nobody", "password": "wrong password"}
    )
    assert wrong[0] == missing[0] == 401
    assert wrong[1]["error"]["message"] == "invalid username or password"
    # A name registration would accept is said to have no account (as a
    # sign-up would tell anyway); see tests/test_names_and_invitations.py.
    assert missing[1]["error"]["no_account"] is True
    secret = (server.data_dir / "secret.key").read_text().strip()
    assert not any(PASSWORD in line or "argon2" in line or secret in line for line in server.log)


def test_repeated_failed_logins_are_slowed_down(server: RunningServer) -> None:
    register(server, "carol")
    statuses = [
        server.http("POST", "/api/login", body={"username": "carol", "password": f"guess {i}!"})
        for i in range(7)
    ]
    assert [s[0] for s in statuses[:5]] == [401] * 5
    status, body, headers = statuses[6]
    assert status == 429
    assert body["error"]["code"] == "rate_limited"
    assert int(headers["Retry-After"]) >= 1
    # The right password waits too, until Retry-After has passed.
    assert (
        server.http("POST", "/api/login", body={"username": "carol", "password": PASSWORD})[0]
        == 429
    )


def test_one_users_failed_logins_do_not_lock_out_the_address(server: RunningServer) -> None:
    register(server, "alice")
    register(server, "bob")
    for i in range(6):
        server.http("POST", "/api/login", body={"username": "alice", "password": f"typo {i}!!"})
    time.sleep(3)
    for user in ("alice", "bob"):
        status, body, _ = server.http(
            "POST", "/api/login", body={"username": user, "password": PASSWORD}
        )
        assert (status, body["user"]) == (200, user)


def test_parallel_guesses_are_throttled_too(server: RunningServer) -> None:
    register(server, "target")
    guess = {"username": "target", "password": "wrong but long"}
    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(
            pool.map(lambda _: server.http("POST", "/api/login", body=guess)[0], range(30))
        )
    assert statuses.count(401) <= 6
    assert statuses.count(429) >= 24


def test_closed_registration_and_user_add(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    added = subprocess.run(
        [sys.executable, "-m", "chatroom", "user", "add", "dave", "--data-dir", str(data_dir)],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=clean_env(),
    )
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    running = start_server(data_dir, "--registration", "closed")
    try:
        status, body, _ = running.http(
            "POST", "/api/register", body={"username": "eve", "password": PASSWORD}
        )
        assert (status, body["error"]["code"]) == (403, "forbidden")
        assert (
            running.http("POST", "/api/login", body={"username": "dave", "password": PASSWORD})[0]
            == 200
        )
    finally:
        assert stop_server(running) == 0


def chat_then_restart(data_dir: Path, *args: str, stop: signal.Signals) -> None:
    running = start_server(data_dir, *args)
    token = register(running, "frank")
    ws = hello(running, "frank", token)
    send(ws, type="join", room="lobby")
    receive_until(ws, "joined")
    for i in range(3):
        send(ws, type="send", room="lobby", text=f"before {stop.name} {i}")
    seen = [receive_until(ws, "message") for _ in range(3)]
    assert [m["id"] for m in seen] == [1, 2, 3]
    stop_server(running, stop)

    again = start_server(data_dir, *args)
    try:
        ws = hello(again, "frank", token)
        send(ws, type="join", room="lobby")
        joined = receive_until(ws, "joined")
        assert joined["history"] == seen
        send(ws, type="send", room="lobby", text="after")
        assert receive_until(ws, "message")["id"] == 4
        login = {"username": "frank", "password": PASSWORD}
        assert again.http("POST", "/api/login", body=login)[0] == 200
        ws.close()
    finally:
        assert stop_server(again) == 0


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_history_and_accounts_survive_a_restart(tmp_path: Path, stop: signal.Signals) -> None:
    chat_then_restart(tmp_path / "data", stop=stop)


def test_reconnect_with_since_gets_exactly_what_was_missed(server: RunningServer) -> None:
    writer = hello(server, "writer")
    reader = hello(server, "reader")
    for ws in (writer, reader):
        send(ws, type="join", room="r")
        receive_until(ws, "joined")
    send(writer, type="send", room="r", text="seen by both")
    last_seen = receive_until(reader, "message")["id"]
    assert receive_until(writer, "message")["id"] == last_seen
    reader.close()
    for i in range(30):
        send(writer, type="send", room="r", text=f"missed {i}")
    missed = [receive_until(writer, "message") for _ in range(30)]

    reader = hello(server, "reader")
    send(reader, type="join", room="r", since=last_seen)
    joined = receive_until(reader, "joined")
    assert joined["history"] == missed

    send(reader, type="history", room="r", before=missed[10]["id"], limit=5, ref="h")
    page = receive_until(reader, "history")
    assert [m["id"] for m in page["messages"]] == [m["id"] for m in missed[5:10]]
    token = server.token("reader")
    status, body, _ = server.http(
        "GET", f"/api/rooms/r/messages?before={missed[10]['id']}&limit=5", token
    )
    assert (status, body["messages"]) == (200, page["messages"])
    assert server.http("GET", "/api/rooms/r/messages?limit=0", token)[0] == 400
    assert server.http("GET", "/api/rooms/r/messages")[0] == 401


def test_postgresql_backend_and_an_outage(tmp_path: Path) -> None:
    postgres = PostgresServer.create()
    try:
        url = postgres.new_database()
        running = start_server(tmp_path / "data", "--database", url)
        try:
            token = register(running, "grace")
            ws = hello(running, "grace", token)
            send(ws, type="join", room="pg")
            receive_until(ws, "joined")
            send(ws, type="send", room="pg", text="one")
            assert receive_until(ws, "message")["id"] == 1

            postgres.stop()
            send(ws, type="send", room="pg", text="lost?", ref="down")
            error = receive(ws)
            assert (error["code"], error["ref"]) == ("unavailable", "down")
            status, body, _ = running.http("GET", "/api/rooms/pg/messages", token)
            assert (status, body["error"]["code"]) == (503, "unavailable")
            send(ws, type="join", room="new-room", ref="j")
            assert receive(ws)["code"] == "unavailable"
            send(ws, type="send", room="new-room", text="not joined", ref="s")
            assert receive(ws)["code"] == "not_member"

            postgres.start()
            send(ws, type="send", room="pg", text="two")
            message = receive_until(ws, "message")
            assert (message["id"], message["text"]) == (2, "two")
            status, body, _ = running.http("GET", "/api/rooms/pg/messages", token)
            assert [m["text"] for m in body["messages"]] == ["one", "two"]
            ws.close()
        finally:
            assert stop_server(running) == 0
        chat_then_restart(
            tmp_path / "data2", "--database", postgres.new_database(), stop=signal.SIGKILL
        )
    finally:
        postgres.destroy()
