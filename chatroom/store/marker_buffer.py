"""Read markers held in memory for a moment, to be written together.

Clients move their read markers often (every message read, on every
connection); each is worth little alone and is lost harmlessly in a crash.
So they wait here READ_MARKER_DELAY, a user's latest for a room replacing
the ones before, and the store's writer commits them in one job. Until
committed they still count: a user's listings read them from `unwritten`.
"""

from __future__ import annotations

import trio

from chatroom.store.records import ReadMarker

# Read markers wait this long to be written together; past the cap, new ones
# are dropped.
READ_MARKER_DELAY = 0.5
MAX_WAITING_READ_MARKERS = 100_000


class ReadMarkerBuffer:
    def __init__(self) -> None:
        # (user key, room key) -> the newest marker not yet written
        self._waiting: dict[tuple[str, str], ReadMarker] = {}
        # user key -> room key -> marker id: those waiting and those of the
        # last batch (perhaps not committed yet), so that a user's listings
        # count from the newest marker, written or not.
        self._by_user: dict[str, dict[str, int]] = {}
        self._sent: dict[str, dict[str, int]] = {}
        self._arrived = trio.Event()

    def mark(self, user: str, room: str, message_id: int) -> None:
        """Record, soon, that `user` read `room` up to `message_id` (with
        others, in one transaction; lost in a crash, which loses no message)."""
        key = (user.lower(), room.lower())
        waiting = self._waiting.get(key)
        if waiting is not None and waiting.message_id >= message_id:
            return
        if waiting is None and len(self._waiting) >= MAX_WAITING_READ_MARKERS:
            return
        self._waiting[key] = ReadMarker(user, room, message_id)
        self._by_user.setdefault(key[0], {})[key[1]] = message_id
        self._arrived.set()

    def drop(self, user: str, room: str) -> None:
        """A room left: a marker of before must not count when it is joined again."""
        for markers in (self._by_user, self._sent):
            markers.get(user.lower(), {}).pop(room.lower(), None)
        self._waiting.pop((user.lower(), room.lower()), None)

    def unwritten(self, user: str) -> dict[str, int]:
        """Room key -> `user`'s newest read marker that may not be committed yet."""
        key = user.lower()
        return {**self._sent.get(key, {}), **self._by_user.get(key, {})}

    async def next_batch(self) -> list[ReadMarker]:
        """The markers waiting READ_MARKER_DELAY after the first arrived
        (they count as the last batch's from now on)."""
        await self._arrived.wait()
        await trio.sleep(READ_MARKER_DELAY)
        self._arrived = trio.Event()
        markers = list(self._waiting.values())
        self._waiting.clear()
        self._sent, self._by_user = self._by_user, {}
        return markers

    def remaining(self) -> list[ReadMarker]:
        """What still waits (on the way out)."""
        return list(self._waiting.values())
