"""Edit and delete (protocol 1.1) over real sockets: who may, what members
see live, what history shows after, across a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection

from tests.blackbox import (
    RunningServer,
    error_code,
    hello,
    receive,
    receive_until,
    said,
    send,
    start_server,
    stop_server,
)
from tests.conftest import UNLIMITED_RATES


def in_room(server: RunningServer, user: str, room: str = "r", **join: Any) -> ClientConnection:
    ws = hello(server, user)
    send(ws, type="join", room=room, **join)
    receive_until(ws, "joined")
    return ws


def history(server: RunningServer, room: str = "r") -> list[dict[str, Any]]:
    status, body, _ = server.http("GET", f"/api/rooms/{room}/messages", server.token("reader"))
    assert status == 200
    messages: list[dict[str, Any]] = body["messages"]
    return messages


def test_members_see_edits_and_deletes_live_and_history_keeps_them(
    fast_server: RunningServer,
) -> None:
    ann = in_room(fast_server, "ann")
    bob = in_room(fast_server, "bob")
    receive_until(ann, "presence")  # bob's arrival
    first = said(ann, "r", "frist")
    second = said(ann, "r", "oops")
    receive_until(bob, "message")
    receive_until(bob, "message")
    send(ann, type="edit", room="r", id=first, text="first", ref="fix")
    mine = receive_until(ann, "edited")
    theirs = receive_until(bob, "edited")
    assert mine["ref"] == "fix" and "ref" not in theirs
    assert {k: theirs[k] for k in ("room", "id", "text")} == {"room": "r", "id": 1, "text": "first"}
    assert isinstance(theirs["edited"], int)
    send(ann, type="delete", room="r", id=second)
    assert receive_until(bob, "deleted") == {"type": "deleted", "room": "r", "id": 2, "by": "ann"}
    assert said(ann, "r", "third") == 3  # ids stay contiguous
    # Joins, history frames and HTTP show the current text and a tombstone.
    carol = hello(fast_server, "carol")
    send(carol, type="join", room="r", since=0)
    joined = receive_until(carol, "joined")["history"]
    send(carol, type="history", room="r")
    paged = receive_until(carol, "history")["messages"]
    for shown in (joined, paged, history(fast_server)):
        assert [(m["id"], m.get("text"), m.get("deleted")) for m in shown] == [
            (1, "first", None),
            (2, None, True),
            (3, "third", None),
        ]
        assert shown[0]["edited"] == theirs["edited"]


def test_only_the_author_edits_and_deletes_and_unknown_ids_are_not_found(
    fast_server: RunningServer,
) -> None:
    ann = in_room(fast_server, "ann")
    bob = in_room(fast_server, "bob")
    message_id = said(ann, "r", "mine")
    assert error_code(bob, type="edit", room="r", id=message_id, text="yours?") == "forbidden"
    assert error_code(bob, type="delete", room="r", id=message_id) == "forbidden"
    assert error_code(ann, type="edit", room="r", id=99, text="x") == "not_found"
    assert error_code(ann, type="delete", room="r", id=99) == "not_found"
    send(ann, type="delete", room="r", id=message_id)
    receive_until(ann, "deleted")
    assert error_code(ann, type="edit", room="r", id=message_id, text="back") == "not_found"
    assert error_code(ann, type="delete", room="r", id=message_id) == "not_found"
    outsider = hello(fast_server, "outsider")
    assert error_code(outsider, type="edit", room="r", id=message_id, text="x") == "not_member"


def test_an_edit_older_than_memory_reaches_later_joins_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path / "data", *UNLIMITED_RATES)
    try:
        ann = in_room(server, "ann")
        for n in range(260):  # more than a room keeps in memory (200)
            send(ann, type="send", room="r", text=f"m{n}")
        for _ in range(260):
            receive_until(ann, "message")
        send(ann, type="edit", room="r", id=1, text="the very first, edited")
        receive_until(ann, "edited")
        send(ann, type="delete", room="r", id=250)
        receive_until(ann, "deleted")
        late = hello(server, "late")
        send(late, type="join", room="r", since=0)
        frame = receive_until(late, "joined")
        shown = {m["id"]: m for m in frame["history"]}
        assert shown[250].get("deleted") is True and "text" not in shown[250]
        send(late, type="history", room="r", before=2, limit=1)
        assert receive_until(late, "history")["messages"][0]["text"] == "the very first, edited"
    finally:
        assert stop_server(server) == 0
    again = start_server(tmp_path / "data")
    try:
        stored = {m["id"]: m for m in history(again)}
        assert stored[250].get("deleted") is True
        _, body, _ = again.http("GET", "/api/rooms/r/messages?before=2&limit=1", again.token("x"))
        assert body["messages"][0]["text"] == "the very first, edited"
    finally:
        assert stop_server(again) == 0


def test_edits_and_deletes_count_against_the_send_rate(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--send-rate", "10")
    try:
        ann = in_room(server, "ann")
        message_id = said(ann, "r", "x")
        # A burst of 20 is allowed; 10 more are refused (and forgiven).
        for n in range(30):
            send(ann, type="edit", room="r", id=message_id, text=f"v{n}")
        codes = set()
        for _ in range(30):
            frame = receive(ann)
            while frame["type"] not in ("edited", "error"):
                frame = receive(ann)
            codes.add(frame.get("code", "edited"))
        assert codes == {"edited", "rate_limited"}
    finally:
        assert stop_server(server) == 0
