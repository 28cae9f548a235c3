"""Connection churn: what a connection's whole life costs each server.

LOOPS clients at once, each repeating for DURATION seconds: connect and
upgrade, `hello`, `join` a room of its own, `send` one message and wait for
it, `leave`, close (a close frame both ways). Reported per server: cycles
per second, and the server's CPU per cycle from /proc (the figure the load
generator's own cost does not enter). Failed cycles are counted: a run with
any compares nothing.

    .venv/bin/python -m bench.churn [--loops 20] [--duration 10]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.loadgen import client_frame, server_cpu_seconds, split_frames
from bench.run import (
    BENCH,
    BENCH_LIMITS,
    LISTENING,
    bench_environment,
    free_port,
    start,
    stop,
)
from chatroom.auth import TokenSigner
from tests.rawws import upgrade

CLOSE_NORMAL = (1000).to_bytes(2, "big")


def server_command(server: str, data_dir: Path) -> list[str]:
    if server == "chatroom":
        command = [sys.executable, "-m", "chatroom", "--port", "0", "--data-dir", str(data_dir)]
        return [*command, *BENCH_LIMITS]
    script = {"websockets": "websockets_server.py", "naive": "naive_server.py"}[server]
    return [sys.executable, str(BENCH / script), str(free_port())]


class Loop:
    """One client living and dying over and over."""

    def __init__(self, index: int, port: int, signer: TokenSigner) -> None:
        self.room = f"churn{index}"
        self.port = port
        self.token = signer.issue(f"c{index}", ttl=3600, now=time.time())
        self.cycles = 0
        self.failures = 0

    def run(self, until: float) -> None:
        while time.monotonic() < until:
            try:
                self.cycle()
                self.cycles += 1
            except (OSError, ValueError):
                self.failures += 1

    def cycle(self) -> None:
        sock, leftover = upgrade("127.0.0.1", self.port)
        buffer = bytearray(leftover)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.say(sock, {"type": "hello", "token": self.token})
            self.wait(sock, buffer, "welcome")
            self.say(sock, {"type": "join", "room": self.room})
            self.wait(sock, buffer, "joined")
            self.say(sock, {"type": "send", "room": self.room, "text": "hello"})
            self.wait(sock, buffer, "message")
            self.say(sock, {"type": "leave", "room": self.room})
            self.wait(sock, buffer, "left")
            sock.sendall(client_frame(CLOSE_NORMAL, 0x8))
            self.wait(sock, buffer, None)  # the server's close frame
        finally:
            sock.close()

    def say(self, sock: socket.socket, frame: dict[str, Any]) -> None:
        sock.sendall(client_frame(json.dumps(frame).encode()))

    def wait(self, sock: socket.socket, buffer: bytearray, frame_type: str | None) -> None:
        """Read up to a text frame of `frame_type` (None: a close frame)."""
        while True:
            for opcode, payload in split_frames(buffer):
                if opcode == 0x8 and frame_type is None:
                    return
                if opcode == 0x1 and json.loads(payload)["type"] == frame_type:
                    return
            chunk = sock.recv(65536)
            if not chunk:
                raise ValueError(f"closed before {frame_type}")
            buffer += chunk


def churn(server: str, loops: int, duration: float) -> dict[str, Any]:
    env = bench_environment()
    signer = TokenSigner(env["CHATROOM_SECRET"].encode())
    with tempfile.TemporaryDirectory() as data_dir:
        process, port = start(server_command(server, Path(data_dir)), env, LISTENING)
        try:
            Loop(999, port, signer).cycle()  # warm up imports and the database
            clients = [Loop(i, port, signer) for i in range(loops)]
            cpu_before, started = server_cpu_seconds([process.pid]), time.monotonic()
            threads = [threading.Thread(target=c.run, args=(started + duration,)) for c in clients]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            cpu = server_cpu_seconds([process.pid]) - cpu_before
        finally:
            stop(process)
    cycles = sum(c.cycles for c in clients)
    return {
        "server": server,
        "cycles_per_s": round(cycles / elapsed),
        "server_cpu_ms_per_cycle": round(1000 * cpu / max(cycles, 1), 3),
        "server_cpu_percent": round(100 * cpu / elapsed, 1),
        "failed_cycles": sum(c.failures for c in clients),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loops", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--servers", default="websockets,naive,chatroom")
    args = parser.parse_args()
    for server in args.servers.split(","):
        print(json.dumps(churn(server, args.loops, args.duration)), flush=True)


if __name__ == "__main__":
    main()
