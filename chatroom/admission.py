"""Who may hold a connection: caps per client address, per user, and on
connections that have not authenticated yet."""

from __future__ import annotations

import collections

import attrs


@attrs.define
class Admission:
    max_per_address: int
    max_per_user: int
    max_unauthenticated: int
    by_address: collections.Counter[str] = attrs.field(factory=collections.Counter)
    by_user: collections.Counter[str] = attrs.field(factory=collections.Counter)
    unauthenticated: int = 0

    def open_socket(self, address: str) -> str | None:
        """Count a new socket; the reason to refuse it, or None."""
        if self.unauthenticated >= self.max_unauthenticated:
            return "too many connections are waiting to authenticate"
        if self.by_address[address] >= self.max_per_address:
            return "too many connections from this address"
        self.by_address[address] += 1
        self.unauthenticated += 1
        return None

    def authenticate(self, user: str) -> bool:
        """A socket becomes `user`'s connection; False if that user has too many."""
        if self.by_user[user] >= self.max_per_user:
            return False
        self.by_user[user] += 1
        self.unauthenticated -= 1
        return True

    def close_socket(self, address: str, user: str | None) -> None:
        if user is None:
            self.unauthenticated -= 1
        else:
            self.by_user[user] -= 1
            if not self.by_user[user]:
                del self.by_user[user]
        self.by_address[address] -= 1
        if not self.by_address[address]:
            del self.by_address[address]
