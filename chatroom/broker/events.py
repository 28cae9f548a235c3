"""What servers tell each other through the broker, as bytes: pure functions.

Every event names the node that sent it (a node ignores its own). Room
events carry the room's key and spelling, so that a node learns rooms another
node created. New kinds (kick, ban, typing, read markers) are new classes
here and a case in the broker's dispatch; nodes skip kinds they do not know,
so a cluster can be upgraded one node at a time.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import attrs

from chatroom.domain import ChatMessage, is_valid_room_name, is_valid_user_name

VERSION = 1


class BadEvent(ValueError):
    """Bytes on the channel that are not an event this version understands."""


@attrs.frozen
class MessagesEvent:
    """Messages a node committed in a room, in id order."""

    node: str
    room: str  # as first spelled
    messages: tuple[ChatMessage, ...]


@attrs.frozen
class ChangedEvent:
    """A message a node edited or deleted, as it is now."""

    node: str
    room: str
    message: ChatMessage


@attrs.frozen
class SettingsEvent:
    """A node changed a room's topic or roles: read them again."""

    node: str
    room: str


@attrs.frozen
class ExpelledEvent:
    """A node kicked or banned `user` from `room`: their connections leave it everywhere."""

    node: str
    room: str
    user: str
    by: str
    reason: str | None


@attrs.frozen
class InvitationEvent:
    """`by` invited `user` to the private `room`: their connections everywhere hear of it."""

    node: str
    room: str
    user: str
    by: str


@attrs.frozen
class TypingEvent:
    """`user` is typing in `room` (already throttled by the sending node)."""

    node: str
    room: str
    user: str


@attrs.frozen
class ReadEvent:
    """`user` has read `room` up to `message_id`: their connections everywhere hear of it."""

    node: str
    room: str
    user: str
    message_id: int


@attrs.frozen
class PresenceEvent:
    """`user` became a member of `room` on `node` at `since` (ms), or stopped
    being one there (`since` None)."""

    node: str
    room: str
    user: str
    since: int | None


@attrs.frozen
class NodeEvent:
    """`node` (re)wrote all its members to the broker: read them again."""

    node: str


@attrs.frozen
class RevokedEvent:
    """A token was revoked: its sessions end on every node."""

    node: str
    token_id: str


@attrs.frozen
class UnknownEvent:
    """A kind a newer node sends; skipped."""

    node: str
    kind: str


BrokerEvent = (
    MessagesEvent
    | ChangedEvent
    | SettingsEvent
    | ExpelledEvent
    | InvitationEvent
    | TypingEvent
    | ReadEvent
    | PresenceEvent
    | NodeEvent
    | RevokedEvent
    | UnknownEvent
)


def sender_prefix(node: str) -> bytes:
    """How every event `node` sends begins: a node skips its own unparsed."""
    return b'{"node":' + json.dumps(node).encode() + b","


def encode_event(event: BrokerEvent) -> bytes:
    body: dict[str, Any] = {"node": event.node, "v": VERSION}
    match event:
        case MessagesEvent(_node, room, messages):
            body.update(kind="messages", room=room, messages=[_row(m) for m in messages])
        case ChangedEvent(_node, room, message):
            body.update(kind="changed", room=room, message=_row(message))
        case SettingsEvent(_node, room):
            body.update(kind="settings", room=room)
        case ExpelledEvent(_node, room, user, by, reason):
            body.update(kind="expelled", room=room, user=user, by=by, reason=reason)
        case InvitationEvent(_node, room, user, by):
            body.update(kind="invitation", room=room, user=user, by=by)
        case TypingEvent(_node, room, user):
            body.update(kind="typing", room=room, user=user)
        case ReadEvent(_node, room, user, message_id):
            body.update(kind="read", room=room, user=user, id=message_id)
        case PresenceEvent(_node, room, user, since):
            body.update(kind="presence", room=room, user=user, since=since)
        case NodeEvent():
            body.update(kind="node")
        case RevokedEvent(_node, token_id):
            body.update(kind="revoked", token=token_id)
        case UnknownEvent():
            raise ValueError("unknown events are not sent")
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def decode_event(data: bytes) -> BrokerEvent:
    try:
        body = json.loads(data)
        node = body["node"]
        kind = body["kind"]
        if not isinstance(node, str) or not isinstance(kind, str):
            raise BadEvent("node and kind are strings")
        match kind:
            case "messages":
                room = _room(body)
                messages = tuple(_message(room, row) for row in body["messages"])
                if not messages or any(b.id != a.id + 1 for a, b in itertools.pairwise(messages)):
                    raise BadEvent("messages are contiguous and not empty")
                return MessagesEvent(node, room, messages)
            case "changed":
                room = _room(body)
                return ChangedEvent(node, room, _message(room, body["message"]))
            case "settings":
                return SettingsEvent(node, _room(body))
            case "expelled":
                reason = body["reason"]
                if reason is not None and not isinstance(reason, str):
                    raise BadEvent("reason is a string or null")
                room, user, by = _room(body), _user(body["user"]), _user(body["by"])
                return ExpelledEvent(node, room, user, by, reason)
            case "invitation":
                return InvitationEvent(node, _room(body), _user(body["user"]), _user(body["by"]))
            case "typing":
                return TypingEvent(node, _room(body), _user(body["user"]))
            case "read":
                message_id = body["id"]
                if not _is_int(message_id) or message_id < 0:
                    raise BadEvent("id is a non-negative integer")
                return ReadEvent(node, _room(body), _user(body["user"]), message_id)
            case "presence":
                since = body["since"]
                if since is not None and not _is_int(since):
                    raise BadEvent("since is an integer or null")
                return PresenceEvent(node, _room(body), _user(body["user"]), since)
            case "node":
                return NodeEvent(node)
            case "revoked":
                token_id = body["token"]
                if not isinstance(token_id, str):
                    raise BadEvent("token is a string")
                return RevokedEvent(node, token_id)
            case _:
                return UnknownEvent(node, kind)
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, BadEvent):
            raise
        raise BadEvent(f"not an event: {exc!r}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _room(body: dict[str, Any]) -> str:
    room = body["room"]
    if not is_valid_room_name(room):
        raise BadEvent("invalid room name")
    assert isinstance(room, str)
    return room


def _user(user: object) -> str:
    if not is_valid_user_name(user):
        raise BadEvent("invalid user name")
    assert isinstance(user, str)
    return user


def _row(m: ChatMessage) -> list[object]:
    return [m.id, m.user, m.text, m.ts, m.cid, m.edited, m.deleted_by]


def _message(room: str, row: object) -> ChatMessage:
    if not isinstance(row, list) or len(row) != 7:
        raise BadEvent("a message is [id, user, text, ts, cid, edited, deleted_by]")
    id_, user, text, ts, cid, edited, deleted_by = row
    if not (_is_int(id_) and id_ > 0 and _is_int(ts) and isinstance(text, str)):
        raise BadEvent("invalid message")
    if cid is not None and not isinstance(cid, str):
        raise BadEvent("cid is a string or null")
    if edited is not None and not _is_int(edited):
        raise BadEvent("edited is an integer or null")
    deleted_by = None if deleted_by is None else _user(deleted_by)
    return ChatMessage(room, id_, _user(user), text, ts, cid, edited, deleted_by)
