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

    def take(self, now: float, cost: float = 1.0) -> float:
        """Spend `cost` tokens: 0.0 if there were enough, else seconds until there are."""
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate

    def spend(self, now: float, cost: float) -> None:
        """Spend `cost` tokens, into debt if need be (for costs known only
        afterwards); a negative cost gives tokens back, up to the capacity."""
        self._refill(now)
        self.tokens = min(self.capacity, self.tokens - cost)

    def owed(self, now: float) -> float:
        """Seconds until the bucket is out of debt; 0.0 if it is not in debt."""
        self._refill(now)
        return max(0.0, -self.tokens / self.rate)

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now


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

    def take(self, key: str, cost: float = 1.0) -> float:
        """Spend `cost` of `key`'s tokens: 0.0 if it had them, else seconds until it has."""
        return self._bucket(key).take(self._clock(), cost)

    def spend(self, key: str, cost: float) -> None:
        """Spend `cost` of `key`'s tokens, into debt if need be."""
        self._bucket(key).spend(self._clock(), cost)

    def owed(self, key: str) -> float:
        """Seconds until `key` is out of debt; 0.0 if it is not in debt."""
        bucket = self._buckets.get(key)
        return 0.0 if bucket is None else bucket.owed(self._clock())

    def _bucket(self, key: str) -> TokenBucket:
        bucket = self._buckets.pop(key, None) or TokenBucket(
            self._capacity, self._rate, stamp=self._clock()
        )
        self._buckets[key] = bucket
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return bucket
