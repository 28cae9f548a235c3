"""Token buckets: how fast a connection may send frames, or an address
register accounts."""

from __future__ import annotations

import collections
from collections.abc import Callable

import attrs
import trio


@attrs.define
class TokenBucket:
    """`capacity` actions at once, refilled at `rate` per second."""

    capacity: float
    rate: float
    tokens: float = attrs.field(default=-1.0)
    stamp: float = 0.0

    def __attrs_post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def take(self, now: float) -> float:
        """Spend a token: 0.0 if there was one, else seconds until there is."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class BucketsByKey:
    """A TokenBucket per key (a client address), the least recently used
    forgotten past `max_keys` (a forgotten key starts full again)."""

    def __init__(
        self,
        capacity: float,
        rate: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._capacity, self._rate, self._max_keys = capacity, rate, max_keys
        self._clock = clock
        self._buckets: collections.OrderedDict[str, TokenBucket] = collections.OrderedDict()

    def take(self, key: str) -> float:
        """Spend one of `key`'s tokens: 0.0 if it had one, else seconds until it has."""
        now = self._clock()
        bucket = self._buckets.pop(key, None) or TokenBucket(self._capacity, self._rate, stamp=now)
        self._buckets[key] = bucket
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return bucket.take(now)
