"""Sans-IO: the bytes a transport could not send at once, as whole writes.

Each write is one or more whole WebSocket frames, so its end is a safe place
to cut: an overflow drops the fan-out writes not yet begun and keeps the one
in progress and every write of the WebSocket's own (see transport.py).
"""

from __future__ import annotations

import attrs


@attrs.define
class Write:
    """One queued write: whole frames, from `offer` (droppable) or `send_all`."""

    end: int  # stream offset just past its last byte
    droppable: bool


class OutboundQueue:
    """What waits for the socket, and how far the stream has been sent."""

    __slots__ = ("_writes", "buffer", "queued_total", "sent_total")

    def __init__(self) -> None:
        self.buffer = bytearray()
        # The writes in the buffer, oldest first.
        # (a list: most connections never queue, and an empty deque costs 600 B)
        self._writes: list[Write] = []
        self.queued_total = 0
        self.sent_total = 0

    def __len__(self) -> int:
        return len(self.buffer)

    @property
    def last(self) -> Write | None:
        """The newest write still waiting, if any."""
        return self._writes[-1] if self._writes else None

    def add(self, data: bytes, sent: int, *, droppable: bool) -> Write | None:
        """`data`, of which the kernel took `sent` bytes at once: queue the
        rest; the queued write, or None if it was all sent."""
        self.queued_total += len(data)
        self.sent_total += sent
        if sent == len(data):
            return None
        self.buffer += memoryview(data)[sent:]
        write = Write(self.queued_total, droppable)
        self._writes.append(write)
        return write

    def sent(self, count: int) -> None:
        """The kernel took the first `count` bytes of the buffer."""
        del self.buffer[:count]
        self.sent_total += count
        done = 0
        while done < len(self._writes) and self._writes[done].end <= self.sent_total:
            done += 1
        del self._writes[:done]

    def drop_droppable(self) -> None:
        """Drop queued fan-out bytes, keeping the write in progress (so what
        follows starts on a frame boundary) and every `send_all` write."""
        kept = bytearray()
        writes: list[Write] = []
        start = self.sent_total
        for index, write in enumerate(self._writes):
            chunk = self.buffer[
                max(start, self.sent_total) - self.sent_total : write.end - self.sent_total
            ]
            start = write.end
            if index == 0 or not write.droppable:
                kept += chunk
                write.end = self.sent_total + len(kept)
                writes.append(write)
        self.buffer, self._writes = kept, writes
        self.queued_total = self.sent_total + len(kept)

    def clear(self) -> None:
        self.buffer.clear()
        self._writes.clear()
