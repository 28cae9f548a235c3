"""Private rooms: `create`, invitations, who may join, list and read them
(protocol 1.1, "Private rooms, roles, moderation"), over real sockets, HTTP
and a restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

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


def listed(server: RunningServer, ws: ClientConnection, user: str) -> list[tuple[str, bool]]:
    """The rooms `user` sees, asked over WebSocket and HTTP (which must agree)."""
    send(ws, type="rooms")
    rooms = receive_until(ws, "rooms")["rooms"]
    status, body, _ = server.http("GET", "/api/rooms", server.token(user))
    assert (status, body["rooms"]) == (200, rooms)
    return [(r["room"], r["private"]) for r in rooms]


def read_over_http(server: RunningServer, user: str, room: str) -> tuple[int, int]:
    """The status of the room's history and of its members over HTTP."""
    token = server.token(user)
    history, _, _ = server.http("GET", f"/api/rooms/{quote(room)}/messages", token)
    members, _, _ = server.http("GET", f"/api/rooms/{quote(room)}/members", token)
    return history, members


def create(ws: ClientConnection, room: str, **options: Any) -> dict[str, Any]:
    send(ws, type="create", room=room, ref="new", **options)
    joined = receive_until(ws, "joined")
    assert joined["ref"] == "new"
    return joined


def test_create_makes_and_joins_a_room_once(fast_server: RunningServer) -> None:
    olga = hello(fast_server, "olga")
    joined = create(olga, "Plans", private=True, topic="Q3")
    assert joined["info"] == {
        "private": True,
        "topic": "Q3",
        "owner": "olga",
        "moderators": [],
        "archived": False,
    }
    assert joined["members"][0]["role"] == "owner"
    create(olga, "Open")  # `private` and `topic` are optional
    eve = hello(fast_server, "eve")
    send(eve, type="join", room="lobby")
    receive_until(eve, "joined")
    for name in ("plans", "OPEN", "lobby"):  # names are taken without regard to case
        assert error_code(eve, type="create", room=name, private=False) == "conflict"
    assert error_code(eve, type="create", room="x", private="yes") == "bad_request"
    assert error_code(eve, type="create", room="x", topic="t" * 201) == "bad_request"
    assert error_code(eve, type="create", room="no spaces") == "bad_request"


def test_private_rooms_are_for_the_invited_only(fast_server: RunningServer) -> None:
    olga = hello(fast_server, "olga")
    create(olga, "plans", private=True)
    send(olga, type="send", room="plans", text="the plan")
    receive_until(olga, "message")
    eve = hello(fast_server, "eve")
    send(eve, type="join", room="plans", ref="in?")
    refused = receive_until(eve, "error")
    assert (refused["code"], refused["ref"]) == ("forbidden", "in?")
    assert "invite" in refused["message"]
    assert listed(fast_server, eve, "eve") == []
    assert read_over_http(fast_server, "eve", "plans") == (404, 404)
    assert read_over_http(fast_server, "olga", "plans") == (200, 200)
    assert listed(fast_server, olga, "olga") == [("plans", True)]

    # Members cannot invite; invitations exist in private rooms only.
    create(olga, "public")
    ivy_elsewhere = hello(fast_server, "ivy")  # a connection in no room hears of it too
    ivy = hello(fast_server, "ivy")
    send(ivy, type="join", room="public")
    receive_until(ivy, "joined")
    assert error_code(olga, type="invite", room="public", user="ivy") == "bad_request"
    assert error_code(ivy, type="invite", room="public", user="eve") == "forbidden"

    send(olga, type="invite", room="plans", user="ivy", ref="inv")
    assert receive_until(olga, "invited") == {
        "type": "invited", "room": "plans", "user": "ivy", "ref": "inv",
    }  # fmt: skip
    for ws in (ivy, ivy_elsewhere):
        assert receive_until(ws, "invitation") == {
            "type": "invitation", "room": "plans", "by": "olga",
        }  # fmt: skip
    assert listed(fast_server, ivy_elsewhere, "ivy") == [("plans", True), ("public", False)]
    assert read_over_http(fast_server, "ivy", "plans") == (200, 200)
    send(ivy, type="join", room="plans")
    assert [m["text"] for m in receive_until(ivy, "joined")["history"]] == ["the plan"]
    assert listed(fast_server, eve, "eve") == [("public", False)]


def test_a_kick_withdraws_the_invitation_and_a_ban_refuses_new_ones(
    fast_server: RunningServer,
) -> None:
    olga = hello(fast_server, "olga")
    create(olga, "plans", private=True)
    ivy = hello(fast_server, "ivy")
    send(olga, type="invite", room="plans", user="ivy")
    receive_until(olga, "invited")
    send(ivy, type="join", room="plans")
    receive_until(ivy, "joined")

    send(olga, type="kick", room="plans", user="ivy", reason="later")
    assert receive_until(ivy, "kicked")["reason"] == "later"
    assert error_code(ivy, type="join", room="plans") == "forbidden"
    assert listed(fast_server, ivy, "ivy") == []
    assert read_over_http(fast_server, "ivy", "plans") == (404, 404)

    send(olga, type="ban", room="plans", user="ivy", ref="b")
    receive_until(olga, "done")
    assert error_code(olga, type="invite", room="plans", user="ivy") == "forbidden"
    send(olga, type="unban", room="plans", user="ivy", ref="u")
    receive_until(olga, "done")
    send(olga, type="invite", room="plans", user="IVY", ref="again")  # any case
    assert receive_until(olga, "invited")["user"] == "ivy"  # as the server knows the name
    assert receive_until(ivy, "invitation")["room"] == "plans"
    send(ivy, type="join", room="plans")
    assert receive_until(ivy, "joined")["info"]["private"] is True


def test_moderators_invite_and_everything_survives_a_restart(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", *UNLIMITED_RATES)
    try:
        olga = hello(server, "olga")
        create(olga, "plans", private=True, topic="secret")
        mo = hello(server, "mo")  # (only users the server knows are invited)
        hello(server, "ivy").close()
        send(olga, type="invite", room="plans", user="mo")
        receive_until(olga, "invited")
        send(mo, type="join", room="plans")
        receive_until(mo, "joined")
        send(olga, type="role", room="plans", user="mo", role="moderator", ref="r")
        receive_until(olga, "done")
        send(mo, type="invite", room="plans", user="ivy", ref="m")
        assert receive_until(mo, "invited")["ref"] == "m"
        assert error_code(mo, type="invite", room="plans", user="olga") == "forbidden"
    finally:
        assert stop_server(server) == 0
    again = start_server(tmp_path / "data", *UNLIMITED_RATES)
    try:
        eve = hello(again, "eve")
        assert error_code(eve, type="join", room="plans") == "forbidden"
        assert listed(again, eve, "eve") == []
        assert error_code(eve, type="create", room="Plans") == "conflict"
        ivy = hello(again, "ivy")
        assert listed(again, ivy, "ivy") == [("plans", True)]
        send(ivy, type="join", room="plans")
        info = receive_until(ivy, "joined")["info"]
        assert info == {
            "private": True,
            "topic": "secret",
            "owner": "olga",
            "moderators": ["mo"],
            "archived": False,
        }
    finally:
        assert stop_server(again) == 0


def test_a_refused_join_gives_no_history_and_a_later_invitation_works(
    fast_server: RunningServer,
) -> None:
    olga = hello(fast_server, "olga")
    create(olga, "plans", private=True)
    send(olga, type="send", room="plans", text="secret")
    receive_until(olga, "message")
    eve = hello(fast_server, "eve")
    for attempt in range(20):  # history right behind the join, before its answer
        send(eve, type="join", room="plans", ref=f"j{attempt}")
        send(eve, type="history", room="plans", ref=f"h{attempt}")
        send(eve, type="read", room="plans", id=1, ref=f"r{attempt}")
    codes = [receive_until(eve, "error")["code"] for _ in range(60)]
    assert set(codes) == {"forbidden", "not_member"}
    send(eve, type="ping", ref="end")
    assert receive_until(eve, "pong")["ref"] == "end"  # and no history frame before it

    send(olga, type="invite", room="plans", user="eve")
    receive_until(olga, "invited")
    send(eve, type="join", room="plans")  # the same connection, refused before
    receive_until(eve, "joined")
    send(eve, type="read", room="plans", id=1)
    receive_until(eve, "read")
    time.sleep(1.0)  # read markers are written within 0.5 s
    laptop = hello(fast_server, "eve")  # so the room is among eve's rooms, marker and all
    send(laptop, type="join", room="plans")
    assert receive_until(laptop, "joined")["read"] == 1
    status, _, _ = fast_server.http("GET", "/api/rooms/nowhere/messages", fast_server.token("eve"))
    assert status == 404  # as a private room is to outsiders
