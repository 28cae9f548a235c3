"""Every room the store holds, by key, and the listing of them (no I/O).

Names are unique without regard to case: rooms are found by their key (the
lower-case name) and shown with their first spelling. The listing holds the
keys of the public rooms with history or in use, sorted, kept as rooms come
and go (never rebuilt for a request); private rooms are shown only to their
people, and a room heard of from another server is listed once the store
says it is public.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Mapping

import attrs

from chatroom.domain import RoomCount, RoomsPage


class Listing:
    def __init__(self) -> None:
        self._stored: dict[str, str] = {}  # key -> name: every room in the store
        self._with_history: set[str] = set()  # keys of stored rooms with messages
        self._private: set[str] = set()  # keys of private rooms: listed only to their people
        # Rooms other servers have that this one has not read yet (key ->
        # name): unlisted until the store says whether they are private.
        self.unresolved: dict[str, str] = {}
        self._listed: list[str] = []  # keys, sorted

    def learn(self, name: str, *, has_history: bool, private: bool) -> None:
        """What the store has of a room (without listing it)."""
        key = name.lower()
        self._stored[key] = name
        if has_history:
            self._with_history.add(key)
        if private:
            self._private.add(key)

    def list_learned(self) -> None:
        """Listed: every public room learned with history (once, at start)."""
        self._listed = sorted(self._with_history - self._private)

    def stored_name(self, key: str) -> str | None:
        return self._stored.get(key)

    def has_history(self, key: str) -> bool:
        return key in self._with_history

    def privacy(self, name: str) -> bool | None:
        """Whether the room is private; None if this server does not know
        (a room it has not heard of, or not read yet: ask the store)."""
        key = name.lower()
        if key in self._private:
            return True
        return False if key in self._stored else None

    def note(self, name: str, *, with_history: bool, open_here: bool) -> None:
        """A room another server has (created, or with messages)."""
        key = name.lower()
        if with_history:
            self._with_history.add(key)
        if key in self._stored:
            self.list(key)
        elif not open_here:
            self.unresolved[key] = name

    def resolved(self, keys: Iterable[str], public: Iterable[str]) -> None:
        """The store said which of `keys` it has (learned meanwhile)."""
        for key in keys:
            self.unresolved.pop(key, None)
        for key in public:
            self.list(key)

    def list(self, key: str) -> None:
        if key in self._private:
            return
        at = bisect.bisect_left(self._listed, key)
        if at == len(self._listed) or self._listed[at] != key:
            self._listed.insert(at, key)

    def forget(self, key: str) -> None:
        """The room is no longer in the store (the operator deleted it)."""
        self.unlist(key)
        self._stored.pop(key, None)
        self._with_history.discard(key)
        self._private.discard(key)

    def unlist(self, key: str) -> None:
        at = bisect.bisect_left(self._listed, key)
        if at < len(self._listed) and self._listed[at] == key:
            del self._listed[at]

    def page(
        self,
        prefix: str,
        after: str | None,
        limit: int,
        *,
        private_rooms: Iterable[str],
        unread: Mapping[str, int],
        archived: frozenset[str] = frozenset(),
        in_use: Callable[[str], bool],
        count: Callable[[str, str | None], RoomCount],
    ) -> RoomsPage:
        """Public rooms in use, and the asking user's `private_rooms`, whose
        names start with `prefix` (any case), by name, after the room
        `after`: at most `limit`, counted by `count` (key, the private
        room's name), with the user's `unread` counts. An `archived` room
        (by key) only if it is among the user's rooms (those with an unread
        count). Costs the page and the user's private rooms, never the
        whole listing."""
        prefix = prefix.lower()
        after_key = "" if after is None else after.lower()
        start = bisect.bisect_left(self._listed, prefix)
        if after is not None:
            start = max(start, bisect.bisect_right(self._listed, after_key))
        used = (
            key
            for key in itertools.islice(self._listed, start, None)
            if in_use(key) and (key not in archived or key in unread)
        )
        keys = list(itertools.islice(used, limit + 1))
        private = {name.lower(): name for name in private_rooms}
        keys += [key for key in private if key.startswith(prefix) and key > after_key]
        keys += [key for key in archived if key in unread and key.startswith(prefix)]
        keys = [key for key in keys if key > after_key and (key not in archived or key in unread)]
        rooms = [
            attrs.evolve(
                count(key, private.get(key)), unread=unread.get(key), archived=key in archived
            )
            for key in sorted(set(keys))[: limit + 1]
            if key.startswith(prefix)
        ]
        return RoomsPage(rooms[:limit], more=len(rooms) > limit)
