"""One client socket as a Trio stream, with a non-blocking outbound path.

Rooms hand each member the same prepared frame bytes through `offer()`, a plain
function call: the bytes go straight to the kernel when it takes them, and only
what it will not take waits in a bounded buffer (outbound.py) that a writer task, started
only while bytes wait, flushes. trio-websocket (handshake, pong, close) and the HTTP front write
through `send_all()`, which queues behind the same buffer, so every write
reaches the socket whole and in the order it was made.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import trio

from chatroom.net.outbound import OutboundQueue, Write
from chatroom.net.tls import HANDSHAKE_READ, TlsError, TlsSession
from chatroom.net.wsframe import is_close_frame

RECEIVE_SIZE = 65536


class SocketTransport(trio.abc.Stream):
    """A connected, non-blocking socket owned by this object."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        max_pending: int,
        on_overflow: Callable[[], None] | None = None,
        writer_nursery: trio.Nursery | None = None,
    ) -> None:
        sock.setblocking(False)
        self.sock = sock
        # With TLS (set by tls_handshake), plaintext is queued and cut as
        # without it, and encrypted a chunk at a time as the socket takes it.
        self.tls: TlsSession | None = None
        self.peer = peer_name(sock)
        # Who the client is: the peer, or whom a trusted proxy names (http.py).
        self.client = self.peer
        self.opened = trio.current_time()
        self.last_received = self.opened  # when the peer last sent bytes
        self.max_pending = max_pending
        self.on_overflow = on_overflow
        self.overflowed = False
        self.accepting_offers = True
        self.close_frame_sent = False
        # Asked, when the socket closes without a close frame of ours, for
        # one to send last (see Connection: protocol errors found by wsproto).
        self.final_frame: Callable[[], bytes | None] | None = None
        self._replay = b""
        self._queue = OutboundQueue()  # what the kernel did not take at once
        self._closed = False
        self._write_shut = False  # (shutdown_write)
        self._broken: OSError | None = None
        self._progress = trio.Event()
        # Where the writer task runs; it exists only while bytes wait, so an
        # idle connection costs no task for it (None: what the socket does
        # not take at once waits for send_all).
        self.writer_nursery = writer_nursery
        self._writing = False

    @property
    def pending_bytes(self) -> int:
        return len(self._queue)

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
            if self.tls is not None and (plain := self._decrypted(size)) is not None:
                data = plain
            else:
                try:
                    data = self.sock.recv(size)
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(self.sock)
                    waited = True
                    continue
                except OSError as exc:
                    raise trio.BrokenResourceError(str(exc)) from exc
                self.last_received = trio.current_time()
                if self.tls is not None:
                    self.tls.feed(data)
                    continue
            if not waited:
                await trio.lowlevel.cancel_shielded_checkpoint()
            return data

    def _decrypted(self, size: int) -> bytes | None:
        assert self.tls is not None
        try:
            plain = self.tls.read(size)
        except TlsError as exc:
            raise trio.BrokenResourceError(f"TLS: {exc}") from None
        if self.tls.ciphertext:
            self._send_now(b"")  # what TLS itself has to say (tickets, key updates)
        return plain

    async def tls_handshake(self, tls: TlsSession) -> None:
        """Speak TLS from now on: the handshake, first (the caller bounds its
        time). Raises TlsError, or trio.BrokenResourceError."""
        await _handshake(self.sock, tls)
        self.tls = tls

    # -- sending -----------------------------------------------------------

    def offer(self, data: bytes) -> bool:
        """Queue whole frames without blocking; False if they will never be sent.

        When the pending bytes would pass `max_pending`, the transport is marked
        overflowed, everything not yet begun is dropped, `on_overflow` runs, and
        every later offer is refused. Writes made through `send_all` (the
        WebSocket's own pongs and close frame) are kept.
        """
        if self._closed or self._broken is not None or not self.accepting_offers:
            return False
        if len(self._queue) + len(data) > self.max_pending:
            if self._queue:
                self._overflow()
                return False
            # Nothing queued: the kernel may take enough of it at once.
            self._enqueue(data, droppable=True)
            if len(self._queue) > self.max_pending:
                self._overflow()  # keeps the part-sent write, as the one in progress
                return False
        else:
            self._enqueue(data, droppable=True)
        return self._broken is None

    def refuse_offers(self) -> None:
        """Refuse every later offer (a close frame must be the last frame)."""
        self.accepting_offers = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise trio.ClosedResourceError("transport is closed")
        if is_close_frame(data):
            self.close_frame_sent = True
        write = self._enqueue(bytes(data), droppable=False)
        if self._broken is not None:
            raise trio.BrokenResourceError(str(self._broken))
        await self._wait_sent(write)

    async def wait_send_all_might_not_block(self) -> None:
        await self._wait_sent(self._queue.last)

    async def _wait_sent(self, write: Write | None) -> None:
        # `write.end` moves back if an overflow drops writes queued before it.
        waited = False
        while write is not None and self._queue.sent_total < write.end:
            if self._closed:
                raise trio.ClosedResourceError("transport is closed")
            if self._broken is not None:
                raise trio.BrokenResourceError(str(self._broken))
            await self._progress.wait()
            waited = True
        if not waited:
            await trio.lowlevel.checkpoint()

    def _enqueue(self, data: bytes, *, droppable: bool) -> Write | None:
        """Send what the kernel takes now and queue the rest; the queued write,
        or None if nothing is queued (all sent, or the connection is broken)."""
        if self._broken is not None:
            return None
        sent = 0 if self._queue else self._send_now(data)
        if sent < 0:
            return None
        write = self._queue.add(data, sent, droppable=droppable)
        if write is not None:
            self._start_writer()
        return write

    def _start_writer(self) -> None:
        if self._writing or self.writer_nursery is None:
            return
        try:
            self.writer_nursery.start_soon(self._write_pending)
        except RuntimeError:  # the socket's nursery is closing: so is the socket
            return
        self._writing = True

    def _send_now(self, data: bytes | bytearray) -> int:
        """Bytes the kernel took right away; -1 if the connection is broken.
        With TLS: plaintext bytes encrypted, once the ciphertext before them
        is all sent."""
        try:
            if self.tls is None:
                return self.sock.send(data)
            if not self._send_ciphertext():
                return 0
            taken = self.tls.encrypt(data) if data else 0
            if not self._send_ciphertext():
                self._start_writer()  # (the rest of the ciphertext)
            return taken
        except BlockingIOError:
            return 0
        except OSError as exc:
            self._fail(exc)
            return -1

    def _send_ciphertext(self) -> bool:
        """Send the waiting ciphertext; True when none is left."""
        assert self.tls is not None
        waiting = self.tls.ciphertext
        if waiting:
            try:
                del waiting[: self.sock.send(waiting)]
            except BlockingIOError:
                pass
        return not waiting

    def _overflow(self) -> None:
        """Drop queued fan-out bytes (see OutboundQueue.drop_droppable)."""
        self.overflowed = True
        self.accepting_offers = False
        self._queue.drop_droppable()
        if self.on_overflow is not None:
            self.on_overflow()

    def _ciphertext_waits(self) -> bool:
        return self.tls is not None and bool(self.tls.ciphertext)

    def _fail(self, exc: OSError) -> None:
        self._broken = exc
        self._queue.clear()
        self._wake_all()

    def _wake_all(self) -> None:
        progress, self._progress = self._progress, trio.Event()
        progress.set()

    async def _write_pending(self) -> None:
        """Flush what the kernel did not take at once; ends when nothing waits."""
        try:
            while (self._queue or self._ciphertext_waits()) and not self._closed:
                if self._broken is not None:
                    break
                try:
                    await trio.lowlevel.wait_writable(self.sock)
                except trio.ClosedResourceError:
                    return
                sent = self._send_now(self._queue.buffer)
                if sent <= 0:
                    continue
                self._queue.sent(sent)
                self._wake_all()
        finally:
            self._writing = False

    # -- closing -----------------------------------------------------------

    def shutdown_write(self) -> bool:
        """Send FIN (after TLS's close_notify) once everything queued is sent,
        keeping the reading side open (a lingering close: see http.linger);
        False if that cannot be done now."""
        if self._closed or self._broken is not None or self._queue or self._write_shut:
            return False
        if self.tls is not None:
            self._write_shut = True  # (close_notify is said once)
            self.tls.close_notify()
            if self._send_now(b"") < 0 or self._ciphertext_waits():
                return False
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return False
        self._write_shut = True
        self.accepting_offers = False
        return True

    async def discard_received(self, max_bytes: int) -> None:
        """Read and drop what the peer sends, as it came (TLS records are not
        decrypted), until it closes or `max_bytes` have come."""
        received = 0
        while received < max_bytes and not self._closed:
            try:
                data = self.sock.recv(min(RECEIVE_SIZE, max_bytes - received))
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self.sock)
                continue
            except OSError:
                return
            if not data:
                return
            received += len(data)

    def close_now(self) -> None:
        """Close the socket at once; pending bytes are dropped."""
        if self._closed:
            return
        if not self.close_frame_sent and not self._queue and self.final_frame is not None:
            last = self.final_frame()
            if last:
                self._send_now(last)
        if self.tls is not None and not self._queue and self._broken is None:
            if not self._write_shut:
                self.tls.close_notify()  # best effort, as the rest
            self._send_now(b"")
        self._closed = True
        self._queue.clear()
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()
        self._wake_all()

    async def aclose(self) -> None:
        self.close_now()
        await trio.lowlevel.checkpoint()


async def _handshake(sock: socket.socket, tls: TlsSession) -> None:
    """The TLS handshake on `sock`, before the transport speaks TLS."""
    received = b""
    while not tls.handshake(received):
        await _send_raw(sock, tls)
        while True:
            try:
                received = sock.recv(HANDSHAKE_READ)
                break
            except BlockingIOError:
                await trio.lowlevel.wait_readable(sock)
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from exc
        if not received:
            raise TlsError("the peer went away during the handshake")
    await _send_raw(sock, tls)


async def _send_raw(sock: socket.socket, tls: TlsSession) -> None:
    """Send all of `tls.ciphertext` (during the handshake: nothing else waits)."""
    while tls.ciphertext:
        try:
            sent = sock.send(tls.ciphertext)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        except OSError as exc:
            raise trio.BrokenResourceError(str(exc)) from exc
        del tls.ciphertext[:sent]


def peer_name(sock: socket.socket) -> str:
    try:
        peer = sock.getpeername()
    except OSError:
        return ""
    return str(peer[0]) if isinstance(peer, tuple) else str(peer or "local")
