"""`python -m chatroom backup FILE`: a consistent copy while the server writes."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from tests.blackbox import (
    hello,
    receive_until,
    run_chatroom,
    send,
    start_server,
    stop_server,
)


def test_a_backup_taken_under_write_load_is_consistent_and_serves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, "--send-rate", "1000", "--frame-rate", "1000")
    copy = tmp_path / "backups" / "chat.db"
    copy.parent.mkdir()
    stop_sending = threading.Event()
    sent = 0

    def keep_sending() -> None:
        nonlocal sent
        ws = hello(server, "writer")
        send(ws, type="join", room="busy")
        receive_until(ws, "joined")
        while not stop_sending.is_set():
            send(ws, type="send", room="busy", text=f"message {sent}")
            receive_until(ws, "message")
            sent += 1
        ws.close()

    writer = threading.Thread(target=keep_sending)
    writer.start()
    try:
        deadline = time.monotonic() + 30
        while sent < 50 and writer.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        before = sent
        taken = run_chatroom("backup", str(copy), "--data-dir", str(data))
        after = sent
        time.sleep(0.3)  # writes go on after the copy
    finally:
        stop_sending.set()
        writer.join(30)
        assert stop_server(server) == 0
    assert taken.returncode == 0, taken.stderr
    assert "pages copied" in taken.stderr
    assert copy.stat().st_mode & 0o077 == 0  # password hashes: the owner's alone
    assert not copy.with_name("chat.db.partial").exists()
    with sqlite3.connect(copy) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        ids = [row[0] for row in db.execute("SELECT id FROM messages ORDER BY id")]
    # Every message committed before the copy began, none after it ended, no gap.
    assert before <= len(ids) <= after + 1 < sent  # (+1: one committed, not yet read)
    assert ids == list(range(1, len(ids) + 1))

    restored = start_server(tmp_path / "data2", "--database", f"sqlite:///{copy}")
    try:
        status, body, _ = restored.http(
            "GET", "/api/rooms/busy/messages?limit=5", restored.token("reader")
        )
        assert status == 200
        assert [m["id"] for m in body["messages"]] == ids[-5:]
    finally:
        assert stop_server(restored) == 0

    again = run_chatroom("backup", str(copy), "--data-dir", str(data))
    assert (again.returncode, "exists" in again.stderr) == (2, True)


def test_a_target_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_chatroom("user", "list", "--data-dir", str(data), check=True)  # makes the database
    target = tmp_path / "no" / "such" / "folder" / "x.db"
    result = run_chatroom("backup", str(target), "--data-dir", str(data))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"chatroom: cannot write {target}: No such file or directory"
    ]


def test_postgresql_is_pointed_to_pg_dump(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:1/nothing"
    result = run_chatroom("backup", str(tmp_path / "x.db"), "--database", url)
    assert result.returncode == 2
    assert "pg_dump" in result.stderr
    assert not (tmp_path / "x.db").exists()
