"""Slowing down repeated failed logins: per user name, and per client address.

The two are kept apart so that one person's typos never lock out their
colleagues behind the same address: a user name is slowed down after a few
failures of its own, an address only after failures for many different
names (someone trying one password on every account).
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import attrs
import trio

FREE_FAILURES = 5  # failures for one name allowed before any wait
FREE_NAMES_PER_ADDRESS = 20  # names that may fail from one address before it waits
MAX_DELAY = 15 * 60.0  # the wait doubles per failure up to this
FORGET_AFTER = 15 * 60.0  # a record with no failure for this long starts over
MAX_RECORDS = 100_000  # of each kind; past this, the least recently failed are forgotten
# An address's failed names are kept up to the point where the wait is at its
# maximum anyway.
MAX_NAMES_PER_ADDRESS = FREE_NAMES_PER_ADDRESS + 16


def _delay(failures: int, free: int) -> float:
    return 0.0 if failures <= free else min(2.0 ** (failures - free), MAX_DELAY)


@attrs.define
class _Record:
    last: float
    failures: int = 0  # for a user name
    names: dict[str, None] = attrs.field(factory=dict)  # for an address, in order
    blocked_until: float = 0.0


class _Records:
    """Records by key, least recently failed first, bounded in number."""

    def __init__(self) -> None:
        self._records: collections.OrderedDict[str, _Record] = collections.OrderedDict()

    def get(self, key: str) -> _Record | None:
        return self._records.get(key)

    def failing(self, key: str, now: float) -> _Record:
        """The record for `key`, moved to the end; a fresh one if it was stale."""
        record = self._records.pop(key, None)
        if record is None or now - record.last > FORGET_AFTER:
            record = _Record(last=now)
        record.last = now
        self._records[key] = record
        while len(self._records) > MAX_RECORDS:
            self._records.popitem(last=False)
        return record

    def pop(self, key: str) -> None:
        self._records.pop(key, None)


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = trio.current_time) -> None:
        self._clock = clock
        self._users = _Records()
        self._addresses = _Records()

    def retry_after(self, user: str, address: str) -> float:
        """Seconds until a login for `user` from `address` may be tried; 0 if now."""
        now = self._clock()
        records = (self._users.get(user.lower()), self._addresses.get(address))
        return max([0.0, *(r.blocked_until - now for r in records if r is not None)])

    def failed(self, user: str, address: str) -> None:
        now = self._clock()
        record = self._users.failing(user.lower(), now)
        record.failures += 1
        record.blocked_until = now + _delay(record.failures, FREE_FAILURES)
        by_address = self._addresses.failing(address, now)
        by_address.names.pop(user.lower(), None)
        by_address.names[user.lower()] = None
        while len(by_address.names) > MAX_NAMES_PER_ADDRESS:
            del by_address.names[next(iter(by_address.names))]
        by_address.blocked_until = now + _delay(len(by_address.names), FREE_NAMES_PER_ADDRESS)

    def succeeded(self, user: str, address: str) -> None:
        """`user` proved who they are: their failures, here and on `address`, are forgiven."""
        name = user.lower()
        self._users.pop(name)
        by_address = self._addresses.get(address)
        if by_address is not None and name in by_address.names:
            del by_address.names[name]
            if len(by_address.names) <= FREE_NAMES_PER_ADDRESS:
                by_address.blocked_until = 0.0
