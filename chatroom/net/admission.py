"""Who may hold a connection: caps per client address, per user, and on
sockets that have not authenticated yet.

Unauthenticated slots are what an attacker can take without an account, so
they are guarded three ways: a small share per address, a short keep-alive
once they run low, and, before a new socket is refused, the socket that has
been idle longest between plain-HTTP requests is closed to make room.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import trio

# Once this share of the unauthenticated slots is taken, idle keep-alive
# HTTP connections get BUSY_IDLE_TIMEOUT instead of the usual wait.
BUSY_SHARE = 0.75
BUSY_IDLE_TIMEOUT = 2.0


@attrs.define(eq=False)
class Ticket:
    """One admitted socket."""

    address: str
    user: str | None = None
    released: bool = False  # its counts were given back early (evicted)
    idle_scope: trio.CancelScope | None = None  # while it waits between requests


@attrs.define
class Admission:
    max_per_address: int
    max_per_user: int
    max_unauthenticated: int
    max_unauthenticated_per_address: int
    by_address: collections.Counter[str] = attrs.field(factory=collections.Counter)
    by_user: collections.Counter[str] = attrs.field(factory=collections.Counter)
    unauthenticated_by_address: collections.Counter[str] = attrs.field(factory=collections.Counter)
    unauthenticated: int = 0
    evictions: int = 0
    # Plain-HTTP sockets waiting for their next request, longest idle first.
    _idle: dict[Ticket, None] = attrs.field(factory=dict)

    def open_socket(self, address: str, *, per_address: bool = True) -> Ticket | str:
        """Count a new socket: its ticket, or the reason to refuse it.
        Without `per_address` (a trusted proxy, which carries many clients),
        only the global cap applies until `readdress` names the client."""
        if per_address and self.by_address[address] >= self.max_per_address:
            return "too many connections from this address"
        if (
            per_address
            and self.unauthenticated_by_address[address] >= self.max_unauthenticated_per_address
            and not self._evict_idle(address)
        ):
            return "too many connections from this address are waiting to authenticate"
        if self.unauthenticated >= self.max_unauthenticated and not self._evict_idle(None):
            return "too many connections are waiting to authenticate"
        self.by_address[address] += 1
        self.unauthenticated_by_address[address] += 1
        self.unauthenticated += 1
        return Ticket(address)

    def readdress(self, ticket: Ticket, address: str) -> str | None:
        """The socket's client is `address` (named by a trusted proxy): it
        counts there from now on; the reason to refuse it, if over the cap."""
        if ticket.released or address == ticket.address:
            return None
        if self.by_address[address] >= self.max_per_address:
            return "too many connections from this address"
        unauthenticated = ticket.user is None
        if (
            unauthenticated
            and self.unauthenticated_by_address[address] >= self.max_unauthenticated_per_address
        ):
            return "too many connections from this address are waiting to authenticate"
        _discount(self.by_address, ticket.address)
        self.by_address[address] += 1
        if unauthenticated:
            _discount(self.unauthenticated_by_address, ticket.address)
            self.unauthenticated_by_address[address] += 1
        ticket.address = address
        return None

    def authenticate(self, ticket: Ticket, user: str) -> bool:
        """The socket becomes `user`'s connection; False if that user has too
        many, or if the socket was evicted meanwhile (it holds no slot)."""
        if ticket.released or self.by_user[user] >= self.max_per_user:
            return False
        self.by_user[user] += 1
        ticket.user = user
        self._discount_unauthenticated(ticket.address)
        return True

    def close_socket(self, ticket: Ticket) -> None:
        self._idle.pop(ticket, None)
        if ticket.released:
            return
        ticket.released = True
        if ticket.user is None:
            self._discount_unauthenticated(ticket.address)
        else:
            _discount(self.by_user, ticket.user)
        _discount(self.by_address, ticket.address)

    def idle_timeout(self, usual: float) -> float:
        """How long a plain-HTTP socket may wait for its next request now."""
        busy = self.unauthenticated >= BUSY_SHARE * self.max_unauthenticated
        return min(usual, BUSY_IDLE_TIMEOUT) if busy else usual

    @contextmanager
    def idle(self, ticket: Ticket) -> Iterator[trio.CancelScope]:
        """Around a wait for the next request: the socket may be evicted
        meanwhile (the scope is cancelled, and its counts given back)."""
        with trio.CancelScope() as scope:
            if ticket.released:  # evicted already: it does not wait again
                scope.cancel()
            else:
                ticket.idle_scope = scope
                self._idle[ticket] = None
            try:
                yield scope
            finally:
                self._idle.pop(ticket, None)
                ticket.idle_scope = None

    def _evict_idle(self, address: str | None) -> bool:
        """Close the longest-idle plain-HTTP socket (of `address`, if given)."""
        ticket = next((t for t in self._idle if address in (None, t.address)), None)
        if ticket is None:
            return False
        assert ticket.idle_scope is not None
        ticket.idle_scope.cancel()
        self.close_socket(ticket)
        self.evictions += 1
        return True

    def _discount_unauthenticated(self, address: str) -> None:
        self.unauthenticated -= 1
        _discount(self.unauthenticated_by_address, address)


def _discount(counter: collections.Counter[str], key: str) -> None:
    counter[key] -= 1
    if not counter[key]:
        del counter[key]
