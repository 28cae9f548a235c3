"""The recent messages a room keeps in memory, so that most joins need no
query: bounded per room by count and bytes, and across the whole process by
one shared budget, so that joining many rooms full of large messages cannot
pin the server's memory."""

from __future__ import annotations

import collections
import sys

from chatroom.domain import ChatMessage

MAX_MESSAGES = 200  # per room
MAX_ROOM_BYTES = 1024 * 1024  # per room
DEFAULT_BUDGET_BYTES = 64 * 1024 * 1024  # all rooms together
MESSAGE_OVERHEAD = 400  # the message object, its fields and the deque slot, roughly


def message_bytes(message: ChatMessage) -> int:
    """What keeping `message` costs, near enough (no encoding: O(1) but for
    its reactions): its text, twice (once more in its frame text, encoded
    when it went out), and about 100 bytes a reaction or mention."""
    extras = len(message.mentions) + sum(len(users) for _e, users in message.reactions or ())
    return 2 * sys.getsizeof(message.text) + MESSAGE_OVERHEAD + 100 * extras


class CacheBudget:
    """The bytes every room's recent messages may take together. Past it,
    the largest caches are cut to a fair share (budget / caches)."""

    def __init__(self, max_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.max_bytes = max_bytes
        self.total = 0
        self._caches: set[RecentMessages] = set()

    def _join(self, cache: RecentMessages) -> None:
        self._caches.add(cache)

    def _leave(self, cache: RecentMessages) -> None:
        self._caches.discard(cache)
        self.total -= cache.bytes

    def _grew(self, cache: RecentMessages) -> None:
        """`cache` grew: past the budget it is cut to its share first (so a
        busy room over budget costs O(1) per batch), then the largest others."""
        if self.total <= self.max_bytes:
            return
        share = self.max_bytes // len(self._caches)
        cache.trim_to(share)
        while self.total > self.max_bytes:
            max(self._caches, key=lambda c: c.bytes).trim_to(share)


class RecentMessages:
    """One room's latest messages, oldest first, without gaps."""

    def __init__(self, budget: CacheBudget, messages: list[ChatMessage]) -> None:
        self._budget = budget
        self._messages: collections.deque[ChatMessage] = collections.deque()
        self.bytes = 0
        budget._join(self)
        self.extend(messages)

    def __len__(self) -> int:
        return len(self._messages)

    def extend(self, messages: list[ChatMessage]) -> None:
        before = self.bytes
        for message in messages:
            self._messages.append(message)
            self.bytes += message_bytes(message)
        while self._messages and (
            len(self._messages) > MAX_MESSAGES or self.bytes > MAX_ROOM_BYTES
        ):
            self.bytes -= message_bytes(self._messages.popleft())
        self._budget.total += self.bytes - before
        self._budget._grew(self)

    def trim_to(self, max_bytes: int) -> None:
        """Forget the oldest messages until at most `max_bytes` remain."""
        before = self.bytes
        while self._messages and self.bytes > max_bytes:
            self.bytes -= message_bytes(self._messages.popleft())
        self._budget.total += self.bytes - before

    def replace(self, message: ChatMessage) -> None:
        """The message with its id, as it is now (edited or deleted), if kept."""
        oldest = self.oldest_id
        if oldest is None or not oldest <= message.id < oldest + len(self._messages):
            return
        at = message.id - oldest  # ids are contiguous
        change = message_bytes(message) - message_bytes(self._messages[at])
        self._messages[at] = message
        self.bytes += change
        self._budget.total += change

    @property
    def oldest_id(self) -> int | None:
        return self._messages[0].id if self._messages else None

    def latest(self, count: int) -> list[ChatMessage]:
        return list(self._messages)[-count:]

    def after(self, since: int) -> list[ChatMessage] | None:
        """Every message after id `since`; None if some of them are not kept."""
        if not self._messages or since < self._messages[0].id - 1:
            return None
        return [m for m in self._messages if m.id > since]

    def close(self) -> None:
        """The room no longer keeps these: give their bytes back."""
        self._budget._leave(self)
        self._messages.clear()
        self.bytes = 0
