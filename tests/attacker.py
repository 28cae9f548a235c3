"""One kind of hostile client, run as its own process by tests/test_abuse.py.

    python -m tests.attacker MODE --port P --data-dir D --room R --seconds S

Every mode loops until S seconds have passed, against 127.0.0.1 only:
  flood      a member of R sending as fast as it can (rate limited, then 1008)
  nonreader  a member of R that never reads (its queue overflows: 1013)
  bigframe   frames over the size limit (1009)
  slowloris  100 sockets sending a request head one byte at a time
  garbage    random bytes and TLS handshakes on the plain port
  churn      connections opened and dropped before they say anything
  roomlist   users creating all the rooms they may, then asking for the
             listing 10 times a second on WebSocket and over HTTP
  idlehttp   keep-alive HTTP sockets from two more loopback addresses,
             trying to hold every unauthenticated slot
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import time
from pathlib import Path

from chatroom.auth import TokenSigner, load_secret
from tests.rawws import OP_TEXT, client_frame, upgrade

TLS_CLIENT_HELLO = bytes.fromhex("16030100a5010000a10303") + os.urandom(32)


def send_json(sock: socket.socket, **frame: object) -> None:
    sock.sendall(client_frame(OP_TEXT, json.dumps(frame).encode()))


def member(port: int, token: str, room: str) -> socket.socket:
    sock, _ = upgrade("127.0.0.1", port, timeout=5)
    send_json(sock, type="hello", token=token)
    send_json(sock, type="join", room=room)
    return sock


def drain(sock: socket.socket) -> None:
    sock.settimeout(0)
    try:
        while sock.recv(65536):
            pass
    except (BlockingIOError, OSError):
        pass
    sock.settimeout(5)


LISTERS = 5
ROOMS_PER_LISTER = 60  # the server's default cap on new rooms per user and hour


def list_rooms(port: int, signer: TokenSigner, deadline: float) -> None:
    listers = []
    for n in range(LISTERS):
        token = signer.issue(f"lister{os.getpid() % 1000}-{n}", ttl=600, now=time.time())
        sock, _ = upgrade("127.0.0.1", port, timeout=5)
        send_json(sock, type="hello", token=token)
        for i in range(ROOMS_PER_LISTER):
            name = f"{os.getpid()}-{n}-{i}-".ljust(64, "x")
            send_json(sock, type="join", room=name)  # within the server's burst
        drain(sock)
        listers.append(sock)
    http = socket.create_connection(("127.0.0.1", port), timeout=5)
    token = signer.issue("http-lister", ttl=600, now=time.time())
    while time.monotonic() < deadline:
        for sock in listers:
            send_json(sock, type="rooms")
            drain(sock)
        http.sendall(
            f"GET /api/rooms HTTP/1.1\r\nHost: localhost\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
        drain(http)
        time.sleep(0.1)


def hold_idle_sockets(port: int, deadline: float) -> None:
    held: list[socket.socket] = []
    for source in ("127.0.0.2", "127.0.0.3"):
        for _ in range(300):
            try:
                sock = socket.create_connection(
                    ("127.0.0.1", port), timeout=5, source_address=(source, 0)
                )
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                held.append(sock)
            except OSError:
                pass
    while time.monotonic() < deadline:
        for sock in held:  # keep-alive: a request now and then
            try:
                drain(sock)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            except OSError:
                pass
        time.sleep(1.0)
    for sock in held:
        sock.close()


def run(mode: str, port: int, signer: TokenSigner, room: str, deadline: float) -> None:
    token = signer.issue(f"{mode}{os.getpid() % 1000}", ttl=600, now=time.time())
    while time.monotonic() < deadline:
        try:
            if mode == "flood":
                sock = member(port, token, room)
                while time.monotonic() < deadline:
                    send_json(sock, type="send", room=room, text="spam " * 20)
                    drain(sock)
            elif mode == "nonreader":
                sock = member(port, token, room)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                time.sleep(min(3.0, max(0.0, deadline - time.monotonic())))
                sock.close()
            elif mode == "bigframe":
                sock = member(port, token, room)
                sock.sendall(client_frame(OP_TEXT, b"x" * 100_000))
                sock.recv(65536)
                sock.close()
            elif mode == "slowloris":
                socks = [
                    socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(100)
                ]
                for byte in b"GET / HTTP/1.1\r\nHost: localhost\r\n":
                    if time.monotonic() >= deadline:
                        break
                    for sock in socks:
                        sock.send(bytes([byte]))
                    time.sleep(0.5)
                for sock in socks:
                    sock.close()
            elif mode == "garbage":
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(random.choice([TLS_CLIENT_HELLO, os.urandom(random.randint(1, 4096))]))
                sock.recv(65536)
                sock.close()
                time.sleep(0.01)
            elif mode == "roomlist":
                list_rooms(port, signer, deadline)
            elif mode == "idlehttp":
                hold_idle_sockets(port, deadline)
            elif mode == "churn":
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.close()
                time.sleep(0.005)
        except OSError:
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--room", default="abuse")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    signer = TokenSigner(load_secret(args.data_dir))
    run(args.mode, args.port, signer, args.room, time.monotonic() + args.seconds)


if __name__ == "__main__":
    main()
