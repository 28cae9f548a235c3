"""Who is in a room (no I/O): its connections here, its users here and on
other servers, what the members were told of them (presence), and who is
typing.

A user with several connections, or on several servers, is one member: they
join when their first connection anywhere does and leave with the last.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Protocol

import attrs

from chatroom.domain import Member
from chatroom.domain.rules import RoomRules
from chatroom.rooms.requests import Subscriber

# A user's `typing` reaches the others at most this often (seconds) per room.
TYPING_INTERVAL = 2.0


class Elsewhere(Protocol):
    """The members of rooms on other servers (see broker/presence.py)."""

    def users(self, key: str) -> Mapping[str, int]:
        """Members of the room `key` elsewhere, with their `since`."""

    def has(self, key: str, user: str) -> bool: ...


@attrs.define
class _Membership:
    since: int
    connections: int = 0


class Members:
    def __init__(
        self, key: str, elsewhere: Elsewhere | None, is_bot: Callable[[str], bool]
    ) -> None:
        self._key = key
        self._elsewhere = elsewhere
        self.is_bot = is_bot
        # connection -> its bound deliver(), called once per member per flush
        self.subscribers: dict[Subscriber, Callable[[bytes], bool]] = {}
        self._here: dict[str, _Membership] = {}
        # Who this room's clients were told are members (here or elsewhere).
        self._announced: set[str] = set()
        # user -> when their typing was last relayed (members only)
        self._typing: dict[str, float] = {}

    @property
    def count(self) -> int:
        if self._elsewhere is None:
            return len(self._here)
        return len(self._here.keys() | self._elsewhere.users(self._key).keys())

    @property
    def users_here(self) -> list[str]:
        return list(self._here)

    def listed(self, rules: RoomRules) -> list[Member]:
        """Users in the room (on any server), in the order they became
        members, with their roles."""
        role_of = rules.role_of
        is_bot = self.is_bot
        here = [
            Member(user, m.since, role_of(user), is_bot(user)) for user, m in self._here.items()
        ]
        elsewhere = self._elsewhere.users(self._key) if self._elsewhere is not None else None
        if not elsewhere:
            return here
        since = dict(elsewhere)
        for member in here:
            since[member.user] = min(member.since, since.get(member.user, member.since))
        ordered = sorted(since.items(), key=lambda item: item[1])
        return [Member(user, joined, role_of(user), is_bot(user)) for user, joined in ordered]

    def is_member(self, user: str) -> bool:
        """On any server."""
        return user in self._here or (
            self._elsewhere is not None and self._elsewhere.has(self._key, user)
        )

    def add(self, subscriber: Subscriber, rules: RoomRules, now_ms: int) -> bool:
        """`subscriber` is a member from now on: whether its user became one
        here (at `now_ms`) with it."""
        if not self.subscribers:  # what the first client here is told
            self._announced = {member.user for member in self.listed(rules)}
        self.subscribers[subscriber] = subscriber.deliver
        user = subscriber.user
        new = user not in self._here
        if new:
            self._here[user] = _Membership(now_ms)
        self._here[user].connections += 1
        return new

    def since(self, user: str) -> int:
        return self._here[user].since

    def remove(self, subscriber: Subscriber) -> bool:
        """`subscriber` is a member no more: whether its user stopped being
        one here with it."""
        if self.subscribers.pop(subscriber, None) is None:
            return False
        membership = self._here[subscriber.user]
        membership.connections -= 1
        if membership.connections:
            return False
        del self._here[subscriber.user]
        return True

    def presence(self, user: str) -> str | None:
        """ "join" or "leave" when `user` became or stopped being a member on
        any server since the members were last told; None if not."""
        member = self.is_member(user)
        if member == (user in self._announced):
            return None
        if member:
            self._announced.add(user)
            return "join"
        self._announced.discard(user)
        self._typing.pop(user, None)
        return "leave"

    def may_relay_typing(self, user: str, now: float) -> bool:
        """Whether the others may be told that `user` is typing: not if they
        were told less than TYPING_INTERVAL ago (the rest are dropped)."""
        if now < self._typing.get(user, -math.inf) + TYPING_INTERVAL:
            return False
        self._typing[user] = now
        return True
