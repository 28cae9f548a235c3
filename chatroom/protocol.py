"""Protocol v1, sans-IO: client frames parsed into typed requests, server events
encoded to JSON text. No sockets, no clocks, no awaits (see docs/protocol.md)."""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import attrs

MAX_TEXT_CHARS = 4000
MAX_TOPIC_CHARS = 200
MAX_REF_CHARS = 64
MAX_CID_CHARS = 64
MAX_HISTORY_LIMIT = 200
DEFAULT_HISTORY_LIMIT = 50
MAX_ROOMS_LIMIT = 200  # rooms in one `rooms` page
DEFAULT_ROOMS_LIMIT = 100
MAX_ID = 2**63 - 1  # ids are 64-bit in both databases
# History pages and `joined` carry at most this many bytes of messages (at
# least one message, so that paging always moves).
HISTORY_PAGE_BYTES = 256 * 1024

_USER_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
_ROOM_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_ROOM_PREFIX = re.compile(r"[A-Za-z0-9_.\-]{0,64}|@[A-Za-z0-9_.,\-]{0,65}")
_DIRECT_ROOM = re.compile(r"@([A-Za-z0-9_.\-]{1,32}),([A-Za-z0-9_.\-]{1,32})")

Ref = str | int | float | None


class ErrorCode(enum.StrEnum):
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_MEMBER = "not_member"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class ProtocolError(Exception):
    """A request the server refuses; becomes an `error` frame carrying `ref`."""

    def __init__(self, code: ErrorCode, message: str, ref: Ref = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.retry_after_ms: int | None = None  # extension, with rate_limited


def not_member_error(room: str, ref: Ref) -> ProtocolError:
    return ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of room {room!r}", ref)


def rate_limited_error(message: str, wait: float, ref: Ref) -> ProtocolError:
    """`rate_limited`, saying (extension `retry_after_ms`) when to try again."""
    error = ProtocolError(ErrorCode.RATE_LIMITED, message, ref)
    error.retry_after_ms = math.ceil(wait * 1000)
    return error


def unavailable_error(ref: Ref) -> ProtocolError:
    return ProtocolError(ErrorCode.UNAVAILABLE, "the message store is unavailable; retry", ref)


# -- client requests -------------------------------------------------------


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


def is_valid_user_name(name: object) -> bool:
    return isinstance(name, str) and _USER_NAME.fullmatch(name) is not None


def is_valid_room_name(name: object) -> bool:
    """A room's name, or a direct room's (see direct_room_name)."""
    if not isinstance(name, str):
        return False
    return _ROOM_NAME.fullmatch(name) is not None or direct_room_users(name) is not None


def direct_room_name(user: str, other: str) -> str:
    """The direct room of two users: `@` and their names, sorted without
    regard to case, joined by a comma."""
    first, second = sorted((user, other), key=str.lower)
    return f"@{first},{second}"


def direct_room_users(name: str) -> tuple[str, str] | None:
    """The two users of a direct room's name; None if it is not one (names
    out of order, or one user twice, are not: each pair has one room)."""
    match = _DIRECT_ROOM.fullmatch(name)
    if match is None or match[1].lower() >= match[2].lower():
        return None
    return match[1], match[2]


def is_valid_room_prefix(prefix: object) -> bool:
    """The start of a room name, or nothing."""
    return isinstance(prefix, str) and _ROOM_PREFIX.fullmatch(prefix) is not None


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


# -- server events ---------------------------------------------------------


@attrs.frozen
class ChatMessage:
    room: str
    id: int
    user: str
    text: str
    ts: int
    cid: str | None = None
    edited: int | None = None  # when its text last changed (ms)
    deleted_by: str | None = None  # a deleted message keeps its id, not its text

    def as_json(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "room": self.room,
            "id": self.id,
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
        }
        if self.cid is not None:
            message["cid"] = self.cid
        if self.deleted_by is not None:
            del message["text"]
            message["deleted"] = True
        elif self.edited is not None:
            message["edited"] = self.edited
        return message


@attrs.frozen
class Member:
    user: str
    since: int
    role: str | None = None  # owner, moderator or member (None: not known here)

    def as_json(self) -> dict[str, Any]:
        member: dict[str, Any] = {"user": self.user, "since": self.since}
        if self.role is not None:
            member["role"] = self.role
        return member


@attrs.frozen
class RoomInfo:
    """Who runs a room, and its topic (INFO in the protocol)."""

    private: bool = False
    topic: str = ""
    owner: str | None = None
    moderators: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "private": self.private,
            "topic": self.topic,
            "owner": self.owner,
            "moderators": list(self.moderators),
        }


@attrs.frozen
class RoomCount:
    room: str
    count: int
    private: bool = False
    unread: int | None = None  # for the asking user's own rooms

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"room": self.room, "count": self.count, "private": self.private}
        if direct_room_users(self.room) is not None:
            entry["direct"] = True
        if self.unread is not None:
            entry["unread"] = self.unread
        return entry


def newest_within(messages: list[ChatMessage], budget: int) -> list[ChatMessage]:
    """The newest of `messages` (oldest first) whose encoded size fits `budget`
    bytes; at least one, so that paging always moves."""
    # A character never encodes to more than 6 bytes (a \u escape): most
    # pages are shown to fit without encoding anything.
    if sum(6 * (len(m.text) + len(m.cid or "")) + 512 for m in messages) <= budget:
        return messages
    size = 0
    for start in range(len(messages) - 1, -1, -1):
        size += len(encode_message(messages[start]).encode())
        if size > budget and start < len(messages) - 1:
            return messages[start + 1 :]
    return messages


def read_cost(messages: list[ChatMessage]) -> int:
    """What reading `messages` for a client costs against its history budget:
    their text in UTF-8 bytes, and a little for the rest."""
    return sum(len(m.text.encode()) + 100 for m in messages)


def dumps(obj: dict[str, Any]) -> str:
    """Compact JSON text, non-ASCII kept as UTF-8; never NaN or Infinity."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _with_ref(obj: dict[str, Any], ref: Ref) -> str:
    if ref is not None:
        obj["ref"] = ref
    return dumps(obj)


@attrs.frozen
class UserRoom:
    """One of a user's rooms in `welcome`."""

    room: str
    unread: int

    def as_json(self) -> dict[str, Any]:
        return {"room": self.room, "unread": self.unread}


@attrs.frozen
class HistoryPage:
    """Messages oldest first, and whether older ones exist."""

    messages: list[ChatMessage]
    more: bool


def encode_welcome(
    user: str,
    session: str,
    version: str,
    rooms: list[UserRoom],
    ref: Ref = None,
    invitations: Sequence[tuple[str, str]] = (),
) -> str:
    return _with_ref(
        {
            "type": "welcome",
            "user": user,
            "session": session,
            "server": {"version": version},
            "rooms": [r.as_json() for r in rooms],
            # 1.2: the invitations the user has not acted on, (room, by) oldest first
            "invitations": [{"room": room, "by": by} for room, by in invitations],
        },
        ref,
    )


def encode_pong(ref: Ref = None) -> str:
    return _with_ref({"type": "pong"}, ref)


def encode_error(error: ProtocolError) -> str:
    frame: dict[str, Any] = {"type": "error", "code": str(error.code), "message": error.message}
    if error.retry_after_ms is not None:
        frame["retry_after_ms"] = error.retry_after_ms
    return _with_ref(frame, error.ref)


def encode_message(message: ChatMessage, ref: Ref = None) -> str:
    return _with_ref(message.as_json(), ref)


def encode_joined(
    room: str,
    members: list[Member],
    history: HistoryPage,
    ref: Ref = None,
    truncated: bool = False,
    info: RoomInfo | None = None,
    read: int | None = None,
    changes: list[ChatMessage] | None = None,
    changes_truncated: bool = False,
) -> str:
    joined: dict[str, Any] = {
        "type": "joined",
        "room": room,
        "info": (info or RoomInfo()).as_json(),
        "read": read,
        "members": [m.as_json() for m in members],
        "history": [m.as_json() for m in history.messages],
        "more": history.more,  # extension: older messages exist before `history`
    }
    if truncated:
        # Extension: more messages than `history` holds came after `since`;
        # page back from the first one with `history` frames.
        joined["truncated"] = True
    if changes is not None:  # 1.2: for a join with since, what changed up to it
        joined["changes"] = [_change(message) for message in changes]
    if changes_truncated:
        # Extension: more changes than `changes` holds may have been made;
        # history read again (join without since, `history`) is as it is now.
        joined["changes_truncated"] = True
    return _with_ref(joined, ref)


def encode_room_info(room: str, info: RoomInfo) -> str:
    return dumps({"type": "room", "room": room, "info": info.as_json()})


def encode_kicked(room: str, by: str, reason: str | None) -> str:
    return dumps({"type": "kicked", "room": room, "by": by, "reason": reason or ""})


def encode_invited(room: str, user: str, ref: Ref = None) -> str:
    return _with_ref({"type": "invited", "room": room, "user": user}, ref)


def encode_invitation(room: str, by: str) -> str:
    return dumps({"type": "invitation", "room": room, "by": by})


def encode_typing(room: str, user: str) -> str:
    return dumps({"type": "typing", "room": room, "user": user})


def encode_read(room: str, message_id: int, ref: Ref = None) -> str:
    return _with_ref({"type": "read", "room": room, "id": message_id}, ref)


def encode_done(ref: Ref = None) -> str:
    return _with_ref({"type": "done"}, ref)


def encode_left(room: str, ref: Ref = None) -> str:
    return _with_ref({"type": "left", "room": room}, ref)


def encode_members(room: str, members: list[Member], ref: Ref = None) -> str:
    return _with_ref(
        {"type": "members", "room": room, "members": [m.as_json() for m in members]}, ref
    )


@attrs.frozen
class RoomsPage:
    """A page of the room listing, and whether more rooms follow it."""

    rooms: list[RoomCount]
    more: bool

    def as_json(self) -> dict[str, Any]:
        return {"rooms": [r.as_json() for r in self.rooms], "more": self.more}


def encode_rooms(page: RoomsPage, ref: Ref = None) -> str:
    return _with_ref({"type": "rooms", **page.as_json()}, ref)


def encode_history(room: str, page: HistoryPage, ref: Ref = None) -> str:
    return _with_ref(
        {
            "type": "history",
            "room": room,
            "messages": [m.as_json() for m in page.messages],
            "more": page.more,
        },
        ref,
    )


def encode_change(message: ChatMessage, ref: Ref = None) -> str:
    """What members get when `message` was edited or deleted."""
    return _with_ref(_change(message), ref)


def _change(message: ChatMessage) -> dict[str, Any]:
    if message.deleted_by is not None:
        return {"type": "deleted", "room": message.room, "id": message.id, "by": message.deleted_by}
    edited = {"type": "edited", "room": message.room, "id": message.id, "text": message.text}
    return {**edited, "edited": message.edited}


def not_found_error(message_id: int, ref: Ref) -> ProtocolError:
    return ProtocolError(ErrorCode.NOT_FOUND, f"no message {message_id} here", ref)


def not_yours_error(ref: Ref) -> ProtocolError:
    return ProtocolError(ErrorCode.FORBIDDEN, "that message is someone else's", ref)


def encode_presence(room: str, event: str, user: str) -> str:
    return dumps({"type": "presence", "room": room, "event": event, "user": user})
