"""A room's messages as its members have seen them (no I/O).

The id of the last message fanned out, the recent messages kept in memory,
what other servers committed that is not fanned out yet, and the latest
edits and deletes; and from these, what a join is sent (`joined`'s history
and `changes`), never by a query: the room's task, which everybody in the
room waits on, asks the store only for what memory cannot answer.
"""

from __future__ import annotations

import collections

from chatroom.domain import HISTORY_PAGE_BYTES, ChatMessage, HistoryPage, newest_within
from chatroom.rooms.recent import CacheBudget, RecentMessages
from chatroom.rooms.requests import JoinRequest

JOIN_HISTORY = 50  # messages in `joined` without `since`
SINCE_LIMIT = 1000  # past this, `joined` is truncated and the client pages with `history`
# Messages that may arrive between a connection asking covers() and its join
# reaching the room; nearer the edge of memory than this, it reads instead.
COVER_MARGIN = 50
# Messages from other servers waiting for the room's task; past this they are
# dropped and read from the store instead.
MAX_REMOTE_WAITING = 4096
# A join's `changes`: at most MAX_CHANGES read by its connection, plus the
# latest changes of the room's RECENT_CHANGES most recently changed messages,
# within CHANGES_BYTES (the newest kept); past any of these, `joined` says
# `changes_truncated`.
MAX_CHANGES = 200
RECENT_CHANGES = 256
CHANGES_BYTES = 256 * 1024


class Timeline:
    def __init__(self, budget: CacheBudget) -> None:
        self._budget = budget
        self.last_id = 0  # of the last message fanned out (0: none, or not loaded)
        # None until the last id and recent messages are read from the store;
        # None again after a failed commit, so that the store stays the truth.
        self._recent: RecentMessages | None = None
        # What the load read, kept for the batch that loaded it: its joins
        # need no second read even if the memory budget cut the room at once.
        self.loaded_now: list[ChatMessage] | None = None
        # Committed by other servers, not fanned out yet; and the last id the
        # store has (when some were dropped or never came).
        self._remote: list[ChatMessage] = []
        self._remote_at = 0  # the first of them not fanned out yet
        self._remote_sorted = True
        self.behind = 0
        # The latest edit or delete of the messages changed most recently, by
        # id, for joins whose `changes` were read before them (see
        # JoinRequest.changes); how many changes were fanned out, and how many
        # when the oldest of them was last dropped.
        self._recent_changes: collections.OrderedDict[int, ChatMessage] = collections.OrderedDict()
        self.changes_made = 0
        self._changes_dropped_at = 0

    @property
    def loaded(self) -> bool:
        return self._recent is not None

    def load(self, last_id: int, recent: list[ChatMessage], *, seen: bool) -> None:
        """What the store has: its last id and latest messages. `seen`: the
        members have seen up to last_id already (a reload after a failed
        commit); what others committed since goes out as a catch-up."""
        if seen and self.last_id:
            recent = [m for m in recent if m.id <= self.last_id]
            self.behind = max(self.behind, last_id)
        else:  # (the history read may have seen a later commit than last_id)
            self.last_id = max(last_id, recent[-1].id if recent else 0)
        self._recent = RecentMessages(self._budget, recent)
        self.loaded_now = recent

    def forget(self) -> None:
        """Memory is no longer the truth (a failed commit, or the room ends)."""
        if self._recent is not None:
            self._recent.close()
            self._recent = None

    def accept(self, messages: list[ChatMessage]) -> None:
        """Committed, in id order, and fanned out from now on."""
        self.last_id = messages[-1].id
        if self._recent is not None:
            self._recent.extend(messages)

    def newer(self, message: ChatMessage) -> ChatMessage | None:
        """The message as a later (or the same) change of it left it, if this
        room saw one already: `message` is then stale (heard out of order)."""
        seen = self._recent_changes.get(message.id)
        if seen is None or not message.version or seen.version < message.version:
            return None
        return seen

    def change(self, message: ChatMessage) -> None:
        """`message` as it is now (edited or deleted); so later joins see it."""
        assert self._recent is not None
        self._recent.replace(message)
        self.changes_made += 1
        self._recent_changes.pop(message.id, None)
        self._recent_changes[message.id] = message
        if len(self._recent_changes) > RECENT_CHANGES:
            self._recent_changes.popitem(last=False)
            self._changes_dropped_at = self.changes_made

    # -- from other servers -----------------------------------------------------

    def take_remote(self, messages: list[ChatMessage]) -> None:
        """Messages another server committed, in id order: kept for the
        room's task, or (not loaded, too many waiting) read from the store."""
        waiting = len(self._remote) - self._remote_at
        if self._recent is None or waiting + len(messages) > MAX_REMOTE_WAITING:
            self.behind = max(self.behind, messages[-1].id)
            self._clear_remote()
        else:
            self._remote.extend(messages)
            self._remote_sorted = False

    def take_behind(self, last_id: int) -> bool:
        """The store has messages up to `last_id`: whether that is news."""
        if last_id <= self.last_id:
            return False
        self.behind = max(self.behind, last_id)
        return True

    def next_remote(self, before: int | None) -> ChatMessage | None:
        """The first message from other servers still waiting (with an id
        below `before`): the messages before it are read first, if missing."""
        if self._recent is None:
            self._clear_remote()
            return None
        if not self._remote_sorted:
            del self._remote[: self._remote_at]
            self._remote_at = 0
            self._remote.sort(key=lambda m: m.id)
            self._remote_sorted = True
        at = self._remote_at
        if at < len(self._remote) and (before is None or self._remote[at].id < before):
            return self._remote[at]
        return None

    def remote_through(self, next_id: int) -> bool:
        """Whether every id from the last one out to `next_id` (excluded) is
        waiting among other servers' messages."""
        missing = next_id - 1 - self.last_id
        if missing <= 0:
            return True
        waiting = {m.id for m in self._remote[self._remote_at :] if self.last_id < m.id < next_id}
        return len(waiting) == missing

    def pop_remote(self, after: int | None = None) -> ChatMessage | None:
        """The first waiting message, to fan out; None if it was seen already
        (read by a catch-up, committed here, or at most `after`: about to be
        fanned out)."""
        message = self._remote[self._remote_at]
        self._remote_at += 1
        if self._remote_at == len(self._remote):
            self._clear_remote()
        return None if message.id <= max(self.last_id, after or 0) else message

    def _clear_remote(self) -> None:
        self._remote.clear()
        self._remote_at = 0

    def requeue(self, messages: list[ChatMessage]) -> None:
        """Committed here, but what others committed before them could not
        be read: they go out after those (their sender included)."""
        self._remote.extend(messages)
        self._remote_sorted = False
        self.behind = max(self.behind, messages[-1].id)

    # -- what a join is sent ----------------------------------------------------

    def covers(self, since: int | None) -> bool | None:
        """Whether a join with `since` (None: the latest messages) can be
        answered from memory; None while nothing is loaded. With a margin:
        sends queued ahead of the join move memory on meanwhile."""
        recent = self._recent
        if recent is None:
            return None
        if since is None:
            return len(recent) >= JOIN_HISTORY + COVER_MARGIN or recent.oldest_id == 1
        if since >= self.last_id:
            return True
        oldest = recent.oldest_id
        return oldest is not None and (oldest == 1 or since >= oldest - 1 + COVER_MARGIN)

    def history_since(
        self, since: int | None, prefetched: HistoryPage | None
    ) -> tuple[HistoryPage, bool]:
        """What `joined` carries, and whether it was cut (at SINCE_LIMIT
        messages or HISTORY_PAGE_BYTES, or where neither memory nor a
        prefetched page reaches back)."""
        assert self._recent is not None
        if since is None:
            return self._latest(prefetched), False
        found = self._in_memory_after(since)
        cut = False
        if found is None and prefetched is not None:
            last_read = prefetched.messages[-1].id if prefetched.messages else since or 0
            tail = self._in_memory_after(last_read)
            if tail is not None:
                found, cut = prefetched.messages + tail, prefetched.more
        if found is None:  # memory alone, where it does not reach back
            found, cut = self._recent.latest(SINCE_LIMIT), True
        page = self._page(found[-SINCE_LIMIT:])
        return page, cut or len(page.messages) < len(found)

    def changes_up_to(self, request: JoinRequest) -> tuple[list[ChatMessage] | None, bool]:
        """A join's `changes`: those read for it, then those fanned out here
        since, each message once, as it is now (None without `since`); and
        whether some may be missing (a bound was reached)."""
        since, read = request.since, request.changes or []
        if since is None:
            return None, False
        latest: dict[int, ChatMessage] = {}
        for message in [*read, *self._recent_changes.values()]:
            if message.id <= since:
                known = latest.pop(message.id, None)  # (moved to its latest place)
                later = known is not None and known.version > message.version
                latest[message.id] = known if later and known is not None else message
        changes = newest_within(list(latest.values()), CHANGES_BYTES)
        cut = (
            len(read) >= MAX_CHANGES
            or len(changes) < len(latest)
            or self._changes_dropped_at > request.changes_counted
        )
        return changes, cut

    def _kept_after(self, since: int) -> list[ChatMessage] | None:
        """Every message after `since` from memory alone; None if some are not kept."""
        assert self._recent is not None
        return [] if since >= self.last_id else self._recent.after(since)

    def _in_memory_after(self, since: int) -> list[ChatMessage] | None:
        """Every message after `since`, from memory or from what this batch's
        load read (before the memory budget cut it); None if some are missing."""
        found = self._kept_after(since)
        loaded = self.loaded_now
        if found is None and loaded and since >= loaded[0].id - 1:
            tail = self._kept_after(loaded[-1].id)
            if tail is not None:
                found = [m for m in loaded if m.id > since] + tail
        return found

    def _latest(self, prefetched: HistoryPage | None) -> HistoryPage:
        """The latest JOIN_HISTORY messages, from the longest of what is in
        memory, the page the joining connection read, and what the load read."""
        assert self._recent is not None
        found = self._recent.latest(JOIN_HISTORY)
        for base in (prefetched.messages if prefetched else None, self.loaded_now):
            if base and len(found) < JOIN_HISTORY:
                tail = self._kept_after(base[-1].id)
                if tail is not None and len(base) + len(tail) > len(found):
                    found = (base + tail)[-JOIN_HISTORY:]
        return self._page(found)

    def _page(self, found: list[ChatMessage]) -> HistoryPage:
        """The newest of `found` within HISTORY_PAGE_BYTES; ids are contiguous
        from 1, so older messages exist when the first one's id is above 1."""
        kept = newest_within(found, HISTORY_PAGE_BYTES)
        return HistoryPage(kept, more=kept[0].id > 1 if kept else self.last_id > 0)
