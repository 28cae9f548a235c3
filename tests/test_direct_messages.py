"""Direct messages (protocol 1.1, "Direct messages") over real sockets, HTTP
and a restart."""

from __future__ import annotations

from pathlib import Path

from websockets.sync.client import ClientConnection

from tests.blackbox import (
    RunningServer,
    error_code,
    hello,
    receive_until,
    send,
    start_server,
    stop_server,
)
from tests.conftest import UNLIMITED_RATES

ROOM = "@alice,Bob"


def known(server: RunningServer, user: str) -> ClientConnection:
    """`user`'s connection, once the server has recorded their hello (the
    record is written before the join that follows it)."""
    ws = hello(server, user)
    send(ws, type="join", room="lobby")
    receive_until(ws, "joined")
    return ws


def listing(ws: ClientConnection) -> list[dict[str, object]]:
    send(ws, type="rooms")
    return [r for r in receive_until(ws, "rooms")["rooms"] if r["room"] != "lobby"]


def test_direct_rooms_reach_both_users_and_nobody_else(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", *UNLIMITED_RATES)
    try:
        alice = hello(server, "alice")
        assert error_code(alice, type="direct", user="Bob") == "not_found"  # never said hello
        assert error_code(alice, type="direct", user="ALICE") == "bad_request"
        newcomer = hello(server, "newcomer")  # known from their first hello on
        send(newcomer, type="direct", user="alice")
        assert receive_until(newcomer, "joined")["room"] == "@alice,newcomer"
        bob_phone = known(server, "Bob")
        bob_laptop = hello(server, "Bob")  # joined nowhere
        alice_other = hello(server, "alice")

        send(alice, type="direct", user="bob", ref="d")
        joined = receive_until(alice, "joined")
        assert (joined["room"], joined["ref"], joined["info"]["private"]) == (ROOM, "d", True)
        assert joined["info"]["owner"] is None
        send(alice, type="send", room=ROOM, text="hi bob", ref="s")
        assert receive_until(alice, "message")["ref"] == "s"
        for ws in (bob_phone, bob_laptop, alice_other):  # none of them joined it
            message = receive_until(ws, "message")
            assert (message["room"], message["user"], message["text"]) == (ROOM, "alice", "hi bob")

        eve = known(server, "eve")
        # Refused alike whether the pair talks or not: nobody learns who does.
        refusals = set()
        for room in (ROOM, "@bob,carl"):
            send(eve, type="join", room=room, ref="in?")
            refusal = receive_until(eve, "error")
            refusals.add((refusal["code"], refusal["message"]))
        assert len(refusals) == 1 and refusals.pop()[0] == "forbidden"
        for room in (ROOM, "@bob,carl"):
            status, _, _ = server.http("GET", f"/api/rooms/{room}/messages", server.token("eve"))
            assert status == 404
        assert error_code(eve, type="join", room="@Bob,alice") == "bad_request"  # not in order
        assert error_code(eve, type="direct", user="nobody") == "not_found"
        assert listing(eve) == []
        status, _, _ = server.http("GET", f"/api/rooms/{ROOM}/messages", server.token("eve"))
        assert status == 404
        status, body, _ = server.http("GET", f"/api/rooms/{ROOM}/messages", server.token("bob"))
        assert (status, [m["text"] for m in body["messages"]]) == (200, ["hi bob"])
        assert listing(bob_laptop) == [
            {"room": ROOM, "count": 1, "private": True, "direct": True, "unread": 1}
        ]

        send(bob_laptop, type="direct", user="ALICE")
        joined = receive_until(bob_laptop, "joined")
        assert (joined["room"], [m["text"] for m in joined["history"]]) == (ROOM, ["hi bob"])
        for frame in (
            {"type": "topic", "room": ROOM, "topic": "ours"},  # nobody runs a direct room
            {"type": "kick", "room": ROOM, "user": "alice"},
            {"type": "invite", "room": ROOM, "user": "eve"},
            {"type": "create", "room": "@a,b"},
        ):
            assert error_code(bob_laptop, **frame) in ("forbidden", "bad_request")
    finally:
        assert stop_server(server) == 0
    again = start_server(tmp_path / "data", *UNLIMITED_RATES)
    try:
        bob = hello(again, "Bob")
        send(bob, type="join", room=ROOM, since=0)
        assert [m["text"] for m in receive_until(bob, "joined")["history"]] == ["hi bob"]
        eve = hello(again, "eve")
        assert error_code(eve, type="join", room=ROOM) == "forbidden"
        send(eve, type="direct", user="alice")  # known from before the restart
        assert receive_until(eve, "joined")["room"] == "@alice,eve"
    finally:
        assert stop_server(again) == 0
