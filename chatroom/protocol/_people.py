"""Protocol 1.2, "Replies, reactions, mentions" and "People and rooms":
`react`, `users`, `transfer` and `archive` parsed; `reactions`,
`mention` and `users` encoded."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import attrs

from chatroom.domain.reactions import Reactions, reactions_json
from chatroom.protocol._errors import Ref
from chatroom.protocol._events import _with_ref, dumps
from chatroom.protocol._fields import Fields, is_encodable

MAX_EMOJI_CHARS = 32
DEFAULT_USERS_LIMIT = 50
MAX_USERS_LIMIT = 100
_USER_PREFIX = re.compile(r"[A-Za-z0-9_.\-]{0,32}")


@attrs.frozen
class React:
    """Add (`on`) or take back the user's `emoji` on message `id` of `room`."""

    room: str
    id: int
    emoji: str
    on: bool
    ref: Ref = None


@attrs.frozen
class Users:
    """A page of the user directory: names starting with `prefix` (any
    case), after `after`."""

    prefix: str = ""
    after: str | None = None
    limit: int = DEFAULT_USERS_LIMIT
    ref: Ref = None


@attrs.frozen
class Transfer:
    """The owner hands `room` to `user` (and stays a moderator)."""

    room: str
    user: str
    ref: Ref = None


@attrs.frozen
class Archive:
    room: str
    archived: bool
    ref: Ref = None


PeopleRequest = React | Users | Transfer | Archive


def parse_people_request(kind: str, fields: Fields) -> PeopleRequest | None:
    """The request of frame type `kind`, if it is one of these."""
    ref = fields.ref
    match kind:
        case "react":
            room, message_id = fields.room(), fields.message_id()
            emoji = fields.string("emoji")
            if not (
                1 <= len(emoji) <= MAX_EMOJI_CHARS
                and is_encodable(emoji)
                and not any(c.isspace() for c in emoji)
            ):
                raise fields.error(f"emoji is 1 to {MAX_EMOJI_CHARS} characters, no spaces")
            return React(room, message_id, emoji, fields.boolean("on"), ref)
        case "users":
            prefix = fields.obj.get("prefix", "")
            if not isinstance(prefix, str) or not _USER_PREFIX.fullmatch(prefix):
                raise fields.error("prefix must be the start of a user name")
            after = fields.user_or_none("after")
            limit = fields.optional_int("limit", 1, MAX_USERS_LIMIT)
            return Users(prefix, after, DEFAULT_USERS_LIMIT if limit is None else limit, ref)
        case "transfer":
            return Transfer(fields.room(), fields.user(), ref)
        case "archive":
            return Archive(fields.room(), fields.boolean("archived"), ref)
    return None


def encode_reactions(room: str, message_id: int, reactions: Reactions, ref: Ref = None) -> str:
    frame = {"type": "reactions", "room": room, "id": message_id}
    return _with_ref({**frame, "reactions": reactions_json(reactions)}, ref)


def encode_mention(room: str, message_id: int, by: str) -> str:
    return dumps({"type": "mention", "room": room, "id": message_id, "by": by})


@attrs.frozen
class DirectoryEntry:
    user: str
    bot: bool
    online: bool


def encode_users(users: Sequence[DirectoryEntry], more: bool, ref: Ref = None) -> str:
    listed: list[dict[str, Any]] = [
        {"user": u.user, "bot": u.bot, "online": u.online} for u in users
    ]
    return _with_ref({"type": "users", "users": listed, "more": more}, ref)
