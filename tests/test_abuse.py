"""Black-box abuse: hostile clients in several processes at once, while a
well-behaved pair measures that every message still arrives, in order, on
time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from chatroom.auth import TokenSigner, load_secret
from tests.blackbox import ROOT, RunningServer, hello, receive_until, send

ATTACKS = [
    "flood", "nonreader", "bigframe", "slowloris", "garbage", "churn", "roomlist", "idlehttp"
]  # fmt: skip
SECONDS = 9.5
WARM_UP = 2.0  # seconds for the attackers to set up before the good pair measures
INTERVAL = 0.05  # the good sender's pace: 20 messages a second
P99_LIMIT_MS = 250


def open_sockets(pid: int) -> int:
    """Sockets only: the database's reader pool opens files as it grows."""
    fds = f"/proc/{pid}/fd"
    sockets = 0
    for fd in os.listdir(fds):
        try:
            sockets += os.readlink(f"{fds}/{fd}").startswith("socket:")
        except FileNotFoundError:  # closed meanwhile
            pass
    return sockets


def test_attacks_cost_a_good_client_nothing(server: RunningServer) -> None:
    receiver = hello(server, "good-receiver")
    sender = hello(server, "good-sender")
    for ws in (receiver, sender):
        send(ws, type="join", room="abuse")
        receive_until(ws, "joined")
    sockets_before = open_sockets(server.process.pid)

    attackers = [
        subprocess.Popen(
            [
                sys.executable, "-m", "tests.attacker", mode,
                "--port", str(server.port), "--data-dir", str(server.data_dir),
                "--room", "abuse", "--seconds", str(SECONDS),
            ],
            cwd=ROOT,
        )
        for mode in ATTACKS
    ]  # fmt: skip
    latencies: list[float] = []
    texts: list[str] = []

    def receive_all(count: int) -> None:
        while len(texts) < count:
            frame = receive_until(receiver, "message")
            if frame["user"] != "good-sender":
                continue
            sent_at, _, text = frame["text"].partition(" ")
            latencies.append(time.time() - float(sent_at))
            texts.append(text)

    # Measured once the attackers are set up (300 new rooms, 600 sockets),
    # while their attacks go on: 140 messages.
    count = int((SECONDS - WARM_UP - 0.5) / INTERVAL)
    try:
        time.sleep(WARM_UP)
        reading = threading.Thread(target=receive_all, args=(count,), daemon=True)
        reading.start()
        signer = TokenSigner(load_secret(server.data_dir))  # no token process mid-test
        newcomers = 0
        for i in range(count):
            send(sender, type="send", room="abuse", text=f"{time.time()} good {i}")
            if i % 20 == 10:  # a new client gets in while the attacks go on
                token = signer.issue(f"newcomer{i}", ttl=600, now=time.time())
                hello(server, f"newcomer{i}", token=token).close()
                newcomers += 1
            time.sleep(INTERVAL)
        reading.join(30)
    finally:
        for attacker in attackers:
            attacker.wait(30)

    assert texts == [f"good {i}" for i in range(count)]
    latencies.sort()
    p99_ms = 1000 * latencies[int(0.99 * len(latencies))]
    print(json.dumps({"good_messages": count, "newcomers": newcomers, "p99_ms": round(p99_ms, 1)}))
    assert p99_ms < P99_LIMIT_MS
    assert server.process.poll() is None
    assert server.http("GET", "/healthz")[0] == 200
    assert not any("Traceback" in line for line in server.log)
    # Every attacker's socket is gone again once the attackers are: no leak.
    deadline = time.monotonic() + 10
    while open_sockets(server.process.pid) > sockets_before:
        assert time.monotonic() < deadline, (open_sockets(server.process.pid), sockets_before)
        time.sleep(0.2)
