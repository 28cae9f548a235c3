"""Load generator: many WebSocket clients in one room, in one process.

A plain epoll loop (`selectors`) rather than Trio: on a 2-core machine the
generator must cost as little CPU as possible, and a readiness loop over raw
sockets wakes once per socket per batch of bytes with no task switch. Each
client is a real RFC 6455 client (handshake, masked frames; the zero mask key
is legal and keeps payloads unchanged).

Phases, each printing one JSON line on stdout:
  steady  RATE messages/s in all from the senders; every client parses every
          frame and records send-to-delivery latency.
  full    senders keep WINDOW unacknowledged messages each in flight; most
          clients only count bytes, a sample parses, giving deliveries/s.
  idle    clients connect and join, then nothing is sent (for memory).
Server CPU comes from /proc/PID/stat over the measured window.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import socket
import struct
import sys
import time
from typing import Any

from chatroom.auth import TokenSigner
from tests.rawws import upgrade

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLERS = 16
SCRATCH = bytearray(1 << 20)


def server_cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of the server's processes (workers: each of them)."""
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def server_rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as status:
            total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return total


def server_fds(pids: list[int]) -> int:
    return sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in pids)


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    size = len(payload)
    first = 0x80 | opcode
    if size < 126:
        header = struct.pack("!BB", first, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, size)
    return header + b"\0\0\0\0" + payload


def split_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Complete frames at the front of `buffer` (removed from it)."""
    frames = []
    offset, end = 0, len(buffer)
    while end - offset >= 2:
        size = buffer[offset + 1] & 0x7F
        header = 2
        if size == 126:
            if end - offset < 4:
                break
            size = int.from_bytes(buffer[offset + 2 : offset + 4], "big")
            header = 4
        elif size == 127:
            if end - offset < 10:
                break
            size = int.from_bytes(buffer[offset + 2 : offset + 10], "big")
            header = 10
        if end - offset < header + size:
            break
        opcode = buffer[offset] & 0x0F
        frames.append((opcode, bytes(buffer[offset + header : offset + header + size])))
        offset += header + size
    del buffer[:offset]
    return frames


class Client:
    def __init__(self, index: int, sock: socket.socket, leftover: bytes) -> None:
        self.index = index
        self.user = f"u{index}"
        self.sock = sock
        self.buffer = bytearray(leftover)
        self.parse = True
        self.closed = False
        self.bytes = 0
        self.messages = 0
        self.message_bytes = 0
        self.in_flight = 0
        self.last_id = 0
        self.out_of_order = 0

    def send(self, frame: dict[str, Any]) -> None:
        self.send_frame(0x1, json.dumps(frame).encode())

    def send_frame(self, opcode: int, payload: bytes) -> None:
        if self.closed:
            return
        try:
            self.sock.sendall(client_frame(payload, opcode))
        except BlockingIOError:
            pass  # a full send buffer; small frames only, so this stays rare
        except OSError:
            self.closed = True


class LoadGenerator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.signer = TokenSigner(os.environ["CHATROOM_SECRET"].encode())
        self.selector = selectors.DefaultSelector()
        self.clients: list[Client] = []
        self.latencies_ns: list[int] = []
        self.record = False

    # -- setup --------------------------------------------------------------

    def connect(self, index: int) -> Client:
        sock, leftover = upgrade(self.args.host, self.args.port, source=self.args.source)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = Client(index, sock, leftover)
        token = self.signer.issue(client.user, ttl=3600, now=time.time())
        client.send({"type": "hello", "token": token})
        client.send({"type": "join", "room": self.room_of(index)})
        self.wait_for(client, "joined")
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, client)
        return client

    def room_of(self, index: int) -> str:
        # Senders and samplers (the first clients) always share room 0.
        return f"{self.args.room}{index % self.args.rooms}"

    def wait_for(self, client: Client, frame_type: str) -> None:
        while True:
            for opcode, payload in split_frames(client.buffer):
                if opcode == 1 and json.loads(payload)["type"] == frame_type:
                    return
            chunk = client.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed before {frame_type}")
            client.buffer += chunk

    def connect_all(self, count: int) -> None:
        for index in range(count):
            self.clients.append(self.connect(index))
            if index % 50 == 0:
                self.pump(0)
            if index % 2000 == 1999:
                print(f"{index + 1} clients connected", file=sys.stderr, flush=True)
        self.settle()

    def settle(self, quiet: float = 0.5, longest: float = 10.0) -> None:
        """Read until nothing has arrived for `quiet` seconds (keepalive pings
        never stop on a big server: give up after `longest`)."""
        deadline = time.monotonic() + longest
        while self.pump(quiet) and time.monotonic() < deadline:
            pass

    # -- the loop -------------------------------------------------------------

    def pump(self, timeout: float) -> int:
        events = self.selector.select(timeout)
        for key, _ in events:
            self.on_readable(key.data)
        return len(events)

    def on_readable(self, client: Client) -> None:
        try:
            size = client.sock.recv_into(SCRATCH)
        except BlockingIOError:
            return
        except OSError:
            size = 0
        if size == 0:
            client.closed = True
            self.selector.unregister(client.sock)
            return
        client.bytes += size
        if not client.parse:
            return
        client.buffer += memoryview(SCRATCH)[:size]
        now = time.monotonic_ns()
        for opcode, payload in split_frames(client.buffer):
            if opcode == 8:
                client.closed = True
                continue
            if opcode == 9:  # the server's keepalive ping
                client.send_frame(0xA, payload)
                continue
            if not payload.startswith(b'{"type":"message"'):
                continue
            message = json.loads(payload)
            client.messages += 1
            client.message_bytes += len(payload) + (2 if len(payload) < 126 else 4)
            if message["id"] <= client.last_id:
                client.out_of_order += 1
            client.last_id = message["id"]
            if message["user"] == client.user:
                client.in_flight -= 1
            if self.record:
                sent_ns = int(message["text"].split(" ", 1)[0])
                self.latencies_ns.append(now - sent_ns)

    def send_message(self, sender: Client, room: str | None = None) -> None:
        text = f"{time.monotonic_ns()} " + "x" * self.args.text_size
        sender.send({"type": "send", "room": room or self.room_of(0), "text": text})
        sender.in_flight += 1

    # -- phases -------------------------------------------------------------

    def steady(self, rate: float, seconds: float, warmup: float) -> dict[str, Any]:
        senders = self.clients[: self.args.senders]
        interval = 1 / rate
        start = time.monotonic()
        next_send = start
        cpu_start = wall_start = broker_start = 0.0
        sent = 0
        while True:
            now = time.monotonic()
            if not self.record and now >= start + warmup:
                self.record = True
                self.latencies_ns.clear()
                cpu_start, wall_start = server_cpu_seconds(self.args.pid), now
                broker_start = server_cpu_seconds(self.args.broker_pid)
            if now >= start + warmup + seconds:
                break
            if now >= next_send:
                self.send_message(senders[sent % len(senders)])
                sent += 1
                next_send += interval
                continue
            self.pump(next_send - now)
        wall = time.monotonic() - wall_start
        cpu = server_cpu_seconds(self.args.pid) - cpu_start
        broker_cpu = server_cpu_seconds(self.args.broker_pid) - broker_start
        self.record = False
        self.settle()
        latencies = sorted(self.latencies_ns)
        return {
            "phase": "steady",
            "rate": rate,
            "clients": len(self.clients),
            "deliveries": len(latencies),
            "server_cpu_percent": 100 * cpu / wall,
            "broker_cpu_percent": 100 * broker_cpu / wall,
            "p50_ms": percentile(latencies, 0.50) / 1e6,
            "p99_ms": percentile(latencies, 0.99) / 1e6,
            "max_ms": latencies[-1] / 1e6 if latencies else 0,
            **self.health(),
        }

    def full_speed(self, seconds: float, warmup: float, window: int) -> dict[str, Any]:
        senders = self.clients[: self.args.senders]
        samplers = self.clients[self.args.senders : self.args.senders + SAMPLERS]
        for client in self.clients:
            client.parse = client in senders or client in samplers
        start = time.monotonic()
        recording = False
        cpu_start = wall_start = broker_start = epoch_start = 0.0
        bytes_start = 0
        while True:
            now = time.monotonic()
            if not recording and now >= start + warmup:
                recording = True
                epoch_start = time.time()
                cpu_start, wall_start = server_cpu_seconds(self.args.pid), now
                broker_start = server_cpu_seconds(self.args.broker_pid)
                bytes_start = sum(c.bytes for c in self.clients)
                for client in samplers:
                    client.messages = client.message_bytes = 0
            if now >= start + warmup + seconds:
                break
            for sender in senders:
                while sender.in_flight < window:
                    self.send_message(sender)
            self.pump(0.01)
        wall = time.monotonic() - wall_start
        epoch_end = time.time()
        cpu = server_cpu_seconds(self.args.pid) - cpu_start
        broker_cpu = server_cpu_seconds(self.args.broker_pid) - broker_start
        received = sum(c.bytes for c in self.clients) - bytes_start
        sampled_messages = sum(c.messages for c in samplers)
        frame_size = sum(c.message_bytes for c in samplers) / max(sampled_messages, 1)
        deliveries = received / frame_size
        # Drained first: a client that only counted bytes may have stopped in
        # the middle of a frame (and in a shared room, others still send).
        self.settle()
        for client in self.clients:
            client.parse = True
        return {
            "phase": "full",
            "clients": len(self.clients),
            "window": window,
            "deliveries_per_s": deliveries / wall,
            "messages_per_s": sampled_messages / len(samplers) / wall,
            "server_cpu_percent": 100 * cpu / wall,
            "server_cpu_us_per_delivery": 1e6 * cpu / deliveries,
            "broker_cpu_us_per_delivery": 1e6 * broker_cpu / deliveries,
            "measured": [epoch_start, epoch_end],  # (epoch seconds: see bench/workers.py)
            **self.health(),
        }

    def soak(self, rate: float, seconds: float, baseline_kib: int) -> dict[str, Any]:
        """Light traffic in every room for `seconds`; the server's memory and
        descriptors sampled as it goes."""
        senders = self.clients[: self.args.rooms]  # client i is in room i % rooms
        connected = {"rss_kib": server_rss_kib(self.args.pid), "fds": server_fds(self.args.pid)}
        samples = []
        interval = 1 / rate
        start = time.monotonic()
        next_send, next_sample = start, start
        sent = 0
        self.record = True
        self.latencies_ns.clear()
        while (now := time.monotonic()) < start + seconds:
            if now >= next_sample:
                samples.append(
                    {
                        "t": round(now - start),
                        "rss_kib": server_rss_kib(self.args.pid),
                        "fds": server_fds(self.args.pid),
                        "open_clients": sum(not c.closed for c in self.clients),
                    }
                )
                next_sample += 30
            if now >= next_send:
                self.send_message(senders[sent % len(senders)], self.room_of(sent % len(senders)))
                sent += 1
                next_send += interval
                continue
            self.pump(min(next_send, next_sample) - now)
        self.record = False
        self.settle()
        latencies = sorted(self.latencies_ns)
        return {
            "phase": "soak",
            "clients": len(self.clients),
            "held": sum(not c.closed for c in self.clients),
            "rooms": self.args.rooms,
            "messages": sent,
            "deliveries": len(latencies),
            "p50_ms": percentile(latencies, 0.50) / 1e6,
            "p99_ms": percentile(latencies, 0.99) / 1e6,
            "server_rss_before_kib": baseline_kib,
            "connected": connected,
            "kib_per_client": (connected["rss_kib"] - baseline_kib) / len(self.clients),
            "samples": samples,
            **self.health(),
        }

    def idle(self, baseline_kib: int) -> dict[str, Any]:
        time.sleep(1)
        self.settle()
        rss = server_rss_kib(self.args.pid)
        return {
            "phase": "idle",
            "clients": len(self.clients),
            "server_rss_before_kib": baseline_kib,
            "server_rss_after_kib": rss,
            "kib_per_client": (rss - baseline_kib) / len(self.clients),
            **self.health(),
        }

    def health(self) -> dict[str, Any]:
        return {
            "closed_clients": sum(c.closed for c in self.clients),
            "out_of_order": sum(c.out_of_order for c in self.clients),
        }


def percentile(sorted_values: list[int], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--pid",
        type=int,
        action="append",
        required=True,
        help="a server process, for CPU and RSS (repeat for each worker)",
    )
    parser.add_argument(
        "--broker-pid", type=int, action="append", default=[], help="Redis, for its CPU"
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--room", default="bench", help="room name prefix")
    parser.add_argument("--rooms", type=int, default=1, help="spread clients over this many rooms")
    parser.add_argument("--text-size", type=int, default=64)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--window", type=int, default=256, help="messages in flight per sender")
    parser.add_argument("--phases", default="steady,full", help="steady, full, idle, soak")
    parser.add_argument(
        "--start-at", type=float, help="once connected, wait for this time (epoch seconds)"
    )
    parser.add_argument(
        "--source", help="connect from this address (127.0.0.2, ...: more ephemeral ports)"
    )
    args = parser.parse_args()

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    generator = LoadGenerator(args)
    baseline = server_rss_kib(args.pid)
    generator.connect_all(args.clients)
    if args.start_at is not None:
        # Several load generators measure one server: their phases line up.
        time.sleep(max(0.0, args.start_at - time.time()))
    for phase in args.phases.split(","):
        if phase == "steady":
            result = generator.steady(args.rate, args.seconds, args.warmup)
        elif phase == "full":
            result = generator.full_speed(args.seconds, args.warmup, args.window)
        elif phase == "idle":
            result = generator.idle(baseline)
        elif phase == "soak":
            result = generator.soak(args.rate, args.seconds, baseline)
        else:
            raise SystemExit(f"unknown phase {phase!r}")
        print(json.dumps(result), flush=True)
    for client in generator.clients:
        client.sock.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
