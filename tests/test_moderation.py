"""Owners, moderators and topics (protocol 1.1, "Private rooms, roles,
moderation": the part built so far) over real sockets and a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection

from tests.blackbox import (
    RunningServer,
    connect_ws,
    error_code,
    hello,
    receive_until,
    said,
    send,
    start_server,
    stop_server,
)
from tests.conftest import UNLIMITED_RATES


def enter(server: RunningServer, user: str, room: str = "club") -> tuple[ClientConnection, Any]:
    ws = hello(server, user)
    send(ws, type="join", room=room)
    return ws, receive_until(ws, "joined")


def done(ws: ClientConnection, **frame: Any) -> None:
    send(ws, ref="ok", **frame)
    assert receive_until(ws, "done") == {"type": "done", "ref": "ok"}


def test_owner_moderators_and_topic(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", *UNLIMITED_RATES)
    try:
        olga, joined = enter(server, "Olga")
        assert joined["info"] == {
            "private": False,
            "topic": "",
            "owner": "Olga",
            "moderators": [],
            "archived": False,
        }
        assert joined["members"][0]["role"] == "owner"  # the first joiner owns the room
        bob, _ = enter(server, "bob")
        carol, joined = enter(server, "carol")
        assert [m["role"] for m in joined["members"]] == ["owner", "member", "member"]

        assert error_code(bob, type="topic", room="club", topic="mine now") == "forbidden"
        done(olga, type="topic", room="club", topic="Knitting, mostly")
        assert receive_until(carol, "room")["info"]["topic"] == "Knitting, mostly"

        assert error_code(bob, type="role", room="club", user="carol", role="moderator") == (
            "forbidden"
        )
        done(olga, type="role", room="club", user="bob", role="moderator")
        assert receive_until(carol, "room")["info"]["moderators"] == ["bob"]
        send(carol, type="members", room="club")
        roles = {m["user"]: m["role"] for m in receive_until(carol, "members")["members"]}
        assert roles == {"Olga": "owner", "bob": "moderator", "carol": "member"}
        # A moderator sets topics and deletes anyone's messages, but no roles.
        done(bob, type="topic", room="club", topic="Knitting only")
        assert error_code(bob, type="role", room="club", user="carol", role="moderator") == (
            "forbidden"
        )
        assert error_code(olga, type="role", room="club", user="Olga", role="member") == "forbidden"
        spam = said(carol, "club", "spam")
        hi = said(olga, "club", "hello")
        assert error_code(carol, type="delete", room="club", id=hi) == "forbidden"
        assert error_code(bob, type="edit", room="club", id=spam, text="nicer") == "forbidden"
        send(bob, type="delete", room="club", id=spam)
        assert receive_until(carol, "deleted") == {
            "type": "deleted", "room": "club", "id": spam, "by": "bob",
        }  # fmt: skip
        send(bob, type="delete", room="club", id=hi)  # even the owner's (as the protocol says)
        while receive_until(olga, "deleted")["id"] != hi:
            pass
    finally:
        assert stop_server(server) == 0
    again = start_server(tmp_path / "data")
    try:
        _, joined = enter(again, "dave")
        assert joined["info"] == {
            "private": False,
            "topic": "Knitting only",
            "owner": "Olga",
            "moderators": ["bob"],
            "archived": False,
        }
    finally:
        assert stop_server(again) == 0


def test_kick_and_ban_reach_every_connection_and_bans_hold(fast_server: RunningServer) -> None:
    olga, _ = enter(fast_server, "olga")
    bob, _ = enter(fast_server, "bob")
    bob_again, _ = enter(fast_server, "bob")  # a second device
    mo, _ = enter(fast_server, "mo")
    done(olga, type="role", room="club", user="mo", role="moderator")
    assert error_code(bob, type="kick", room="club", user="mo") == "forbidden"
    assert error_code(mo, type="kick", room="club", user="olga") == "forbidden"

    send(olga, type="kick", room="club", user="bob", reason="calm down", ref="k")
    for ws in (bob, bob_again):
        assert receive_until(ws, "kicked") == {
            "type": "kicked", "room": "club", "by": "olga", "reason": "calm down",
        }  # fmt: skip
    assert receive_until(olga, "done")["ref"] == "k"
    while receive_until(mo, "presence") != {
        "type": "presence", "room": "club", "event": "leave", "user": "bob",
    }:  # fmt: skip
        pass
    assert error_code(bob, type="send", room="club", text="still here?") == "not_member"
    again = connect_ws(fast_server)  # kicked: no longer among bob's rooms
    send(again, type="hello", token=fast_server.token("bob"))
    assert [r["room"] for r in receive_until(again, "welcome")["rooms"]] == []
    send(bob, type="join", room="club")  # a kick is not a ban
    receive_until(bob, "joined")
    again = connect_ws(fast_server)  # and joined again, it is among bob's rooms again
    send(again, type="hello", token=fast_server.token("bob"))
    assert [r["room"] for r in receive_until(again, "welcome")["rooms"]] == ["club"]

    done(mo, type="ban", room="club", user="bob", reason="spam")
    assert receive_until(bob, "kicked")["reason"] == "spam"
    assert error_code(bob, type="join", room="club") == "forbidden"
    fresh = hello(fast_server, "bob")  # a refused join is not among bob's rooms either
    assert error_code(fresh, type="join", room="club") == "forbidden"
    again = connect_ws(fast_server)
    send(again, type="hello", token=fast_server.token("bob"))
    assert [r["room"] for r in receive_until(again, "welcome")["rooms"]] == []
    assert error_code(mo, type="ban", room="club", user="olga") == "forbidden"
    done(mo, type="unban", room="club", user="bob")
    send(bob, type="join", room="club")
    assert receive_until(bob, "joined")["room"] == "club"
