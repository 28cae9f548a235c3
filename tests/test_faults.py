"""Black-box faults: a crash in the middle of heavy traffic, and running out
of file descriptors."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from tests.blackbox import (
    RunningServer,
    hello,
    receive_until,
    send,
    start_server,
    stop_server,
)
from tests.conftest import UNLIMITED_RATES


def all_history(server: RunningServer, room: str) -> list[dict[str, Any]]:
    token = server.token("auditor")
    messages: list[dict[str, Any]] = []
    before = ""
    while True:
        status, body, _ = server.http("GET", f"/api/rooms/{room}/messages?limit=200{before}", token)
        assert status == 200
        if not body["messages"]:
            return messages
        messages = body["messages"] + messages
        before = f"&before={body['messages'][0]['id']}"


def test_sigkill_under_heavy_traffic_loses_nothing_committed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, *UNLIMITED_RATES)
    watcher = hello(server, "watcher")
    send(watcher, type="join", room="busy")
    receive_until(watcher, "joined")
    senders = [hello(server, f"sender{i}") for i in range(3)]
    for ws in senders:
        send(ws, type="join", room="busy")
        receive_until(ws, "joined")

    def blast(ws: Any, name: str) -> None:
        try:
            for i in range(2000):
                send(ws, type="send", room="busy", text=f"{name} {i}")
        except Exception:  # the server is killed under it
            pass

    threads = [
        threading.Thread(target=blast, args=(ws, f"sender{i}"), daemon=True)
        for i, ws in enumerate(senders)
    ]
    for thread in threads:
        thread.start()
    seen: list[dict[str, Any]] = []
    while len(seen) < 500:
        frame = receive_until(watcher, "message")
        seen.append(frame)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    for thread in threads:
        thread.join(10)

    again = start_server(data_dir)
    try:
        stored = all_history(again, "busy")
        ids = [m["id"] for m in stored]
        assert ids == list(range(1, len(ids) + 1))  # increasing, nothing missing
        by_id = {m["id"]: m for m in stored}
        for message in seen:
            assert by_id[message["id"]] == message
        assert len(stored) >= len(seen)
        writer = hello(again, "writer")
        send(writer, type="join", room="busy")
        receive_until(writer, "joined")
        send(writer, type="send", room="busy", text="after the crash")
        assert receive_until(writer, "message")["id"] == len(stored) + 1
    finally:
        assert stop_server(again) == 0


def test_running_out_of_file_descriptors_refuses_instead_of_crashing(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", max_open_files=64)
    held = []
    try:
        for _ in range(120):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            held.append(sock)
        time.sleep(1)
        assert server.process.poll() is None
        assert any("not accepting" in line for line in server.log)
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.5)
    status, health, _ = server.http("GET", "/healthz")
    assert status == 200 and health["status"] == "ok"
    ws = hello(server, "survivor")
    ws.close()
    assert stop_server(server) == 0
