"""Black-box, protocol 1.1 "Your rooms, reliable sends, the end of history":
names without regard to case, every room listed, a user's rooms in `welcome`,
`cid`, `more`, and logging out."""

from __future__ import annotations

from pathlib import Path

from tests.blackbox import (
    RunningServer,
    close_code,
    connect_ws,
    hello,
    receive,
    receive_until,
    send,
    start_server,
    stop_server,
)
from tests.test_durability import PASSWORD, register


def test_names_are_unique_without_regard_to_case(server: RunningServer) -> None:
    register(server, "alice")
    status, body, _ = server.http(
        "POST", "/api/register", body={"username": "ALICE", "password": PASSWORD}
    )
    assert (status, body["error"]["code"]) == (409, "conflict")
    status, body, _ = server.http(
        "POST", "/api/login", body={"username": "Alice", "password": PASSWORD}
    )
    assert (status, body["user"]) == (200, "alice")
    alice = hello(server, "alice", token=body["token"])

    bob = hello(server, "bob")
    send(bob, type="join", room="General")
    assert receive_until(bob, "joined")["room"] == "General"
    send(alice, type="join", room="general")
    joined = receive_until(alice, "joined")
    assert joined["room"] == "General"
    assert [m["user"] for m in joined["members"]] == ["bob", "alice"]
    send(alice, type="send", room="GENERAL", text="one room")
    assert receive_until(bob, "message")["room"] == "General"
    status, body, _ = server.http("GET", "/api/rooms/gEnErAl/messages", server.token("x"))
    assert (status, [m["text"] for m in body["messages"]]) == (200, ["one room"])


def test_every_room_with_history_is_listed_members_or_not(server: RunningServer) -> None:
    carol = hello(server, "carol")
    for room in ("quiet", "talked-in"):
        send(carol, type="join", room=room)
        receive_until(carol, "joined")
    send(carol, type="send", room="talked-in", text="something to keep")
    receive_until(carol, "message")
    carol.close()
    dave = hello(server, "dave")
    send(dave, type="join", room="busy")
    receive_until(dave, "joined")

    send(dave, type="rooms")
    listed = receive_until(dave, "rooms")["rooms"]
    assert listed == [
        {"room": "busy", "count": 1, "private": False, "unread": 0},  # dave's own room
        {"room": "talked-in", "count": 0, "private": False},
    ]
    status, body, _ = server.http("GET", "/api/rooms", server.token("dave"))
    assert (status, body["rooms"]) == (200, listed)


def test_a_users_rooms_and_unread_counts_follow_the_account(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    erin = hello(server, "erin")
    for room in ("ops", "dev", "random"):
        send(erin, type="join", room=room)
        receive_until(erin, "joined")
    send(erin, type="leave", room="random")
    receive_until(erin, "left")
    erin.close()
    frank = hello(server, "frank")
    send(frank, type="join", room="ops")
    receive_until(frank, "joined")
    for i in range(3):
        send(frank, type="send", room="ops", text=f"while erin was away {i}")
        receive_until(frank, "message")
    frank.close()

    # Another device, after a restart: the same rooms, with what was missed.
    assert stop_server(server) == 0
    server = start_server(tmp_path / "data", port=server.port)
    try:
        device = connect_ws(server)
        send(device, type="hello", token=server.token("erin"))
        welcome = receive(device)
        assert welcome["rooms"] == [{"room": "ops", "unread": 3}, {"room": "dev", "unread": 0}]
        # A leave needs no join first (one queued while offline, say).
        send(device, type="leave", room="DEV", ref="l")
        assert receive(device) == {"type": "left", "room": "dev", "ref": "l"}
        send(device, type="leave", room="never-joined", ref="n")
        assert receive(device)["code"] == "not_member"
        # Having joined again, and left when caught up, nothing is unread.
        send(device, type="join", room="ops")
        receive_until(device, "joined")
        device.close()
        again = connect_ws(server)
        send(again, type="hello", token=server.token("erin"))
        assert receive(again)["rooms"] == [{"room": "ops", "unread": 0}]
        again.close()
    finally:
        assert stop_server(server) == 0


def test_history_says_whether_there_is_more(fast_server: RunningServer) -> None:
    server = fast_server
    writer = hello(server, "writer")
    send(writer, type="join", room="cjk")
    receive_until(writer, "joined")
    big = "漢字かな交じり文" * 497  # 3,976 characters, about 12 KB of UTF-8
    for i in range(120):
        send(writer, type="send", room="cjk", text=f"{i + 1:03d}{big}")
    for _ in range(120):
        receive_until(writer, "message")

    reader = hello(server, "reader")
    send(reader, type="join", room="cjk")
    joined = receive_until(reader, "joined")
    assert joined["more"] is True
    seen = [m["id"] for m in joined["history"]]
    short_pages = 0
    while True:
        send(reader, type="history", room="cjk", before=seen[0], limit=50)
        page = receive_until(reader, "history")
        seen[:0] = [m["id"] for m in page["messages"]]
        short_pages += len(page["messages"]) < 50 and page["more"]
        if not page["more"]:
            break
    assert seen == list(range(1, 121))
    assert short_pages > 0  # the 256 KiB bound cut pages that were not the end

    token = server.token("reader")
    status, body, _ = server.http("GET", "/api/rooms/cjk/messages?limit=200", token)
    assert (status, body["more"]) == (200, True)
    assert len(body["messages"]) < 120
    status, body, _ = server.http("GET", "/api/rooms/cjk/messages?before=3", token)
    assert (status, [m["id"] for m in body["messages"]], body["more"]) == (200, [1, 2], False)


def test_a_send_repeated_with_its_cid_is_stored_once(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        watcher = hello(server, "watcher")
        sender = hello(server, "sender")
        for ws in (watcher, sender):
            send(ws, type="join", room="r")
            receive_until(ws, "joined")
        send(sender, type="send", room="r", text="once", cid="c-1", ref=1)
        first = receive_until(sender, "message")
        assert (first["cid"], first["ref"]) == ("c-1", 1)
        assert receive_until(watcher, "message")["cid"] == "c-1"
        sender.close()
        watcher.close()
        assert stop_server(server) == 0

        # After a restart, the page repeats what it was never told was stored.
        server = start_server(tmp_path / "data", port=server.port)
        watcher = hello(server, "watcher")
        sender = hello(server, "sender")
        for ws in (watcher, sender):
            send(ws, type="join", room="r", since=first["id"])
            receive_until(ws, "joined")
        send(sender, type="send", room="r", text="once", cid="c-1", ref=2)
        again = receive_until(sender, "message")
        assert again == {**first, "ref": 2}
        send(sender, type="send", room="r", text="next", cid="c-2")
        after = receive_until(watcher, "message")  # nothing came in between
        assert (after["id"], after["text"]) == (first["id"] + 1, "next")
        # The same cid from another user is another message.
        send(watcher, type="send", room="r", text="mine", cid="c-1")
        assert receive_until(watcher, "message")["id"] == first["id"] + 2
        sender.close()
        watcher.close()
    finally:
        assert stop_server(server) == 0


def test_logging_out_revokes_the_token_everywhere_it_is_used(server: RunningServer) -> None:
    token = register(server, "grace")
    other_tab = hello(server, "grace", token=token)
    status, body, _ = server.http("POST", "/api/logout", token)
    assert (status, body) == (200, {"revoked": True})
    assert close_code(other_tab) == 4401
    refused = connect_ws(server)
    send(refused, type="hello", token=token)
    assert receive(refused)["code"] == "unauthorized"
    assert close_code(refused) == 4401
    assert server.http("GET", "/api/rooms", token)[0] == 401
    assert server.http("POST", "/api/logout", token)[0] == 401
    # Other tokens of the same user are not touched.
    hello(server, "grace").close()


def test_a_room_left_on_one_tab_and_joined_again_on_another_is_kept(
    server: RunningServer,
) -> None:
    tab_a, tab_b = hello(server, "hank"), hello(server, "hank")
    for tab in (tab_a, tab_b):
        send(tab, type="join", room="x")
        receive_until(tab, "joined")
    send(tab_a, type="leave", room="x")
    receive_until(tab_a, "left")
    send(tab_b, type="join", room="x", ref="again")
    assert receive_until(tab_b, "joined")["ref"] == "again"
    device = connect_ws(server)
    send(device, type="hello", token=server.token("hank"))
    assert receive(device)["rooms"] == [{"room": "x", "unread": 0}]
    for ws in (tab_a, tab_b, device):
        ws.close()
