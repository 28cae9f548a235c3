"""A raw RFC 6455 client over a plain socket: it sends exactly the bytes a
test asks for (fragments, bad masks, bad UTF-8) and parses what comes back."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from typing import Any

import trio

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    mask_bit = 0x80 if masked else 0
    if size < 126:
        header = struct.pack("!BB", first, mask_bit | size)
    elif size < 65536:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def take_frame(buffer: bytearray) -> tuple[int, bytes] | None:
    """The first complete server frame in `buffer`, removed from it; or None."""
    if len(buffer) < 2:
        return None
    size, offset = buffer[1] & 0x7F, 2
    if size == 126:
        size, offset = int.from_bytes(buffer[2:4], "big"), 4
    elif size == 127:
        size, offset = int.from_bytes(buffer[2:10], "big"), 10
    if len(buffer) < offset + size:
        return None
    frame = (buffer[0] & 0x0F, bytes(buffer[offset : offset + size]))
    del buffer[: offset + size]
    return frame


def upgrade_request(host: str, headers: dict[str, str] | None = None) -> bytes:
    """The opening handshake of RFC 6455 section 4.1, for /ws."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /ws HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def upgrade(
    host: str, port: int, timeout: float = 30, source: str | None = None
) -> tuple[socket.socket, bytes]:
    """Blocking: connect (from the address `source`, if given) and upgrade;
    the socket and the bytes after the 101 head."""
    source_address = None if source is None else (source, 0)
    sock = socket.create_connection((host, port), timeout=timeout, source_address=source_address)
    sock.sendall(upgrade_request(f"{host}:{port}"))
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            sock.close()
            raise ConnectionError("closed during the handshake")
        response += chunk
    head, leftover = response.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101"):
        sock.close()
        raise ConnectionError(head.decode(errors="replace"))
    return sock, leftover


class RawClient:
    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.buffer = bytearray()
        self.closed = False

    @classmethod
    async def connect(cls, sock: socket.socket, headers: dict[str, str] | None = None) -> RawClient:
        client = cls(sock)
        client.sock.sendall(upgrade_request("localhost", headers))
        head = await client.read_head()
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))
        return client

    async def read_head(self) -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            await self._read()
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        self.buffer = bytearray(rest)
        return head

    async def _read(self) -> None:
        await trio.lowlevel.wait_readable(self.sock)
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            raise EOFError("the server closed the connection")
        self.buffer += data

    def send(self, opcode: int, payload: bytes, **options: bool) -> None:
        self.sock.sendall(client_frame(opcode, payload, **options))

    def send_json(self, **frame: Any) -> None:
        self.send(OP_TEXT, json.dumps(frame).encode())

    async def next_frame(self) -> tuple[int, bytes]:
        with trio.fail_after(10):
            while (frame := take_frame(self.buffer)) is None:
                await self._read()
            return frame

    async def next_json(self) -> dict[str, Any]:
        while True:
            opcode, payload = await self.next_frame()
            if opcode == OP_TEXT:
                frame: dict[str, Any] = json.loads(payload)
                return frame
            if opcode == OP_CLOSE:
                raise EOFError(f"closed with {close_code(payload)}")

    async def close_code(self) -> int:
        """Frames up to the server's close frame; its code."""
        while True:
            opcode, payload = await self.next_frame()
            if opcode == OP_CLOSE:
                return close_code(payload)


def close_code(payload: bytes) -> int:
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005


def answer_to(
    host: str, port: int, request: bytes, *, chunk: int | None = None, pause: float = 0.0
) -> bytes:
    """Blocking: send `request` (in `chunk`-byte writes `pause` s apart, if
    given) and read until the server closes; b"reset" if the connection was
    reset, whether while sending or reading."""
    with socket.create_connection((host, port), timeout=30) as sock:
        received = b""
        try:
            step = chunk or len(request) or 1
            for start in range(0, len(request), step):
                sock.sendall(request[start : start + step])
                time.sleep(pause)
            while chunk_read := sock.recv(4096):
                received += chunk_read
        except (ConnectionResetError, BrokenPipeError):
            return b"reset"
        return received
