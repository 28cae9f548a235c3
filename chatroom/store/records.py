"""What the store's queries give back (and a few things they take)."""

from __future__ import annotations

from typing import Literal

import attrs

from chatroom.domain import ChatMessage, FileInfo
from chatroom.domain.hooks import Hook


@attrs.frozen
class Saved:
    """A message as committed: new, or the one already stored for its cid;
    or none (`no_reply_to`: it answers a message its room does not have)."""

    message: ChatMessage
    new: bool
    # Those it mentions who have its room among their rooms: they are told.
    notify: tuple[str, ...] = ()
    no_reply_to: bool = False


@attrs.frozen
class Change:
    """An edit, delete or reaction: the message as it is now, or why not."""

    message: ChatMessage | None  # None: not changed
    found: bool  # whether the message exists (and is not deleted)
    refused: str | None = None  # why a reaction was refused (too many distinct)
    changed: bool = True  # False: a reaction the message had already (or had not)


@attrs.frozen
class StoredRoom:
    name: str
    has_history: bool
    private: bool


# What rooms.remember_room did.
Remembered = Literal["remembered", "full", "banned", "uninvited"]


@attrs.frozen
class Invitation:
    """An invitation to a private room that its user has not acted on."""

    room: str
    by: str


@attrs.frozen
class SavedRoom:
    """One of a user's rooms, with what arrived since the user was last there."""

    name: str
    unread: int
    read: int | None = None  # the user's read marker there, if they ever sent one


@attrs.frozen
class UserView:
    """What room listings show one user only."""

    private_rooms: list[str]  # names of the private rooms they may see
    unread: dict[str, int]  # room key -> unread count, for each of their rooms
    # Keys of every archived room (few): listed only to their members.
    archived: frozenset[str] = frozenset()


@attrs.frozen
class ReadMarker:
    user: str
    room: str
    message_id: int


@attrs.frozen
class SessionStart:
    """What a new session needs from the database."""

    user: str  # the account's spelling of the name, or the token's without an account
    revoked: bool
    rooms: list[SavedRoom]
    known: bool = True  # False: no account, and never said hello before
    invitations: list[Invitation] = attrs.field(factory=list)
    owner: str | None = None  # the account that answers for a bot (None: not a bot)


@attrs.frozen
class UserControl:
    """A server-wide ban of one user, or a logout of their tokens issued
    before `not_before_ms` (0: none)."""

    name: str
    banned: bool
    not_before_ms: int
    changed_ms: int


@attrs.frozen
class Account:
    name: str
    created_ms: int
    banned: bool
    owner: str | None = None  # a bot's


@attrs.frozen
class StoredHook:
    """A hook with what only the server sees: the SHA-256 (hex) of its URL's
    secret, and an outgoing hook's signing secret."""

    hook: Hook
    secret_hash: str
    signing_secret: str | None = None


@attrs.frozen
class Delivery:
    """An outgoing hook's POST of one message, claimed by this server."""

    id: str  # its webhook-id, the same in every attempt
    hook_id: str
    target: str
    signing_secret: str
    body: str
    attempts: int  # made before this one
    created_ms: int


@attrs.frozen
class StoredFile:
    """A complete upload, with what only the server sees."""

    info: FileInfo
    room: str  # the room's spelling
    uploader: str
    inline_type: str | None  # an image's type, by its content; None: an attachment
    attached: bool  # whether a message went out with it
