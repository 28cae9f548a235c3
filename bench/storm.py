"""Connects/s, idle memory and a reconnect storm, against one server.

    python -m bench.storm [--clients 10000] [--rooms 50] [--servers chatroom,...]

1. Connect: CLIENTS clients connect, upgrade, `hello` and `join` one of ROOMS
   rooms, at most IN_FLIGHT at a time: connects/s over the whole phase.
2. Idle: server RSS per joined client (against its RSS before the first).
3. Restart: the server is stopped (SIGTERM, as a deploy does) and started
   again on the same port and data directory. A sender sends one message to
   every room, which every client missed; a watcher joins room 0.
4. Storm: every client reconnects at once and joins with `since` = the last
   id it saw, while the sender sends RATE messages/s to room 0. Reported: the
   seconds until every client has its `joined`, failed connects, the
   watcher's p50/p99 latency over the storm, and messages lost: the sender's
   messages the watcher never got, and (for servers that keep history) ids
   after a client's `since` that neither its `joined` nor a live frame
   brought.

One process, one epoll loop (`selectors`) over non-blocking sockets, as in
loadgen.py: every client is a state machine (connecting, upgrading, joining,
joined). Presence frames, most of the storm's traffic, are counted by their
first bytes and never parsed.
"""

from __future__ import annotations

import argparse
import base64
import errno
import json
import os
import selectors
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.loadgen import client_frame, percentile, server_rss_kib, split_frames
from bench.run import BENCH, BENCH_LIMITS, LISTENING, bench_environment, free_port, start, stop
from chatroom.auth import TokenSigner

CONNECTING, UPGRADING, JOINING, JOINED, GONE = range(5)
STORM_LIMIT_S = 180.0
CONNECT_ATTEMPTS = 5  # a refused or reset connect is tried again, and counted


class Client:
    def __init__(self, index: int, room: str, token: str) -> None:
        self.index = index
        self.room = room
        self.token = token
        self.state = GONE
        self.sock: socket.socket | None = None
        self.buffer = bytearray()
        self.since = 0  # the last id it saw before the restart
        self.ids: set[int] = set()  # ids that reached it since it last joined
        self.attempts = 0
        self.joined_at = 0.0


class Storm:
    def __init__(self, host: str, port: int, signer: TokenSigner, args: argparse.Namespace):
        self.host, self.port = host, port
        self.args = args
        self.selector = selectors.DefaultSelector()
        rooms = [f"storm{r}" for r in range(args.rooms)]
        self.clients = [
            Client(i, rooms[i % args.rooms], signer.issue(f"s{i}", ttl=7200, now=time.time()))
            for i in range(args.clients)
        ]
        self.rooms = rooms
        self.signer = signer
        self.failed_connects = 0
        self.joined = 0
        self.on_message: Any = None  # (client, frame) for the watcher and sender

    # -- one client ------------------------------------------------------------

    def open(self, client: Client) -> None:
        client.attempts += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex((self.host, self.port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self.failed(client)
            return
        client.sock, client.state, client.buffer = sock, CONNECTING, bytearray()
        self.selector.register(sock, selectors.EVENT_WRITE, client)

    def failed(self, client: Client) -> None:
        self.failed_connects += 1
        self.drop(client)
        if client.attempts < CONNECT_ATTEMPTS:
            self.open(client)

    def drop(self, client: Client) -> None:
        if client.sock is not None:
            self.selector.unregister(client.sock)
            client.sock.close()
            client.sock = None
        if client.state == JOINED:
            self.joined -= 1
        client.state = GONE

    def send(self, client: Client, frame: dict[str, Any]) -> None:
        self.send_frame(client, client_frame(json.dumps(frame).encode()))

    def send_frame(self, client: Client, data: bytes) -> None:
        assert client.sock is not None
        try:
            client.sock.sendall(data)
        except OSError:
            pass  # small frames into an empty buffer; a broken socket shows on read

    def on_event(self, client: Client, mask: int) -> None:
        sock = client.sock
        assert sock is not None
        if client.state == CONNECTING:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self.failed(client)
                return
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET /ws HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            )
            sock.send(request.encode())
            client.state = UPGRADING
            self.selector.modify(sock, selectors.EVENT_READ, client)
            return
        try:
            chunk = sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            if client.state in (UPGRADING, JOINING):
                self.failed(client)
            else:
                self.drop(client)
            return
        client.buffer += chunk
        if client.state == UPGRADING:
            end = client.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not client.buffer.startswith(b"HTTP/1.1 101"):
                self.failed(client)
                return
            del client.buffer[: end + 4]
            client.state = JOINING
            self.send(client, {"type": "hello", "token": client.token})
            self.send(client, {"type": "join", "room": client.room, "since": client.since})
        for opcode, payload in split_frames(client.buffer):
            if opcode == 0x9:
                self.send_frame(client, client_frame(payload, 0xA))
            elif opcode == 0x8:
                self.drop(client)
                return
            elif opcode == 0x1 and b'"presence"' not in payload[:40]:
                self.on_text(client, json.loads(payload))

    def on_text(self, client: Client, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "joined" and client.state != JOINED:
            client.ids = {m["id"] for m in frame.get("history", ())}
            client.state = JOINED
            client.joined_at = time.monotonic()
            self.joined += 1
            if frame.get("truncated"):  # more after `since` than one frame holds
                self.page_back(client)
        elif kind == "history":
            client.ids.update(m["id"] for m in frame["messages"])
            if frame["messages"] and frame.get("more"):
                self.page_back(client)
        elif kind == "message":
            client.ids.add(frame["id"])
            if self.on_message is not None:
                self.on_message(client, frame)

    def page_back(self, client: Client) -> None:
        """Ask for the page before the oldest id it has, if that is after `since`."""
        oldest = min(client.ids, default=0)
        if oldest > client.since + 1:
            self.send(client, {"type": "history", "room": client.room, "before": oldest})

    # -- the loop --------------------------------------------------------------

    def pump(self, timeout: float) -> None:
        for key, mask in self.selector.select(timeout):
            if key.data.sock is not None:
                self.on_event(key.data, mask)

    def run_until(self, done: Any, limit: float, tick: Any = None) -> bool:
        deadline = time.monotonic() + limit
        while not done():
            if time.monotonic() > deadline:
                return False
            self.pump(0.01)
            if tick is not None:
                tick()
        return True

    def connect(self, clients: list[Client], in_flight: int) -> None:
        """Open `clients`, at most `in_flight` not yet joined at once."""
        waiting = list(reversed(clients))
        target = self.joined + len(clients)

        def tick() -> None:
            pending = sum(1 for c in clients if c.state in (CONNECTING, UPGRADING, JOINING))
            for _ in range(min(len(waiting), in_flight - pending)):
                self.open(waiting.pop())

        tick()
        if not self.run_until(lambda: self.joined >= target, STORM_LIMIT_S, tick):
            raise RuntimeError(f"only {self.joined} of {target} clients joined")

    def close_all(self) -> None:
        for client in self.clients:
            if client.sock is not None:
                self.drop(client)


def server_command(server: str, port: int, data_dir: Path) -> list[str]:
    if server == "chatroom":
        command = ["-m", "chatroom", "--port", str(port), "--data-dir", str(data_dir)]
        return [sys.executable, *command, *BENCH_LIMITS]
    script = {"websockets": "websockets_server.py", "naive": "naive_server.py"}[server]
    return [sys.executable, str(BENCH / script), str(port)]


def storm(server: str, args: argparse.Namespace) -> dict[str, Any]:
    env = bench_environment()
    signer = TokenSigner(env["CHATROOM_SECRET"].encode())
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        command = server_command(server, port, Path(data_dir))
        process, _ = start(command, env, LISTENING)
        load = Storm("127.0.0.1", port, signer, args)
        try:
            load.connect(load.clients[:1], 1)  # warm up imports and the database
            rss_before = server_rss_kib([process.pid])
            started = time.monotonic()
            load.connect(load.clients[1:], args.in_flight)
            connect_seconds = time.monotonic() - started
            load.run_until(lambda: False, 2.0)  # presence settles
            idle_kib = (server_rss_kib([process.pid]) - rss_before) / (args.clients - 1)
            # One message in each room before the restart: each client's `since`.
            for first in load.clients[: args.rooms]:
                load.send(first, {"type": "send", "room": first.room, "text": "before"})
            load.run_until(lambda: False, 2.0)
            for client in load.clients:
                client.since = max(client.ids, default=0)
            process.send_signal(signal.SIGTERM)  # a deploy
            load.run_until(lambda: load.joined == 0, 30.0)
            load.close_all()
            process.wait(30)
            process, _ = start(command, env, LISTENING)
            result = reconnect(load, signer, args, keeps_history=server == "chatroom")
        finally:
            load.close_all()
            stop(process)
    return {
        "server": server,
        "clients": args.clients,
        "connects_per_s": round((args.clients - 1) / connect_seconds),
        "idle_kib_per_client": round(idle_kib, 1),
        **result,
    }


def reconnect(
    load: Storm, signer: TokenSigner, args: argparse.Namespace, *, keeps_history: bool
) -> dict[str, Any]:
    """The storm, with a sender and a watcher in room 0."""
    sender = Client(-1, load.rooms[0], signer.issue("sender", ttl=7200, now=time.time()))
    watcher = Client(-2, load.rooms[0], signer.issue("watcher", ttl=7200, now=time.time()))
    sent: dict[str, float] = {}  # text -> when sent
    acked: list[int] = []
    latencies_us: list[int] = []
    watching = False

    def on_message(client: Client, frame: dict[str, Any]) -> None:
        if client is sender and frame["text"] in sent:
            acked.append(frame["id"])
        elif client is watcher and watching and frame["text"] in sent:
            latencies_us.append(round(1e6 * (time.monotonic() - sent[frame["text"]])))

    load.on_message = on_message
    load.connect([sender, watcher], 2)
    # One message in every room that every client missed while away.
    for room in load.rooms[1:]:
        load.send(sender, {"type": "join", "room": room})
        load.send(sender, {"type": "send", "room": room, "text": "while you were away"})
        load.send(sender, {"type": "leave", "room": room})
    load.send(sender, {"type": "send", "room": load.rooms[0], "text": "while you were away"})
    load.run_until(lambda: False, 1.0)
    watching = True
    started = time.monotonic()
    clients = load.clients
    for client in clients:
        client.attempts = 0
        load.open(client)
    next_send = started

    def tick() -> None:
        nonlocal next_send
        now = time.monotonic()
        while now >= next_send:
            text = f"storm {len(sent)}"
            sent[text] = time.monotonic()
            load.send(sender, {"type": "send", "room": load.rooms[0], "text": text})
            next_send += 1 / args.rate

    def all_joined() -> bool:
        return all(c.state == JOINED for c in clients)

    complete = load.run_until(all_joined, STORM_LIMIT_S, tick)
    storm_seconds = max(c.joined_at for c in clients) - started if complete else STORM_LIMIT_S
    during = len(sent)
    load.run_until(lambda: False, 2.0)  # what is in flight arrives
    watching = False
    watcher_lost = len(set(acked) - watcher.ids)
    latencies_us.sort()
    return {
        "storm_seconds": round(storm_seconds, 2),
        "all_joined": complete,
        "failed_connects": load.failed_connects,
        "sent_during_storm": during,
        "acked": len(acked),
        "watcher_p50_ms": round(percentile(latencies_us, 0.50) / 1000, 1),
        "watcher_p99_ms": round(percentile(latencies_us, 0.99) / 1000, 1),
        "watcher_lost": watcher_lost,
        "catch_up_lost": catch_up_lost(clients) if keeps_history else None,
    }


def catch_up_lost(clients: list[Client]) -> int:
    """Ids after each client's `since` that it never got, from its `joined`
    history or live: for a server that keeps history (the peers' ids start
    again from 1 after a restart, and they send no history)."""
    last: dict[str, int] = {}
    for client in clients:
        last[client.room] = max(last.get(client.room, 0), max(client.ids, default=0))
    return sum(
        len(set(range(client.since + 1, last[client.room] + 1)) - client.ids) for client in clients
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="messages/s to room 0")
    parser.add_argument("--servers", default="websockets,naive,chatroom")
    args = parser.parse_args()
    for server in args.servers.split(","):
        print(json.dumps(storm(server, args)), flush=True)


if __name__ == "__main__":
    main()
