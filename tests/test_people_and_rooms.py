"""Protocol 1.2 "People and rooms" over real sockets, on both databases:
the user directory, handing a room over, archiving it; and the operator's
`python -m chatroom room` commands, seen by a running server."""

from __future__ import annotations

import time
from typing import Any

import pytest
from websockets.sync.client import ClientConnection

from chatroom.store import Store, ownership
from chatroom.store import rooms as rooms_db
from chatroom.store import users as users_db
from tests.blackbox import (
    RunningServer,
    error_code,
    hello,
    receive,
    receive_until,
    run_chatroom,
    said,
    send,
)


@pytest.fixture
def server(server_on_each_database: RunningServer) -> RunningServer:
    return server_on_each_database


def answer(ws: ClientConnection, **frame: Any) -> dict[str, Any]:
    send(ws, ref="q", **frame)
    while (reply := receive(ws)).get("ref") != "q":
        pass
    return reply


def in_room(server: RunningServer, user: str, room: str = "r") -> ClientConnection:
    ws = hello(server, user)
    send(ws, type="join", room=room)
    receive_until(ws, "joined")
    return ws


def test_the_directory_by_prefix_in_pages_with_who_is_online(
    server: RunningServer, database: list[str]
) -> None:
    for name in ("zed", "Ann_b", "annie", "bob"):
        hello(server, name).close()
    store = ["--data-dir", str(server.data_dir), *database]
    run_chatroom("user", "add", "ann", *store, stdin="a long password\n", check=True)
    added = run_chatroom("user", "add", "ann-bot", "--bot", "--owner", "ann", *store)
    assert added.returncode == 0, added.stderr
    ann = hello(server, "ann")
    page = answer(ann, type="users", prefix="ANN", limit=2)
    assert page["users"] == [
        {"user": "ann", "bot": False, "online": True},
        {"user": "ann-bot", "bot": True, "online": False},
    ]
    assert page["more"] is True
    rest = answer(ann, type="users", prefix="ann", after="ann-bot")
    assert [u["user"] for u in rest["users"]] == ["Ann_b", "annie"] and rest["more"] is False
    everyone = answer(ann, type="users")["users"]
    assert [u["user"] for u in everyone] == ["ann", "ann-bot", "Ann_b", "annie", "bob", "zed"]
    assert answer(ann, type="users", prefix="a b")["code"] == "bad_request"
    assert answer(ann, type="users", limit=0)["code"] == "bad_request"
    for _ in range(30):  # 5 pages a second, in bursts of 20
        if (page := answer(ann, type="users"))["type"] == "error":
            break
    assert page["code"] == "rate_limited"


def test_transfer_and_archive(server: RunningServer) -> None:
    ann = in_room(server, "ann")  # the owner: first in
    bob = in_room(server, "bob")
    said(ann, "r", "before the archive")
    assert error_code(bob, type="transfer", room="r", user="bob") == "forbidden"
    assert error_code(ann, type="transfer", room="r", user="nobody") == "not_found"
    hello(server, "mallory").close()
    assert answer(ann, type="ban", room="r", user="mallory")["type"] == "done"
    assert error_code(ann, type="transfer", room="r", user="mallory") == "forbidden"
    assert answer(ann, type="transfer", room="r", user="bob")["type"] == "done"
    info = receive_until(bob, "room")["info"]
    assert (info["owner"], info["moderators"], info["archived"]) == ("bob", ["ann"], False)
    assert error_code(ann, type="archive", room="r", archived=True) == "forbidden"
    hook = answer(bob, type="hook", room="r", name="ci")["url"]
    assert answer(bob, type="archive", room="r", archived=True)["type"] == "done"
    assert receive_until(ann, "room")["info"]["archived"] is True
    # An archived room takes no sends, edits or reactions; it keeps its history.
    assert error_code(ann, type="send", room="r", text="still here?") == "forbidden"
    assert error_code(ann, type="edit", room="r", id=1, text="changed") == "forbidden"
    assert error_code(ann, type="react", room="r", id=1, emoji="x", on=True) == "forbidden"
    assert server.http("POST", hook, body={"text": "from CI"})[0] == 403
    assert server.http("POST", "/api/rooms/r/files?name=a.txt", server.token("ann"), "x")[0] == 403
    carol = in_room(server, "carol")
    send(carol, type="join", room="r")
    joined = receive_until(carol, "joined")
    assert joined["info"]["archived"] is True and joined["history"][0]["text"] == (
        "before the archive"
    )
    # Listed only to its members, with archived.
    listed = {r["room"]: r for r in answer(ann, type="rooms")["rooms"]}
    assert listed["r"]["archived"] is True
    dan = hello(server, "dan")
    assert "r" not in {r["room"] for r in answer(dan, type="rooms")["rooms"]}
    assert answer(bob, type="archive", room="r", archived=False)["type"] == "done"
    assert said(ann, "r", "open again") == 2


def test_the_operator_lists_hands_over_archives_and_deletes_rooms(
    server: RunningServer, database: list[str]
) -> None:
    store = ["--data-dir", str(server.data_dir), *database]
    ann = in_room(server, "ann", "lobby")
    bob = in_room(server, "bob", "lobby")
    said(ann, "lobby", "hi")
    hello(server, "carol").close()

    def room(*args: str) -> str:
        done = run_chatroom("room", *args, *store)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    assert "lobby\tann\tpublic\t-\t1\t2" in room("list")
    assert "carol owns lobby now" in room("owner", "lobby", "carol")
    info = receive_until(bob, "room")["info"]  # the running server read it again
    assert (info["owner"], info["moderators"]) == ("carol", ["ann"])
    room("archive", "lobby")
    assert receive_until(bob, "room")["info"]["archived"] is True
    room("archive", "--undo", "lobby")
    assert receive_until(bob, "room")["info"]["archived"] is False
    room("delete", "lobby")
    kicked = receive_until(bob, "kicked")
    assert kicked["reason"] == "this room was deleted"
    assert "lobby" not in room("list")
    missing = run_chatroom("room", "delete", "lobby", *store)
    assert missing.returncode == 1 and "no room" in missing.stderr
    # Joined again, it is a new room, from message 1.
    send(ann, type="join", room="lobby")
    deadline = time.monotonic() + 10
    while (frame := receive(ann))["type"] != "joined":
        assert time.monotonic() < deadline
    assert frame["history"] == []
    assert said(ann, "lobby", "a fresh start") == 1


async def test_a_transfer_by_who_is_no_longer_the_owner_is_refused(sqlite_store: Store) -> None:
    await sqlite_store.write(rooms_db.make_room, "r", "ann", private=False, topic="")
    for user in ("bob", "cy"):
        await sqlite_store.write(users_db.remember_user, user)
    assert await sqlite_store.write(ownership.transfer, "r", "BOB", "ann", True) == "bob"
    # ann's server had not heard of it yet: the store refuses her second one.
    assert await sqlite_store.write(ownership.transfer, "r", "cy", "ann", True) is None
    settings = await sqlite_store.read(rooms_db.room_settings, "r")
    assert settings is not None
    assert (settings.owner, settings.moderators) == ("bob", ["ann"])
