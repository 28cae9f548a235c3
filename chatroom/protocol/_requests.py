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
    is_valid_room_name,
    is_valid_room_prefix,
    is_valid_user_name,
)
from chatroom.protocol._errors import ProtocolError, Ref

MAX_TEXT_CHARS = 4000
MAX_TOPIC_CHARS = 200
MAX_REF_CHARS = 64
MAX_CID_CHARS = 64
MAX_HISTORY_LIMIT = 200
DEFAULT_HISTORY_LIMIT = 50
MAX_ROOMS_LIMIT = 200  # rooms in one `rooms` page
DEFAULT_ROOMS_LIMIT = 100


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


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from \ud800-style escapes
        return False
    return True


def _ref_of(obj: dict[str, Any]) -> Ref:
    ref = obj.get("ref")
    if ref is None:
        return None
    if isinstance(ref, str):
        if len(ref) <= MAX_REF_CHARS and _is_encodable(ref):
            return ref
    elif (
        isinstance(ref, int | float)
        and not isinstance(ref, bool)
        and len(json.dumps(ref)) <= MAX_REF_CHARS
    ):
        return ref
    raise ProtocolError(
        ErrorCode.BAD_REQUEST,
        f"ref must be a string or number of at most {MAX_REF_CHARS} characters",
    )


class _Fields:
    """Typed access to a request object's fields; errors carry the ref."""

    def __init__(self, obj: dict[str, Any], ref: Ref) -> None:
        self.obj = obj
        self.ref = ref

    def error(self, message: str, code: ErrorCode = ErrorCode.BAD_REQUEST) -> ProtocolError:
        return ProtocolError(code, message, self.ref)

    def string(self, name: str) -> str:
        value = self.obj.get(name)
        if not isinstance(value, str):
            raise self.error(f"field {name!r} must be a string")
        return value

    def room(self, name: str = "room") -> str:
        room = self.string(name)
        if not is_valid_room_name(room):
            raise self.error(
                "room names are 1 to 64 characters from A-Z a-z 0-9 _ - . "
                "(direct rooms: @ and two user names in order, joined by a comma)"
            )
        return room

    def room_or_none(self, name: str) -> str | None:
        return None if self.obj.get(name) is None else self.room(name)

    def cid(self) -> str | None:
        if self.obj.get("cid") is None:
            return None
        cid = self.string("cid")
        if not 1 <= len(cid) <= MAX_CID_CHARS or not _is_encodable(cid):
            raise self.error(f"cid must be 1 to {MAX_CID_CHARS} characters")
        return cid

    def user(self) -> str:
        user = self.string("user")
        if not is_valid_user_name(user):
            raise self.error("user names are 1 to 32 characters from A-Z a-z 0-9 _ - .")
        return user

    def text(self) -> str:
        """A message's text, as `send` and `edit` take it."""
        text = self.string("text")
        if not text:
            raise self.error("text must not be empty")
        if len(text) > MAX_TEXT_CHARS:
            raise self.error(f"text is limited to {MAX_TEXT_CHARS} characters", ErrorCode.TOO_LARGE)
        if not _is_encodable(text):
            raise self.error("text must be valid Unicode (no lone surrogates)")
        return text

    def topic(self, *, required: bool) -> str:
        if not required and self.obj.get("topic") is None:
            return ""
        topic = self.string("topic")
        if len(topic) > MAX_TOPIC_CHARS or not _is_encodable(topic):
            raise self.error(f"a topic is 0 to {MAX_TOPIC_CHARS} characters")
        return topic

    def message_id(self) -> int:
        if "id" not in self.obj:
            raise self.error("field 'id' must be an integer")
        message_id = self.optional_int("id", 1, MAX_ID)
        assert message_id is not None
        return message_id

    def optional_int(self, name: str, low: int, high: int | None = None) -> int | None:
        if name not in self.obj or self.obj[name] is None:
            return None
        value = self.obj[name]
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(f"field {name!r} must be an integer")
        if value < low or (high is not None and value > high):
            bounds = f"{low}..{high}" if high is not None else f">= {low}"
            raise self.error(f"field {name!r} must be in {bounds}")
        return value


def parse_request(text: str) -> Request:
    """Parse one client text frame; raise ProtocolError for anything invalid."""
    try:
        obj = _decoder.decode(text)
    except (ValueError, RecursionError) as exc:
        message = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"malformed JSON: {message}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "a frame must be a JSON object")
    fields = _Fields(obj, _ref_of(obj))
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
            return Send(room=room, text=fields.text(), ref=ref, cid=fields.cid())
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
                if len(reason) > MAX_TOPIC_CHARS or not _is_encodable(reason):
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
            raise fields.error(f"unknown frame type {kind!r}")
