"""Read markers and unread counts (protocol 1.1, "Typing and read markers")
over real sockets and a restart; typing between two clients."""

from __future__ import annotations

import time
from pathlib import Path

from websockets.sync.client import ClientConnection

from tests.blackbox import (
    RunningServer,
    error_code,
    hello,
    receive_until,
    said,
    send,
    start_server,
    stop_server,
)
from tests.conftest import UNLIMITED_RATES

# Read markers are written to the database in batches, this often at most.
WRITTEN = 0.5 + 0.5


def unread(ws: ClientConnection) -> dict[str, int]:
    send(ws, type="rooms")
    return {r["room"]: r["unread"] for r in receive_until(ws, "rooms")["rooms"] if "unread" in r}


def test_read_markers_move_forward_reach_every_device_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path / "data", *UNLIMITED_RATES)
    try:
        alice = hello(server, "alice")
        send(alice, type="join", room="r")
        assert receive_until(alice, "joined")["read"] is None  # nothing read yet
        phone = hello(server, "alice")  # in no room: told all the same
        bob = hello(server, "bob")
        send(bob, type="join", room="r")
        receive_until(bob, "joined")
        ids = [said(bob, "r", f"m{i}") for i in range(5)]

        send(alice, type="read", room="r", id=ids[2], ref="rd")
        marker = {"type": "read", "room": "r", "id": ids[2]}
        assert receive_until(alice, "read") == marker | {"ref": "rd"}
        assert receive_until(phone, "read") == marker
        send(alice, type="read", room="r", id=ids[0], ref="back")  # never moves back
        assert receive_until(alice, "read")["id"] == ids[2]
        send(alice, type="read", room="r", id=10**6, ref="far")  # not past the last message
        assert receive_until(alice, "read")["id"] == ids[4]
        assert receive_until(phone, "read")["id"] == ids[4]
        assert error_code(bob, type="read", room="elsewhere", id=1) == "not_member"

        time.sleep(WRITTEN)
        assert unread(phone) == {"r": 0}
        said(bob, "r", "after")
        said(bob, "r", "and after")
        assert unread(phone) == {"r": 2}
        status, body, _ = server.http("GET", "/api/rooms", server.token("alice"))
        assert (status, body["rooms"][0]["unread"]) == (200, 2)
        laptop = hello(server, "alice")
        send(laptop, type="join", room="r")
        assert receive_until(laptop, "joined")["read"] == ids[4]
    finally:
        assert stop_server(server) == 0
    again = start_server(tmp_path / "data", *UNLIMITED_RATES)
    try:
        alice = hello(again, "alice", again.token("alice"))
        assert unread(alice) == {"r": 2}
        send(alice, type="join", room="r")
        assert receive_until(alice, "joined")["read"] == ids[4]
    finally:
        assert stop_server(again) == 0


def test_typing_reaches_the_other_members(fast_server: RunningServer) -> None:
    alice, bob = hello(fast_server, "alice"), hello(fast_server, "bob")
    for ws in (alice, bob):
        send(ws, type="join", room="r")
        receive_until(ws, "joined")
    send(alice, type="typing", room="r")
    assert receive_until(bob, "typing") == {"type": "typing", "room": "r", "user": "alice"}
    assert error_code(alice, type="typing", room="nowhere") == "not_member"
