"""Slowing down repeated failed logins.

Three records, each for its own attacker:

- a user name from one address (someone guessing one account): a few free
  failures, then a wait that doubles per failure. Only that address waits:
  an attacker cannot lock anybody out from anywhere else.
- a user name from everywhere (guesses spread over many addresses): a mild
  slowdown of every login for that name, never a refusal, so the real user
  still gets in.
- an address (one password tried on many accounts): a wait only after
  failures for many different names, so one person's typos never lock out
  their colleagues behind the same address.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import attrs
import trio

from chatroom.domain import is_valid_user_name

FREE_FAILURES = 5  # failures for one name from one address before any wait
FREE_NAMES_PER_ADDRESS = 20  # names that may fail from one address before it waits
MAX_DELAY = 15 * 60.0  # waits double per failure up to this
FREE_FAILURES_PER_NAME = 10  # failures for one name, from anywhere, before slowing down
MAX_NAME_SLOWDOWN = 2.0  # seconds added to each login for a name guessed at everywhere
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
    failures: int = 0
    names: dict[str, None] = attrs.field(factory=dict)  # for an address, in order
    blocked_until: float = 0.0


class _Records:
    """Records by key, least recently failed first, bounded in number."""

    def __init__(self) -> None:
        self._records: collections.OrderedDict[str, _Record] = collections.OrderedDict()

    def get(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        return None if record is None or now - record.last > FORGET_AFTER else record

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
        self._pairs = _Records()  # a name from one address
        self._names = _Records()  # a name from everywhere
        self._addresses = _Records()  # an address, over names

    def retry_after(self, user: str, address: str, address_only: bool = False) -> float:
        """Seconds until a login for `user` from `address` may be tried; 0 if now."""
        now = self._clock()
        pair = None if address_only else self._pairs.get(_pair(user, address), now)
        records = (pair, self._addresses.get(address, now))
        return max([0.0, *(r.blocked_until - now for r in records if r is not None)])

    def slowdown(self, user: str) -> float:
        """Seconds to hold every login for `user` before checking it."""
        record = self._names.get(_name(user), self._clock())
        if record is None or record.failures <= FREE_FAILURES_PER_NAME:
            return 0.0
        excess = record.failures - FREE_FAILURES_PER_NAME
        return min(0.25 * 2.0 ** (excess - 1), MAX_NAME_SLOWDOWN)

    def attempt(self, user: str, address: str) -> None:
        """A login for `user` from `address` is about to be checked. Counted
        as a failure of the pair until it succeeds, so that guesses sent in
        parallel cannot all slip in before the first one is counted."""
        now = self._clock()
        pair = self._pairs.failing(_pair(user, address), now)
        pair.failures += 1
        pair.blocked_until = now + _delay(pair.failures, FREE_FAILURES)

    def abandoned(self, user: str, address: str) -> None:
        """An attempt that was never checked (refused, cancelled, the database
        away) is taken back."""
        now = self._clock()
        pair = self._pairs.get(_pair(user, address), now)
        if pair is not None and pair.failures > 0:
            pair.failures -= 1
            pair.blocked_until = pair.last + _delay(pair.failures, FREE_FAILURES)

    def failed(self, user: str, address: str) -> None:
        """The login was checked and refused: held against the name everywhere
        and against the address (only logins that really failed count there,
        so many colleagues logging in at once never block their address)."""
        now = self._clock()
        name = _name(user)
        self._names.failing(name, now).failures += 1
        by_address = self._addresses.failing(address, now)
        by_address.names.pop(name, None)
        by_address.names[name] = None
        while len(by_address.names) > MAX_NAMES_PER_ADDRESS:
            del by_address.names[next(iter(by_address.names))]
        by_address.blocked_until = now + _delay(len(by_address.names), FREE_NAMES_PER_ADDRESS)

    def succeeded(self, user: str, address: str) -> None:
        """`user` proved who they are: their failures are forgiven."""
        name = _name(user)
        self._pairs.pop(_pair(user, address))
        self._names.pop(name)
        by_address = self._addresses.get(address, self._clock())
        if by_address is not None and name in by_address.names:
            del by_address.names[name]
            if len(by_address.names) <= FREE_NAMES_PER_ADDRESS:
                by_address.blocked_until = 0.0


def _name(user: str) -> str:
    """The key for a user name: any case alike, and one key for all the
    names no account can have (so their length costs nothing)."""
    return user.lower() if is_valid_user_name(user) else " invalid"


def _pair(user: str, address: str) -> str:
    return f"{_name(user)} {address}"  # names have no spaces
