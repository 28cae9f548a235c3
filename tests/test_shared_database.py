"""Two servers on one database (a shared data dir: one SQLite file, one
secret): the database numbers each room's messages, so neither server's
commit collides with the other's, and each fans out what the other
committed before its own next message, in id order. (Live fan-out between
servers is the broker's: tests/test_cluster.py.)"""

from __future__ import annotations

from pathlib import Path

from tests.blackbox import hello, receive_until, send, start_server, stop_server


def test_two_servers_on_one_database_number_a_room_as_one(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir)
    second = start_server(data_dir)
    try:
        ann, bob = hello(first, "ann"), hello(second, "bob")
        for ws in (ann, bob):
            send(ws, type="join", room="shared")
            receive_until(ws, "joined")
        for i in range(3):
            send(ann, type="send", room="shared", text=f"from the first {i}")
            assert receive_until(ann, "message")["id"] == i + 1
        send(bob, type="send", room="shared", text="from the second")
        seen = [receive_until(bob, "message") for _ in range(4)]
        assert [(m["id"], m["text"]) for m in seen] == [
            (1, "from the first 0"),
            (2, "from the first 1"),
            (3, "from the first 2"),
            (4, "from the second"),
        ]
        for ws in (ann, bob):
            ws.close()
    finally:
        assert stop_server(first) == 0
        assert stop_server(second) == 0
