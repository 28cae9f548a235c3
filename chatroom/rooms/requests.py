"""What a room is asked to do, and what it needs of a connection: plain data."""

from __future__ import annotations

from typing import Protocol

import attrs

from chatroom.domain import ChatMessage, FileInfo, HistoryPage
from chatroom.domain.rules import Action
from chatroom.protocol import Ref


class Subscriber(Protocol):
    """What a room needs of a connection."""

    @property
    def user(self) -> str: ...

    def deliver(self, data: bytes) -> bool:
        """Queue whole frames for the client without blocking; False if refused."""

    def not_in(self, room: str) -> None:
        """The room does not count this connection as a member (any more)."""


@attrs.frozen(eq=False)
class JoinRequest:
    subscriber: Subscriber
    ref: Ref = None
    since: int | None = None
    # The newest messages after `since` (or the latest page), read by the
    # connection itself when the room said its memory does not reach back
    # that far (see Timeline.covers()).
    prefetched: HistoryPage | None = None
    read: int | None = None  # the user's read marker, for `joined`
    # With `since`: what changed up to it, read by the connection (see
    # changes_since in the store); what changed after that read is added here.
    changes: list[ChatMessage] | None = None
    changes_counted: int = 0  # Timeline.changes_made when that read began

    @property
    def seen(self) -> int:
        """The last id the joining client saw or its connection read."""
        prefetched = self.prefetched
        read = prefetched.messages[-1].id if prefetched and prefetched.messages else 0
        return max(self.since or 0, read)


@attrs.frozen(eq=False)
class LeaveRequest:
    subscriber: Subscriber
    ref: Ref = None
    reply: bool = True
    # The room as the client spelled it: a connection the room never let in
    # is told not_member in its own words, never the room's real spelling.
    as_sent: str | None = None


@attrs.frozen(eq=False)
class PublishRequest:
    subscriber: Subscriber
    text: str
    ref: Ref = None
    cid: str | None = None
    received: float | None = None  # (trio's clock: for the fan-out histogram)
    # A bot's answer to a command, or a webhook's message: stored as a bot's,
    # from a Poster, into a room its user need not be a member of.
    posted: bool = False
    # Files the sender uploaded to the room, attached as the message is stored.
    files: tuple[FileInfo, ...] = ()
    reply_to: int | None = None  # the message of the room it answers


@attrs.frozen(eq=False)
class Poster:
    """Who posts a message without a connection in the room: a bot
    answering a command, or an incoming webhook."""

    user: str

    def deliver(self, data: bytes) -> bool:
        return True  # (it has no connection: its message is for the members)

    def not_in(self, room: str) -> None:
        pass


@attrs.frozen(eq=False)
class ChangeRequest:
    """Edit a message (`text`) or delete it (None); or, with `emoji`, add
    (`on`) or take back a reaction to it."""

    subscriber: Subscriber
    message_id: int
    text: str | None
    ref: Ref = None
    emoji: str | None = None
    on: bool = False


@attrs.frozen(eq=False)
class SettingsRequest:
    """Set the topic (`topic`), make `user` a moderator or a member again,
    hand the room to `owner`, or archive it or not (`archived`)."""

    subscriber: Subscriber
    topic: str | None = None
    user: str | None = None
    moderator: bool = False
    ref: Ref = None
    owner: str | None = None
    archived: bool | None = None


@attrs.frozen(eq=False)
class ModerateRequest:
    """Invite, kick, ban or unban `user`."""

    subscriber: Subscriber
    action: Action
    user: str
    reason: str | None = None
    ref: Ref = None


@attrs.frozen(eq=False)
class TypingRequest:
    subscriber: Subscriber
    ref: Ref = None


@attrs.frozen(eq=False)
class MembersRequest:
    subscriber: Subscriber
    ref: Ref = None


RoomRequest = (
    JoinRequest
    | LeaveRequest
    | PublishRequest
    | MembersRequest
    | ChangeRequest
    | SettingsRequest
    | ModerateRequest
    | TypingRequest
)
