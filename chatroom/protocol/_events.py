"""Server events encoded to JSON text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chatroom.domain.messages import ChatMessage, HistoryPage
from chatroom.domain.reactions import reactions_json
from chatroom.domain.rooms import Member, RoomInfo, RoomsPage, UserRoom
from chatroom.protocol._errors import ProtocolError, Ref

# One encoder for every event: json.dumps with options builds one a call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


PROTOCOL_VERSION = "1.2"


def dumps(obj: dict[str, Any]) -> str:
    """Compact JSON text, non-ASCII kept as UTF-8; never NaN or Infinity."""
    return _ENCODER.encode(obj)


def _with_ref(obj: dict[str, Any], ref: Ref) -> str:
    if ref is not None:
        obj["ref"] = ref
    return dumps(obj)


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
            # (every 1.2 addition is implemented: see docs/protocol.md)
            "server": {"version": version, "protocol": PROTOCOL_VERSION},
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
    text = message.frame_text
    if ref is None:
        return text
    # As _with_ref() writes it ("ref" last), without encoding the message again.
    return f'{text[:-1]},"ref":{_ENCODER.encode(ref)}}}'


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
        joined["changes"] = [change for message in changes for change in _changes(message)]
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


def _changes(message: ChatMessage) -> list[dict[str, Any]]:
    """The frames that bring a client's copy of `message` to how it is now
    (1.2 "Catching up": applied idempotently, so one seen may come again)."""
    if message.deleted_by is not None:
        return [_change(message)]
    changes = [] if message.edited is None else [_change(message)]
    if message.reactions is not None:
        reactions = {"type": "reactions", "room": message.room, "id": message.id}
        changes.append({**reactions, "reactions": reactions_json(message.reactions)})
    return changes


def _change(message: ChatMessage) -> dict[str, Any]:
    if message.deleted_by is not None:
        return {"type": "deleted", "room": message.room, "id": message.id, "by": message.deleted_by}
    edited = {"type": "edited", "room": message.room, "id": message.id, "text": message.text}
    return {**edited, "edited": message.edited}


def encode_presence(room: str, event: str, user: str, bot: bool = False) -> str:
    presence = {"type": "presence", "room": room, "event": event, "user": user}
    return dumps({**presence, "bot": True} if bot else presence)
