"""Client frames parsed into typed requests; anything invalid raises ProtocolError."""

from __future__ import annotations

import json
import math
from typing import Any

import attrs

from chatroom.domain.errors import ErrorCode
from chatroom.domain.messages import MAX_ID
from chatroom.domain.names import (
    direct_room_users,
    is_valid_room_prefix,
)
from chatroom.protocol._bots import BotRequest, parse_bot_request
from chatroom.protocol._errors import ProtocolError, Ref
from chatroom.protocol._fields import (
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_ROOMS_LIMIT,
    MAX_HISTORY_LIMIT,
    MAX_ROOMS_LIMIT,
    MAX_TOPIC_CHARS,
    Fields,
    is_encodable,
    ref_of,
)
from chatroom.protocol._hooks import HookRequest, parse_hook_request
from chatroom.protocol._people import PeopleRequest, parse_people_request
from chatroom.protocol._search import Search, parse_search_request


@attrs.frozen
class Hello:
    token: str
    ref: Ref = None


@attrs.frozen
class Ping:
    ref: Ref = None


@attrs.frozen
class Join:
    room: str
    since: int | None = None
    ref: Ref = None


@attrs.frozen
class Leave:
    room: str
    ref: Ref = None


@attrs.frozen
class Decline:
    """Turn down a pending invitation to `room`."""

    room: str
    ref: Ref = None


@attrs.frozen
class Send:
    room: str
    text: str
    ref: Ref = None
    cid: str | None = None  # the client's id: stored at most once per user and room
    files: tuple[str, ...] = ()  # ids of files the sender uploaded to the room (1.2)
    reply_to: int | None = None  # the message of the room it answers (1.2)


@attrs.frozen
class Members:
    room: str
    ref: Ref = None


@attrs.frozen
class Rooms:
    ref: Ref = None
    # Extension: a page of the listing, by name, of rooms starting with
    # `prefix` (any case) and coming after the room `after`.
    prefix: str = ""
    after: str | None = None
    limit: int = DEFAULT_ROOMS_LIMIT


@attrs.frozen
class History:
    room: str
    before: int | None = None
    limit: int = DEFAULT_HISTORY_LIMIT
    ref: Ref = None


@attrs.frozen
class Edit:
    room: str
    id: int
    text: str
    ref: Ref = None


@attrs.frozen
class Delete:
    room: str
    id: int
    ref: Ref = None


@attrs.frozen
class Topic:
    room: str
    topic: str
    ref: Ref = None


@attrs.frozen
class SetRole:
    room: str
    user: str
    role: str  # "moderator" or "member"
    ref: Ref = None


@attrs.frozen
class Create:
    """Make a room (public or private) and join it."""

    room: str
    private: bool = False
    topic: str = ""
    ref: Ref = None


@attrs.frozen
class Direct:
    """Open the direct room of the caller and `user`; `since` is an extension."""

    user: str
    since: int | None = None
    ref: Ref = None


@attrs.frozen
class Typing:
    room: str
    ref: Ref = None


@attrs.frozen
class Read:
    """The user has read `room` up to message `id`."""

    room: str
    id: int
    ref: Ref = None


@attrs.frozen
class Moderate:
    """invite, kick, ban or unban (`action`) `user` in `room`."""

    action: str
    room: str
    user: str
    reason: str | None = None
    ref: Ref = None


Request = (
    Hello
    | Ping
    | Join
    | Leave
    | Send
    | Members
    | Rooms
    | History
    | Edit
    | Delete
    | Topic
    | SetRole
    | Moderate
    | Create
    | Typing
    | Read
    | Direct
    | Decline
    | BotRequest
    | HookRequest
    | Search
    | PeopleRequest
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key in object")
    return obj


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: JSON has no infinity to answer with
        raise ValueError(f"number {text[:20]} is out of range")
    return value


_decoder = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys
)


def parse_request(text: str) -> Request:
    """Parse one client text frame; raise ProtocolError for anything invalid."""
    try:
        obj = _decoder.decode(text)
    except (ValueError, RecursionError) as exc:
        message = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"malformed JSON: {message}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "a frame must be a JSON object")
    fields = Fields(obj, ref_of(obj))
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise fields.error("field 'type' must be a string")
    ref = fields.ref
    match kind:
        case "hello":
            return Hello(token=fields.string("token"), ref=ref)
        case "ping":
            return Ping(ref=ref)
        case "join":
            return Join(room=fields.room(), since=fields.optional_int("since", 0, MAX_ID), ref=ref)
        case "leave":
            return Leave(room=fields.room(), ref=ref)
        case "decline":
            return Decline(room=fields.room(), ref=ref)
        case "send":
            room = fields.room()
            files = fields.file_ids()
            text = fields.text(may_be_empty=bool(files))
            reply_to = fields.optional_int("reply_to", 1, MAX_ID)
            return Send(room, text, ref, fields.cid(), files, reply_to)
        case "edit":
            room = fields.room()
            message_id = fields.message_id()
            return Edit(room=room, id=message_id, text=fields.text(), ref=ref)
        case "delete":
            return Delete(room=fields.room(), id=fields.message_id(), ref=ref)
        case "topic":
            room = fields.room()
            return Topic(room=room, topic=fields.topic(required=True), ref=ref)
        case "create":
            room = fields.room()
            if direct_room_users(room) is not None:
                raise fields.error("a direct room is opened with direct, not created")
            private = fields.obj.get("private", False)
            if not isinstance(private, bool):
                raise fields.error("field 'private' must be true or false")
            return Create(room=room, private=private, topic=fields.topic(required=False), ref=ref)
        case "direct":
            user = fields.user()
            return Direct(user=user, since=fields.optional_int("since", 0, MAX_ID), ref=ref)
        case "typing":
            return Typing(room=fields.room(), ref=ref)
        case "read":
            return Read(room=fields.room(), id=fields.message_id(), ref=ref)
        case "invite" | "kick" | "ban" | "unban":
            room = fields.room()
            user = fields.user()
            reason = None
            if kind in ("kick", "ban") and fields.obj.get("reason") is not None:
                reason = fields.string("reason")
                if len(reason) > MAX_TOPIC_CHARS or not is_encodable(reason):
                    raise fields.error(f"a reason is 0 to {MAX_TOPIC_CHARS} characters")
            return Moderate(kind, room, user, reason, ref)
        case "role":
            room = fields.room()
            user = fields.user()
            role = fields.string("role")
            if role not in ("moderator", "member"):
                raise fields.error("role is 'moderator' or 'member'")
            return SetRole(room=room, user=user, role=role, ref=ref)
        case "members":
            return Members(room=fields.room(), ref=ref)
        case "rooms":
            prefix = fields.obj.get("prefix", "")
            if not is_valid_room_prefix(prefix):
                raise fields.error("prefix must be the start of a room name")
            after = fields.room_or_none("after")
            limit = fields.optional_int("limit", 1, MAX_ROOMS_LIMIT)
            return Rooms(ref, prefix, after, DEFAULT_ROOMS_LIMIT if limit is None else limit)
        case "history":
            room = fields.room()
            before = fields.optional_int("before", 0, MAX_ID)
            limit = fields.optional_int("limit", 1, MAX_HISTORY_LIMIT)
            return History(
                room=room,
                before=before,
                limit=DEFAULT_HISTORY_LIMIT if limit is None else limit,
                ref=ref,
            )
        case _:
            if (bot_request := parse_bot_request(kind, fields)) is not None:
                return bot_request
            if (hook_request := parse_hook_request(kind, fields)) is not None:
                return hook_request
            if (search := parse_search_request(kind, fields)) is not None:
                return search
            if (people := parse_people_request(kind, fields)) is not None:
                return people
            raise fields.error(f"unknown frame type {kind!r}")
