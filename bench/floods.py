"""Floods against a private room: what one hostile user costs its members.

    .venv/bin/python -m bench.floods [--source DIR] [--seconds 8]

A watching pair in a private room (its owner sends 20 messages a second
with the time in the text, a member receives them) is measured calm, then
under each flood of issue 22, each from its own process:

  refused-joins        a never-invited user's 32 connections sending `join`
                       to the room at 40 frames/s each (the frame rate)
  refused-joins-since  the same with a huge `since`
  edits                an invited member's 32 connections editing its own
                       message at 20 edits/s each (the send rate)
  invitations          another user re-inviting the watcher to 3 rooms it
                       owns at the frame rate (frames the watcher received)

An attacker connection closed by the server connects again at once: the
flood never stops. Prints a Markdown table: the watcher's p50/p99, the
attacker's frames and how often it was closed. `--source` runs another
checkout's `chatroom` (for a before/after comparison); rate limits are as
shipped, since the floods stay within them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from bench.run import ROOT, bench_environment, start, stop
from chatroom.auth import TokenSigner
from tests.rawws import OP_CLOSE, OP_TEXT, client_frame, take_frame, upgrade

ROOM = "watch"
CONNECTIONS = 32
PACE = 0.05  # the owner's messages: 20 a second
FLOODS = ["refused-joins", "refused-joins-since", "edits", "invitations"]


def token(user: str) -> str:
    signer = TokenSigner(os.environ["CHATROOM_SECRET"].encode())
    return signer.issue(user, ttl=3600, now=time.time())


def client(port: int, user: str) -> ClientConnection:
    # Unbounded and without pings: the owner never reads its own messages back.
    ws = connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10, ping_interval=None, max_queue=None)
    ws.send(json.dumps({"type": "hello", "token": token(user)}))
    until(ws, "welcome")
    return ws


def until(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if frame["type"] == kind:
            return frame


def request(ws: ClientConnection, kind: str, **fields: Any) -> dict[str, Any]:
    ws.send(json.dumps({"type": kind, **fields}))
    reply = {"create": "joined", "join": "joined", "invite": "invited"}[kind]
    return until(ws, reply)


# -- the attackers, each a process of its own -----------------------------------


def attack(mode: str, port: int, seconds: float) -> None:
    """Run one flood for `seconds`; print what it sent and how often it was closed."""
    frames_per_second = 20 if mode == "edits" else 40
    user = {"edits": "mallory", "invitations": "inviter"}.get(mode, "eve")
    hello = client_frame(OP_TEXT, json.dumps({"type": "hello", "token": token(user)}).encode())
    # Rooms joined first: the edits flood edits the room's message 1, the
    # invitations flood invites from the rooms its user owns.
    rooms = {"edits": [ROOM], "invitations": ["lure0", "lure1", "lure2"]}.get(mode, [])
    joins = b"".join(
        client_frame(OP_TEXT, json.dumps({"type": "join", "room": room}).encode()) for room in rooms
    )

    def flood_frame(n: int) -> bytes:
        if mode == "edits":
            frame = {"type": "edit", "room": ROOM, "id": 1, "text": f"edit {n}"}
        elif mode == "invitations":
            frame = {"type": "invite", "room": f"lure{n % 3}", "user": "watcher"}
        else:
            frame = {"type": "join", "room": ROOM}
            if mode == "refused-joins-since":
                frame["since"] = 10**15
        return client_frame(OP_TEXT, json.dumps(frame).encode())

    sent = closed = 0
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def one_connection() -> None:
        nonlocal sent, closed
        while time.monotonic() < deadline:
            try:
                sock, _ = upgrade("127.0.0.1", port, timeout=5)
                sock.sendall(hello + joins)
                sock.settimeout(0)
                buffer = bytearray()
                n = 0
                while time.monotonic() < deadline:
                    sock.sendall(flood_frame(n))
                    n += 1
                    with lock:
                        sent += 1
                    time.sleep(1 / frames_per_second)
                    try:
                        while chunk := sock.recv(65536):
                            buffer += chunk
                    except BlockingIOError:
                        pass
                    while (frame := take_frame(buffer)) is not None:
                        if frame[0] == OP_CLOSE:
                            raise ConnectionError("closed by the server")
            except OSError:
                with lock:
                    closed += 1
                time.sleep(0.05)

    threads = [threading.Thread(target=one_connection) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"sent": sent, "closed": closed}))


# -- the watching pair -----------------------------------------------------------


def watch(owner: ClientConnection, watcher: ClientConnection, seconds: float) -> dict[str, Any]:
    """The owner sends for `seconds`; the watcher's latencies (ms) and the
    invitation frames it received meanwhile."""
    count = int(seconds / PACE)
    latencies: list[float] = []
    invitations = 0

    def receive() -> None:
        nonlocal invitations
        while len(latencies) < count:
            frame = json.loads(watcher.recv(timeout=30))
            if frame["type"] == "invitation":
                invitations += 1
            elif frame["type"] == "message" and frame["user"] == "owner":
                latencies.append(1000 * (time.time() - float(frame["text"])))

    reader = threading.Thread(target=receive)
    reader.start()
    for _ in range(count):
        owner.send(json.dumps({"type": "send", "room": ROOM, "text": repr(time.time())}))
        time.sleep(PACE)
    reader.join()
    latencies.sort()
    return {
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[int(0.99 * len(latencies))],
        "invitations": invitations,
    }


def run(source: Path, seconds: float) -> list[dict[str, Any]]:
    env = {**bench_environment(), "PYTHONPATH": f"{source}:{ROOT}"}
    os.environ["CHATROOM_SECRET"] = env["CHATROOM_SECRET"]
    rows = []
    with tempfile.TemporaryDirectory() as data_dir:
        command = [sys.executable, "-m", "chatroom", "--port", "0", "--data-dir", data_dir]
        process, port = start(command, env, cwd=source)
        try:
            for user in ("eve", "mallory", "inviter"):
                client(port, user).close()  # known to the server
            owner, watcher = client(port, "owner"), client(port, "watcher")
            request(owner, "create", room=ROOM, private=True)
            for member in ("watcher", "mallory"):
                request(owner, "invite", room=ROOM, user=member)
            request(watcher, "join", room=ROOM)
            mallory = client(port, "mallory")
            request(mallory, "join", room=ROOM)
            mallory.send(json.dumps({"type": "send", "room": ROOM, "text": "mine"}))
            until(mallory, "message")  # message 1, which the edits flood changes
            inviter = client(port, "inviter")
            for n in range(3):
                request(inviter, "create", room=f"lure{n}", private=True)
            for ws in (mallory, inviter):  # (each attacker's user may have 32 connections)
                ws.close()
            rows.append({"flood": "calm", **watch(owner, watcher, seconds), "sent": 0, "closed": 0})
            for flood in FLOODS:
                attacker = subprocess.Popen(
                    [sys.executable, "-m", "bench.floods", "attack", flood, str(port),
                     str(seconds + 3)],
                    env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                )  # fmt: skip
                time.sleep(2)  # the attack under way
                figures = watch(owner, watcher, seconds)
                out, _ = attacker.communicate(timeout=60)
                rows.append({"flood": flood, **figures, **json.loads(out.splitlines()[-1])})
        finally:
            stop(process)
    return rows


def main() -> None:
    if sys.argv[1:2] == ["attack"]:
        attack(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT, help="a checkout to run")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    rows = run(args.source.resolve(), args.seconds)
    print("| flood | watcher p50 ms | watcher p99 ms | invitations seen | frames sent | closed |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['flood']} | {row['p50']:.1f} | {row['p99']:.1f} | {row['invitations']} "
            f"| {row['sent']:,} | {row['closed']:,} |"
        )


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
