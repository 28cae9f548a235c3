"""One client socket as a Trio stream, with a non-blocking outbound path.

Rooms hand each member the same prepared frame bytes through `offer()`, a plain
function call: the bytes go straight to the kernel when it takes them, and only
what it will not take waits in a bounded buffer that this transport's writer
task flushes. trio-websocket (handshake, pong, close) and the HTTP front write
through `send_all()`, which queues behind the same buffer, so every write
reaches the socket whole and in the order it was made.
"""

from __future__ import annotations

import collections
import socket
from collections.abc import Callable

import trio

RECEIVE_SIZE = 65536


class SocketTransport(trio.abc.Stream):
    """A connected, non-blocking socket owned by this object."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        max_pending: int,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.max_pending = max_pending
        self.on_overflow = on_overflow
        self.overflowed = False
        self._replay = b""
        self._buffer = bytearray()
        # Absolute stream offsets where each queued write ends: a write is one
        # or more whole WebSocket frames, so these are safe places to cut.
        self._write_ends: collections.deque[int] = collections.deque()
        self._queued_total = 0
        self._sent_total = 0
        self._closed = False
        self._broken: OSError | None = None
        self._work = trio.Event()
        self._progress = trio.Event()

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)

    def replay_first(self, data: bytes) -> None:
        """Make the next receive_some() return `data` (bytes already read)."""
        self._replay = data + self._replay

    # -- receiving ---------------------------------------------------------

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint_if_cancelled()
        size = max_bytes or RECEIVE_SIZE
        if self._replay:
            data, self._replay = self._replay[:size], self._replay[size:]
            await trio.lowlevel.cancel_shielded_checkpoint()
            return data
        waited = False
        while True:
            if self._closed:
                raise trio.ClosedResourceError("transport is closed")
            try:
                data = self.sock.recv(size)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self.sock)
                waited = True
                continue
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from exc
            if not waited:
                await trio.lowlevel.cancel_shielded_checkpoint()
            return data

    # -- sending -----------------------------------------------------------

    def offer(self, data: bytes) -> bool:
        """Queue whole frames without blocking; False if they will never be sent.

        When the pending bytes would pass `max_pending`, the transport is marked
        overflowed, everything not yet begun is dropped, `on_overflow` runs, and
        every later offer is refused.
        """
        if self._closed or self._broken is not None or self.overflowed:
            return False
        if len(self._buffer) + len(data) > self.max_pending and self._buffer:
            self._overflow()
            return False
        return self._enqueue(data)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise trio.ClosedResourceError("transport is closed")
        if not self._enqueue(bytes(data)):
            raise trio.BrokenResourceError(str(self._broken))
        await self._wait_sent(self._queued_total)

    async def wait_send_all_might_not_block(self) -> None:
        await self._wait_sent(self._queued_total)

    async def _wait_sent(self, target: int) -> None:
        waited = False
        while self._sent_total < target:
            if self._closed:
                raise trio.ClosedResourceError("transport is closed")
            if self._broken is not None:
                raise trio.BrokenResourceError(str(self._broken))
            await self._progress.wait()
            waited = True
        if not waited:
            await trio.lowlevel.checkpoint()

    def _enqueue(self, data: bytes) -> bool:
        if self._broken is not None:
            return False
        sent = 0
        if not self._buffer:
            sent = self._send_now(data)
            if sent < 0:
                return False
        self._queued_total += len(data)
        self._sent_total += sent
        if sent < len(data):
            self._buffer += memoryview(data)[sent:]
            self._write_ends.append(self._queued_total)
            self._work.set()
        return True

    def _send_now(self, data: bytes | bytearray) -> int:
        """Bytes the kernel took right away; -1 if the connection is broken."""
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            self._fail(exc)
            return -1

    def _overflow(self) -> None:
        self.overflowed = True
        # Keep the write the kernel is in the middle of, so that a close frame
        # queued after it still lands on a frame boundary.
        current_end = self._write_ends[0] if self._write_ends else self._sent_total
        del self._buffer[current_end - self._sent_total :]
        self._write_ends.clear()
        if self._buffer:
            self._write_ends.append(current_end)
        self._queued_total = current_end
        if self.on_overflow is not None:
            self.on_overflow()

    def _fail(self, exc: OSError) -> None:
        self._broken = exc
        self._buffer.clear()
        self._write_ends.clear()
        self._wake_all()

    def _wake_all(self) -> None:
        self._work.set()
        progress, self._progress = self._progress, trio.Event()
        progress.set()

    async def run_writer(self) -> None:
        """Flush what the kernel did not take at once; runs for the socket's life."""
        while not self._closed and self._broken is None:
            if not self._buffer:
                self._work = trio.Event()
                await self._work.wait()
                continue
            try:
                await trio.lowlevel.wait_writable(self.sock)
            except trio.ClosedResourceError:
                return
            sent = self._send_now(self._buffer)
            if sent <= 0:
                continue
            del self._buffer[:sent]
            self._sent_total += sent
            while self._write_ends and self._write_ends[0] <= self._sent_total:
                self._write_ends.popleft()
            progress, self._progress = self._progress, trio.Event()
            progress.set()

    # -- closing -----------------------------------------------------------

    def close_now(self) -> None:
        """Close the socket at once; pending bytes are dropped."""
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()
        self._write_ends.clear()
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()
        self._wake_all()

    async def aclose(self) -> None:
        self.close_now()
        await trio.lowlevel.checkpoint()
