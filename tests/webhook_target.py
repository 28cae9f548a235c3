"""An HTTP server of the test's own on 127.0.0.1, for outgoing webhooks to
POST to: it answers with the statuses it is given, in turn, and keeps what
it was sent; and how a receiver checks a Standard Webhooks signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import queue
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import attrs

from tests.blackbox import TIMEOUT


@attrs.frozen
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class Target:
    """Answers each POST with the next of `statuses` (then `then`); a 3xx
    carries `Location: /elsewhere`. Bound at once (connections are refused
    until `listen()`), so that its port is known before it serves."""

    def __init__(self, *statuses: int, then: int = 204, listen: bool = True) -> None:
        self.statuses = list(statuses)
        self.then = then
        self.received: queue.Queue[Received] = queue.Queue()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                target.received.put(Received(self.path, headers, body))
                status = target.statuses.pop(0) if target.statuses else target.then
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.server_bind()
        self.port: int = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/in"
        self._thread: threading.Thread | None = None
        if listen:
            self.listen()

    def listen(self) -> None:
        self.server.server_activate()
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def next(self, timeout: float = TIMEOUT) -> Received:
        return self.received.get(timeout=timeout)

    def nothing_within(self, seconds: float) -> bool:
        try:
            self.received.get(timeout=seconds)
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Target:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def verified(received: Received, secret: str) -> bool:
    """Whether a delivery's webhook-signature is the secret's, as any
    receiver checks it (Standard Webhooks), written here apart from the
    server's code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = b".".join(
        [
            received.headers["webhook-id"].encode(),
            received.headers["webhook-timestamp"].encode(),
            received.body,
        ]
    )
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.removeprefix("v1,") for s in received.headers["webhook-signature"].split()]
    return any(hmac.compare_digest(expected, s) for s in offered)
