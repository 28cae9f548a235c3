"""Black-box: the third adversarial review's findings about names and
invitations (issue 22): nobody inherits another's conversations, an
invitation reaches only the user it was meant for, once, and waits for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.blackbox import (
    RunningServer,
    close_code,
    connect_ws,
    error_code,
    hello,
    receive,
    receive_until,
    send,
    start_server,
    stop_server,
)
from tests.test_durability import PASSWORD, register
from tests.test_private_rooms import create, listed


def register_status(server: RunningServer, user: str) -> int:
    status, _, _ = server.http(
        "POST", "/api/register", body={"username": user, "password": PASSWORD}
    )
    return status


def test_a_name_known_without_an_account_cannot_be_registered(fast_server: RunningServer) -> None:
    register(fast_server, "alice")
    alice = hello(fast_server, "alice", fast_server.token("alice"))
    bot = hello(fast_server, "bot5580")  # a token minted by an outside application
    send(bot, type="direct", user="alice")
    direct = receive_until(bot, "joined")["room"]
    send(bot, type="send", room=direct, text="your code is 123456")
    receive_until(bot, "message")
    create(bot, "bots-only", private=True)
    bot.close()
    alice.close()
    for spelling in ("BOT5580", "bot5580", "Bot5580"):
        assert register_status(fast_server, spelling) == 409
    # A name nobody has is free, and an owner's or member's is not.
    assert register_status(fast_server, "carol") == 201
    status, body, _ = fast_server.http(
        "POST", "/api/login", body={"username": "BOT5580", "password": PASSWORD}
    )
    assert (status, body["error"]["code"]) == (401, "unauthorized")


def test_only_users_the_server_knows_are_invited(fast_server: RunningServer) -> None:
    olga = hello(fast_server, "olga")
    create(olga, "plans", private=True)
    send(olga, type="send", room="plans", text="the plan")
    receive_until(olga, "message")
    send(olga, type="invite", room="plans", user="newcomer", ref="inv")
    refused = receive_until(olga, "error")
    assert (refused["code"], refused["ref"]) == ("not_found", "inv")
    assert "newcomer" in refused["message"]
    # Whoever registers the name afterwards gets nothing of the room.
    token = register(fast_server, "newcomer")
    newcomer = hello(fast_server, "newcomer", token)
    assert error_code(newcomer, type="join", room="plans") == "forbidden"
    assert listed(fast_server, newcomer, "newcomer") == []
    # A moderator's role is given to known users only, for the same reason.
    assert error_code(olga, type="role", room="plans", user="nobody", role="moderator") == (
        "not_found"
    )


def test_an_invitation_is_sent_once_and_can_be_declined(fast_server: RunningServer) -> None:
    olga = hello(fast_server, "olga")
    for room in ("plans", "secrets"):
        create(olga, room, private=True)
    ivy = hello(fast_server, "ivy")
    for _ in range(5):
        send(olga, type="invite", room="plans", user="ivy", ref="again")
        assert receive_until(olga, "invited")["ref"] == "again"
    send(ivy, type="ping", ref="p")
    frames = [receive(ivy)]
    while frames[-1]["type"] != "pong":
        frames.append(receive(ivy))
    assert [f["type"] for f in frames] == ["invitation", "pong"]

    assert error_code(ivy, type="decline", room="secrets") == "not_found"
    send(olga, type="invite", room="secrets", user="ivy")
    receive_until(olga, "invited")
    send(ivy, type="decline", room="SECRETS", ref="no")
    assert receive_until(ivy, "done") == {"type": "done", "ref": "no"}
    assert error_code(ivy, type="join", room="secrets") == "forbidden"

    # Acted on (joined, then left), a new invitation is news again.
    send(ivy, type="join", room="plans")
    receive_until(ivy, "joined")
    send(ivy, type="leave", room="plans")
    receive_until(ivy, "left")
    send(olga, type="invite", room="plans", user="ivy")
    receive_until(olga, "invited")
    assert receive_until(ivy, "invitation") == {"type": "invitation", "room": "plans", "by": "olga"}


def test_welcome_lists_the_invitations_not_acted_on(fast_server: RunningServer) -> None:
    olga = hello(fast_server, "olga")
    create(olga, "plans", private=True)
    create(olga, "secrets", private=True)
    hello(fast_server, "ivy").close()
    for room in ("plans", "secrets"):
        send(olga, type="invite", room=room, user="ivy")
        receive_until(olga, "invited")
    ivy = welcome_of(fast_server, "ivy")
    assert ivy["invitations"] == [
        {"room": "plans", "by": "olga"},
        {"room": "secrets", "by": "olga"},
    ]
    ws = hello(fast_server, "ivy")
    send(ws, type="join", room="plans")
    receive_until(ws, "joined")
    send(ws, type="decline", room="secrets")
    receive_until(ws, "done")
    assert welcome_of(fast_server, "ivy")["invitations"] == []


def welcome_of(server: RunningServer, user: str) -> dict[str, Any]:
    ws = connect_ws(server)
    send(ws, type="hello", token=server.token(user))
    welcome = receive(ws)
    ws.close()
    assert welcome["type"] == "welcome"
    return welcome


def test_invitations_are_rate_limited_per_inviter(fast_server: RunningServer) -> None:
    olga = hello(fast_server, "olga")
    create(olga, "plans", private=True)
    for n in range(25):
        hello(fast_server, f"guest{n}").close()
    codes = []
    for n in range(25):
        send(olga, type="invite", room="plans", user=f"guest{n}", ref=n)
        reply = receive_until(olga, "invited") if n < 20 else receive_until(olga, "error")
        codes.append(reply.get("code", reply["type"]))
    assert codes == ["invited"] * 20 + ["rate_limited"] * 5


def test_a_kick_or_ban_ends_a_moderators_role(fast_server: RunningServer) -> None:
    olga = hello(fast_server, "olga")
    create(olga, "plans", private=True)
    mo = hello(fast_server, "mo")

    def make_moderator() -> None:
        send(olga, type="invite", room="plans", user="mo")
        receive_until(olga, "invited")
        send(mo, type="join", room="plans")
        receive_until(mo, "joined")
        send(olga, type="role", room="plans", user="mo", role="moderator")
        receive_until(olga, "done")

    for action in ("kick", "ban"):
        make_moderator()
        send(olga, type=action, room="plans", user="mo")
        assert receive_until(olga, "room")["info"]["moderators"] == []
        receive_until(olga, "done")
        assert receive_until(mo, "kicked")["room"] == "plans"
        assert error_code(mo, type="join", room="plans") == "forbidden"
        assert listed(fast_server, mo, "mo") == []


def test_a_refused_join_leaves_nothing_behind_and_repeated_it_is_abuse(
    fast_server: RunningServer,
) -> None:
    olga = hello(fast_server, "olga")
    create(olga, "Plans", private=True)
    eve = hello(fast_server, "eve")
    # At once after a refused join, a leave learns nothing of the room.
    send(eve, type="join", room="PLANS", since=10**15)
    send(eve, type="leave", room="PLANS", ref="bye")
    assert receive_until(eve, "error")["code"] == "forbidden"
    left = receive_until(eve, "error")
    assert (left["code"], left["ref"]) == ("not_member", "bye")
    assert "PLANS" in left["message"] and "Plans" not in left["message"]
    assert listed(fast_server, eve, "eve") == []
    # Refused again and again, the connection is closed as abusive.
    for _ in range(40):
        send(eve, type="join", room="plans")
    assert close_code(eve) == 1008


def test_rooms_count_unread_from_a_marker_not_written_yet(fast_server: RunningServer) -> None:
    ann = hello(fast_server, "ann")
    send(ann, type="join", room="lobby")
    receive_until(ann, "joined")
    bob = hello(fast_server, "bob")
    send(bob, type="join", room="lobby")
    receive_until(bob, "joined")
    last = 0
    for n in range(3):
        send(ann, type="send", room="lobby", text=f"m{n}")
        last = receive_until(bob, "message")["id"]
    send(bob, type="leave", room="lobby")  # (left, the room counts for bob as seen)
    receive_until(bob, "left")
    send(bob, type="join", room="lobby")
    receive_until(bob, "joined")
    send(ann, type="send", room="lobby", text="news")
    newest = receive_until(bob, "message")["id"]
    assert newest > last
    send(bob, type="read", room="lobby", id=newest)
    receive_until(bob, "read")
    send(bob, type="rooms")
    [lobby] = receive_until(bob, "rooms")["rooms"]
    assert lobby["unread"] == 0
    assert welcome_of(fast_server, "bob")["rooms"] == [{"room": "lobby", "unread": 0}]


def test_a_login_says_when_no_account_has_the_name(fast_server: RunningServer) -> None:
    register(fast_server, "alice")
    hello(fast_server, "tokenonly").close()

    def login(user: str) -> dict[str, Any]:
        status, body, _ = fast_server.http(
            "POST", "/api/login", body={"username": user, "password": "wrong password!"}
        )
        assert status == 401
        error: dict[str, Any] = body["error"]
        return error

    assert login("nobody") == {
        "code": "unauthorized",
        "message": "no account named nobody here",
        "no_account": True,
    }
    # Names registration would refuse get the usual answer.
    for taken in ("alice", "ALICE", "tokenonly"):
        assert login(taken) == {"code": "unauthorized", "message": "invalid username or password"}


def test_a_reconnect_with_since_learns_the_edits_and_deletes_it_missed(
    fast_server: RunningServer,
) -> None:
    ann = hello(fast_server, "ann")
    send(ann, type="join", room="lobby")
    receive_until(ann, "joined")
    ids = []
    for text in ("one", "two", "three"):
        send(ann, type="send", room="lobby", text=text)
        ids.append(receive_until(ann, "message")["id"])
    bob = hello(fast_server, "bob")
    send(bob, type="join", room="lobby")
    seen = receive_until(bob, "joined")["history"][-1]["id"]
    bob.close()  # away while ann edits and deletes
    send(ann, type="edit", room="lobby", id=ids[0], text="one, edited")
    receive_until(ann, "edited")
    send(ann, type="delete", room="lobby", id=ids[1])
    receive_until(ann, "deleted")
    send(ann, type="edit", room="lobby", id=ids[0], text="one, edited again")
    receive_until(ann, "edited")
    send(ann, type="send", room="lobby", text="four")
    later = receive_until(ann, "message")["id"]
    send(ann, type="edit", room="lobby", id=later, text="four, edited")  # (in history)
    receive_until(ann, "edited")

    bob = hello(fast_server, "bob")
    send(bob, type="join", room="lobby", since=seen)
    joined = receive_until(bob, "joined")
    assert [m["id"] for m in joined["history"]] == [later]
    assert joined["history"][0]["text"] == "four, edited"
    changes = joined["changes"]
    assert [(c["type"], c["id"], c.get("text")) for c in changes] == [
        ("deleted", ids[1], None),
        ("edited", ids[0], "one, edited again"),
    ]
    assert changes[0]["by"] == "ann"
    # Without since there is nothing to catch up on.
    send(bob, type="leave", room="lobby")
    receive_until(bob, "left")
    send(bob, type="join", room="lobby")
    assert "changes" not in receive_until(bob, "joined")


def test_with_registration_closed_a_login_never_says_which_names_have_accounts(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path / "data", "--registration", "closed")
    try:
        status, body, _ = server.http(
            "POST", "/api/login", body={"username": "nobody", "password": PASSWORD}
        )
        assert (status, body["error"]) == (
            401,
            {"code": "unauthorized", "message": "invalid username or password"},
        )
    finally:
        assert stop_server(server) == 0


def test_a_direct_conversation_is_never_a_pending_invitation(fast_server: RunningServer) -> None:
    alice = hello(fast_server, "alice")
    bob = hello(fast_server, "bob")
    send(alice, type="direct", user="bob")
    room = receive_until(alice, "joined")["room"]
    for user in ("alice", "bob"):
        assert welcome_of(fast_server, user)["invitations"] == []
    assert error_code(bob, type="decline", room=room) == "not_found"
    send(bob, type="leave", room=room)  # (it stays theirs: no invitation comes back)
    receive_until(bob, "left")
    assert welcome_of(fast_server, "bob")["invitations"] == []
    assert error_code(bob, type="decline", room=room) == "not_found"
    send(bob, type="direct", user="alice")
    assert receive_until(bob, "joined")["room"] == room
