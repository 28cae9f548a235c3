"""A room's one inbox: its members' requests in the order they came, bounded
(a full inbox makes senders wait), and a wake-up, never blocking, when
something came from other servers (kept by the room until its task runs)."""

from __future__ import annotations

from types import TracebackType

import trio

from chatroom.rooms.requests import RoomRequest

MAX_BATCH = 512
# A flush costs a write per member. In a large room, the room lets the
# connections' readers run more scheduler rounds while requests keep coming,
# so that each write carries more messages: a round costs microseconds, a
# flush to a thousand members milliseconds. Idle, it costs two rounds.
COALESCE_MAX_ROUNDS = 16
COALESCE_QUIET_ROUNDS = 2


class Wake:
    """Something arrived from other servers."""


WAKE = Wake()

Batch = list[RoomRequest | Wake]


class RoomClosed(Exception):
    """The room's task has ended; open the room again from the registry."""


class Inbox:
    def __init__(self, size: int) -> None:
        self._sender, self._receiver = trio.open_memory_channel[RoomRequest | Wake](size)
        self._woken = False
        self._arrivals = 0  # from other servers, ever (what coalescing waits on too)

    async def submit(self, request: RoomRequest, room: str) -> None:
        """Queue a request; waits while the inbox is full."""
        try:
            await self._sender.send(request)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise RoomClosed(room) from None

    def wake(self) -> None:
        self._arrivals += 1
        if self._woken:
            return
        try:
            self._sender.send_nowait(WAKE)
            self._woken = True
        except trio.WouldBlock:
            pass  # requests are waiting: the task looks before it waits again
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the room has ended: a new one reads the store

    async def next_batch(self, *, coalesce: bool = False) -> Batch:
        """What is waiting, after waiting for something (and, coalescing,
        while more keeps coming: see COALESCE_MAX_ROUNDS)."""
        batch: Batch = [await self._receiver.receive()]
        if coalesce:
            await self._coalesce()
        return self.waiting(batch)

    async def next_batch_before(self, deadline: float) -> Batch:
        """next_batch(), or what came at the last moment once `deadline` passed."""
        with trio.move_on_at(deadline):
            return await self.next_batch()
        return self.waiting()

    def waiting(self, batch: Batch | None = None) -> Batch:
        """What is waiting now, after `batch`; up to MAX_BATCH in all. The
        task looks at wake-ups from here on."""
        batch = [] if batch is None else batch
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._receiver.receive_nowait())
            except trio.WouldBlock:
                break
        self._woken = False
        return batch

    def _waiting_count(self) -> int:
        return self._receiver.statistics().current_buffer_used + self._arrivals

    async def _coalesce(self) -> None:
        quiet = 0
        waiting = self._waiting_count()
        for _ in range(COALESCE_MAX_ROUNDS):
            await trio.lowlevel.checkpoint()
            now_waiting = self._waiting_count()
            quiet = quiet + 1 if now_waiting == waiting else 0
            if quiet >= COALESCE_QUIET_ROUNDS:
                return
            waiting = now_waiting

    def submit_nowait(self, request: RoomRequest) -> None:
        """(For tests: several requests in one batch, without a checkpoint.)"""
        self._sender.send_nowait(request)

    async def __aenter__(self) -> Inbox:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._receiver.aclose()
