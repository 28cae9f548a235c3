"""`python -m chatroom user ban|unban|logout|password|list` against a running
server: live sessions end within 5 s, tokens are refused over WebSocket and
HTTP, and what a logout leaves alone keeps working."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from tests.blackbox import (
    RunningServer,
    close_code,
    connect_ws,
    hello,
    receive,
    run_chatroom,
    send,
    start_server,
    stop_server,
)

PASSWORD = "correct horse battery"
CLOSE_UNAUTHORIZED = 4401


def user(
    server: RunningServer, *args: str, password: str = "", check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run_chatroom(
        "user", *args, "--data-dir", str(server.data_dir), stdin=password, check=check
    )


def login(server: RunningServer, name: str, password: str = PASSWORD) -> tuple[int, Any]:
    status, body, _ = server.http(
        "POST", "/api/login", body={"username": name, "password": password}
    )
    return status, body


def refused_at_hello(server: RunningServer, token: str) -> str:
    ws = connect_ws(server)
    send(ws, type="hello", token=token)
    error = receive(ws)
    assert error["code"] == "unauthorized"
    assert close_code(ws) == CLOSE_UNAUTHORIZED
    message: str = error["message"]
    return message


def closed_within(ws: Any, seconds: float) -> int:
    started = time.monotonic()
    code = close_code(ws)
    assert time.monotonic() - started < seconds
    return code


def test_ban_unban_logout_and_a_new_password(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        status, body, _ = server.http(
            "POST", "/api/register", body={"username": "alice", "password": PASSWORD}
        )
        assert status == 201
        token = body["token"]
        bob_token = server.token("bob")  # no account: a token minted elsewhere

        live, bobs = hello(server, "alice", token), hello(server, "bob", bob_token)
        user(server, "ban", "alice")
        assert closed_within(live, 5.0) == CLOSE_UNAUTHORIZED
        assert "banned" in refused_at_hello(server, token)
        assert server.http("GET", "/api/rooms", token)[0] == 401
        status, body = login(server, "alice")
        assert (status, body["error"]["code"]) == (403, "forbidden")  # no new token either
        send(bobs, type="ping", ref="still here")
        assert receive(bobs)["type"] == "pong"  # nobody else

        user(server, "ban", "bob")
        assert closed_within(bobs, 5.0) == CLOSE_UNAUTHORIZED
        listing = user(server, "list").stdout.splitlines()
        assert [line.split("\t")[0::2] for line in listing] == [["alice", "banned"]]

        user(server, "unban", "alice")
        time.sleep(3)  # every server has read it
        hello(server, "alice", token).close()
        assert server.http("GET", "/api/rooms", token)[0] == 200

        live = hello(server, "alice", token)
        user(server, "logout", "alice")
        assert closed_within(live, 5.0) == CLOSE_UNAUTHORIZED
        assert "revoked" in refused_at_hello(server, token)
        assert server.http("GET", "/api/rooms", token)[0] == 401
        time.sleep(1.1)  # tokens carry their time to the second
        status, body = login(server, "alice")
        assert status == 200
        hello(server, "alice", body["token"]).close()  # issued after the logout

        user(server, "password", "alice", password="a new and longer passphrase\n")
        assert login(server, "alice")[0] == 401
        assert login(server, "alice", "a new and longer passphrase")[0] == 200
        assert "banned" in refused_at_hello(server, bob_token)
    finally:
        assert stop_server(server) == 0


def test_a_ban_outlives_a_restart_and_unknown_accounts_are_named(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        token = server.token("carol")
        user(server, "ban", "carol")
    finally:
        assert stop_server(server) == 0
    server = start_server(tmp_path / "data")
    try:
        assert "banned" in refused_at_hello(server, token)
        missing = user(server, "password", "nobody", password="a long enough pass\n", check=False)
        assert missing.returncode == 1
        assert "no user 'nobody'" in missing.stderr
    finally:
        assert stop_server(server) == 0


def test_each_action_says_what_it_did(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    said = {
        action: run_chatroom("user", action, "dave", "--data-dir", data, check=True).stderr
        for action in ("ban", "unban", "logout")
    }
    assert said == {
        "ban": "banned dave; servers close their sessions within 5 s\n",
        "unban": "unbanned dave; servers let them in again within 5 s\n",
        "logout": "logged out dave; servers close their sessions within 5 s\n",
    }
