"""Token buckets: how fast a connection may send frames."""

from __future__ import annotations

import attrs


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
