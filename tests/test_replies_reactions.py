"""Protocol 1.2 "Replies, reactions, mentions" over real sockets, on both
databases: replies to messages of the room, mentions resolved to known
users and told to members wherever they are, reactions toggled, bounded,
kept in history and carried by a `since` join's `changes`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.sync.client import ClientConnection

from tests.blackbox import (
    RunningServer,
    error_code,
    hello,
    receive,
    receive_until,
    said,
    send,
)
from tests.conftest import Cluster


@pytest.fixture
def server(server_on_each_database: RunningServer) -> RunningServer:
    return server_on_each_database


def in_room(server: RunningServer, user: str, room: str = "r", **join: Any) -> ClientConnection:
    ws = hello(server, user)
    send(ws, type="join", room=room, **join)
    receive_until(ws, "joined")
    return ws


def answer(ws: ClientConnection, **frame: Any) -> dict[str, Any]:
    """The frame that answers `frame` (sent with a ref)."""
    send(ws, ref="q", **frame)
    while (reply := receive_until_ref(ws))["ref"] != "q":
        pass
    return reply


def receive_until_ref(ws: ClientConnection) -> dict[str, Any]:
    while "ref" not in (frame := receive(ws)):
        pass
    return frame


def test_replies_mentions_and_reactions(server: RunningServer) -> None:
    ann = in_room(server, "ann")
    bob = in_room(server, "bob")
    hello(server, "Carol").close()  # known from a hello, in no room
    first = said(ann, "r", "hello all")
    # A reply carries reply_to; one to a message the room does not have is not_found.
    reply = answer(bob, type="send", room="r", text="hi @ANN and @carol, @nobody", reply_to=first)
    assert reply["type"] == "message" and reply["reply_to"] == first
    # Mentions: the known users, spelled as the server has them.
    assert reply["mentions"] == ["ann", "Carol"]
    seen = receive_until(ann, "message")
    assert seen["mentions"] == ["ann", "Carol"] and seen["reply_to"] == first
    # Ann is a member: told (Carol has no such room among hers: not).
    assert receive_until(ann, "mention") == {
        "type": "mention",
        "room": "r",
        "id": reply["id"],
        "by": "bob",
    }
    assert answer(ann, type="send", room="r", text="x", reply_to=99)["code"] == "not_found"
    in_code = answer(ann, type="send", room="r", text="`@bob` in code")
    assert in_code["mentions"] == []
    # An edit names whom its text names now.
    send(ann, type="edit", room="r", id=in_code["id"], text="now @bob")
    receive_until(bob, "edited")
    # A mention reaches a member who is connected but not in the room now.
    away = hello(server, "ann")
    said(bob, "r", "@ann are you there?")
    assert receive_until(away, "mention")["by"] == "bob"

    # Reactions: every member gets the whole set for the message.
    got = answer(ann, type="react", room="r", id=first, emoji="👍", on=True)
    assert got == {
        "type": "reactions",
        "room": "r",
        "id": first,
        "reactions": {"👍": ["ann"]},
        "ref": "q",
    }
    assert receive_until(bob, "reactions")["reactions"] == {"👍": ["ann"]}
    send(bob, type="react", room="r", id=first, emoji="👍", on=True)
    assert receive_until(ann, "reactions")["reactions"] == {"👍": ["ann", "bob"]}
    # Reacting twice changes nothing: its sender alone is answered.
    again = answer(ann, type="react", room="r", id=first, emoji="👍", on=True)
    assert again["reactions"] == {"👍": ["ann", "bob"]}
    send(ann, type="react", room="r", id=first, emoji="🎉", on=True)
    send(ann, type="react", room="r", id=first, emoji="👍", on=False)
    reactions_become(bob, {"👍": ["bob"], "🎉": ["ann"]})
    # Bounds: 20 distinct emoji, then bad_request; bad emoji and ids too.
    for n in range(18):
        send(ann, type="react", room="r", id=first, emoji=f"e{n}", on=True)
    assert answer(ann, type="react", room="r", id=first, emoji="e17", on=True)["type"] == (
        "reactions"
    )
    assert error_code(ann, type="react", room="r", id=first, emoji="one more", on=True) == (
        "bad_request"
    )
    assert error_code(ann, type="react", room="r", id=first, emoji="e99", on=True) == (
        "bad_request"
    )
    assert error_code(ann, type="react", room="r", id=first, emoji="", on=True) == "bad_request"
    assert error_code(ann, type="react", room="r", id=999, emoji="x", on=True) == "not_found"
    assert error_code(hello(server, "dan"), type="react", room="r", id=1, emoji="x", on=True) == (
        "not_member"
    )
    # History carries them; a join with since gets them in `changes`.
    status, body, _ = server.http("GET", "/api/rooms/r/messages", server.token("reader"))
    assert status == 200
    kept = {m["id"]: m for m in body["messages"]}
    assert (
        list(kept[first]["reactions"])[:2] == ["👍", "🎉"] and len(kept[first]["reactions"]) == 20
    )
    assert kept[reply["id"]]["mentions"] == ["ann", "Carol"]
    assert kept[in_code["id"]]["mentions"] == ["bob"]
    # A user reacts at most 120 times a minute, in bursts of 30.
    for _ in range(40):
        refused = answer(ann, type="react", room="r", id=first, emoji="e0", on=False)
        if refused["type"] == "error":
            break
    assert refused["code"] == "rate_limited" and refused["retry_after_ms"] > 0
    later = in_room(server, "erin", since=reply["id"])
    changes = receive_until_joined_changes(server)
    assert any(c["type"] == "reactions" and c["id"] == first for c in changes)
    later.close()


def reactions_become(ws: ClientConnection, expected: dict[str, list[str]]) -> None:
    for _ in range(10):
        if receive_until(ws, "reactions")["reactions"] == expected:
            return
    raise AssertionError(f"reactions never became {expected}")


def receive_until_joined_changes(server: RunningServer) -> list[dict[str, Any]]:
    ws = hello(server, "frank")
    send(ws, type="join", room="r", since=3)
    changes: list[dict[str, Any]] = receive_until(ws, "joined")["changes"]
    ws.close()
    return changes


def test_mentions_reactions_and_who_is_online_cross_nodes(cluster: Cluster) -> None:
    first, second = cluster(2)
    ann = in_room(first, "ann")
    bob = in_room(second, "bob")
    bob_elsewhere = hello(second, "bob")  # connected, not in the room
    receive_until(ann, "presence")
    message_id = said(ann, "r", "hey @bob")
    seen = receive_until(bob, "message")
    assert seen["mentions"] == ["bob"]
    mention = {"type": "mention", "room": "r", "id": message_id, "by": "ann"}
    assert receive_until(bob, "mention") == mention  # after the message
    assert receive_until(bob_elsewhere, "mention") == mention
    send(ann, type="react", room="r", id=message_id, emoji="👀", on=True)
    assert receive_until(bob, "reactions")["reactions"] == {"👀": ["ann"]}
    send(bob, type="react", room="r", id=message_id, emoji="👀", on=True)
    reactions_become(ann, {"👀": ["ann", "bob"]})
    directory = answer(bob_elsewhere, type="users", prefix="ann")["users"]
    assert directory == [{"user": "ann", "bot": False, "online": True}]
    # Online: a connection on some node, in a room or not.
    carl = hello(second, "Carl")

    def carl_online() -> bool:
        listed = answer(ann, type="users", prefix="carl")["users"]
        return bool(listed[0]["online"])

    assert eventually(carl_online)
    carl.close()
    assert eventually(lambda: not carl_online())


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)  # (directory pages: 5 a second at most)
    return True
