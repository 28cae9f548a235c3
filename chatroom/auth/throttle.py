"""Slowing down repeated failed logins, per user and per client address."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable

import attrs
import trio

FREE_FAILURES = 5  # failures allowed before any wait
MAX_DELAY = 15 * 60.0  # the wait doubles per failure up to this
FORGET_AFTER = 15 * 60.0  # a key with no failure for this long starts over
MAX_KEYS = 100_000  # past this, the least recently failed keys are forgotten


@attrs.define
class _Failures:
    count: int
    last: float
    blocked_until: float


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = trio.current_time) -> None:
        self._clock = clock
        self._records: collections.OrderedDict[str, _Failures] = collections.OrderedDict()

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until a login for these keys may be tried; 0 if now."""
        now = self._clock()
        wait = 0.0
        for key in keys:
            record = self._records.get(key)
            if record is not None:
                wait = max(wait, record.blocked_until - now)
        return wait

    def failed(self, keys: Iterable[str]) -> None:
        now = self._clock()
        for key in keys:
            record = self._records.pop(key, None)
            if record is None or now - record.last > FORGET_AFTER:
                record = _Failures(count=0, last=now, blocked_until=now)
            record.count += 1
            record.last = now
            if record.count > FREE_FAILURES:
                delay = min(2.0 ** (record.count - FREE_FAILURES), MAX_DELAY)
                record.blocked_until = now + delay
            self._records[key] = record
        while len(self._records) > MAX_KEYS:
            self._records.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)

    def forgive(self, key: str) -> None:
        """Take back one failure counted for `key` (an attempt that succeeded)."""
        record = self._records.get(key)
        if record is None:
            return
        record.count -= 1
        if record.count <= 0:
            del self._records[key]
        elif record.count <= FREE_FAILURES:
            record.blocked_until = record.last
