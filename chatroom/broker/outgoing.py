"""What this node sends to Redis: one bounded queue, in order, and what
becomes of what cannot be sent (the queue full, or Redis away): messages and
other events are dropped (rooms read messages from the database), a presence
change has all of this node's members rewritten, and a revocation waits to be
published on reconnecting."""

from __future__ import annotations

import attrs
import trio

OUTGOING_LIMIT = 10_000  # events waiting for Redis; past it they are dropped
UNSENT_REVOCATIONS_LIMIT = 1000  # kept while Redis is down; the oldest go first
PIPELINE_LIMIT = 512  # events written to Redis in one round trip


@attrs.frozen
class Publish:
    data: bytes


@attrs.frozen
class Revoked:
    token_id: str


@attrs.frozen
class Presence:
    room: str
    user: str
    since: int | None


@attrs.frozen
class Rewrite:
    """Rewrite all of this node's members (its entry in Redis expired)."""


Outgoing = Publish | Revoked | Presence | Rewrite


class OutgoingQueue:
    def __init__(self) -> None:
        self._sender, self._receiver = trio.open_memory_channel[Outgoing](OUTGOING_LIMIT)
        self.dropped = 0  # events not published (queue full or Redis down)
        self.rewrite = False  # a presence change was dropped: rewrite them all
        self._unsent_revocations: list[str] = []

    def offer(self, item: Outgoing, *, connected: bool) -> None:
        if connected:
            try:
                self._sender.send_nowait(item)
                return
            except trio.WouldBlock:
                pass
        self.dropped += 1
        self.lost(item)

    def lost(self, item: Outgoing) -> None:
        """Rooms read missed messages; presence is rewritten; revocations wait."""
        if isinstance(item, Revoked):
            self._unsent_revocations.append(item.token_id)
            del self._unsent_revocations[:-UNSENT_REVOCATIONS_LIMIT]
        elif not isinstance(item, Publish):
            self.rewrite = True

    async def next_batch(self) -> list[Outgoing]:
        """What waits, in order (at least one; at most PIPELINE_LIMIT)."""
        batch = [await self._receiver.receive()]
        while len(batch) < PIPELINE_LIMIT:
            try:
                batch.append(self._receiver.receive_nowait())
            except trio.WouldBlock:
                break
        return batch

    def drop_waiting(self) -> None:
        """What waited is superseded by a rewrite of presence (revocations wait on)."""
        while True:
            try:
                item = self._receiver.receive_nowait()
            except trio.WouldBlock:
                return
            self.dropped += 1
            self.lost(item)

    def take_revocations(self) -> list[str]:
        revocations, self._unsent_revocations = self._unsent_revocations, []
        return revocations

    def give_back_revocations(self, revocations: list[str]) -> None:
        """(Not published after all: first on the next try.)"""
        self._unsent_revocations[:0] = revocations
