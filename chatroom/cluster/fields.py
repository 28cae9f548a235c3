"""The fields events carry, checked as they are read: a node never trusts
what comes over the channel (a newer node, or a broken one, sent it)."""

from __future__ import annotations

from typing import Any

from chatroom.domain import ChatMessage, is_valid_room_name, is_valid_user_name
from chatroom.domain.files import files_of
from chatroom.domain.reactions import reactions_json, reactions_of


class BadEvent(ValueError):
    """Bytes on the channel that are not an event this version understands."""


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def room_of(body: dict[str, Any]) -> str:
    room = body["room"]
    if not is_valid_room_name(room):
        raise BadEvent("invalid room name")
    assert isinstance(room, str)
    return room


def user_of(user: object) -> str:
    if not is_valid_user_name(user):
        raise BadEvent("invalid user name")
    assert isinstance(user, str)
    return user


def message_row(m: ChatMessage) -> list[object]:
    """`m` as events carry it: [id, user, text, ts, cid, edited, deleted_by,
    bot?, files?, extras?], the optional parts only when needed (a node from
    before bots or files refuses the longer rows; its gap check reads those
    messages from the store)."""
    row: list[object] = [m.id, m.user, m.text, m.ts, m.cid, m.edited, m.deleted_by]
    extras: dict[str, Any] = {}
    if m.reply_to is not None:
        extras["reply_to"] = m.reply_to
    if m.mentions:
        extras["mentions"] = list(m.mentions)
    if m.reactions is not None:
        extras["reactions"] = reactions_json(m.reactions)
    if m.version:
        extras["version"] = m.version
    if m.bot or m.files or extras:
        row.append(m.bot)
    if m.files or extras:
        row.append([file.as_json() for file in m.files])
    if extras:
        row.append(extras)
    return row


def message_from_row(room: str, row: object, frame_text: object = None) -> ChatMessage:
    if not isinstance(row, list) or len(row) not in (7, 8, 9, 10):
        raise BadEvent(
            "a message is [id, user, text, ts, cid, edited, deleted_by, bot?, files?, extras?]"
        )
    id_, user, text, ts, cid, edited, deleted_by = row[:7]
    bot = len(row) >= 8 and row[7] is True
    files = files_of(row[8]) if len(row) >= 9 else ()  # (ValueError: a BadEvent)
    extras = row[9] if len(row) == 10 else {}
    if not (is_int(id_) and id_ > 0 and is_int(ts) and isinstance(text, str)):
        raise BadEvent("invalid message")
    if cid is not None and not isinstance(cid, str):
        raise BadEvent("cid is a string or null")
    if edited is not None and not is_int(edited):
        raise BadEvent("edited is an integer or null")
    if not isinstance(extras, dict):
        raise BadEvent("extras are an object")
    reply_to, version = extras.get("reply_to"), extras.get("version", 0)
    if not (reply_to is None or is_int(reply_to)) or not is_int(version):
        raise BadEvent("reply_to and version are integers")
    mentions = extras.get("mentions", [])
    if not isinstance(mentions, list):
        raise BadEvent("mentions are a list")
    reactions = extras.get("reactions")
    deleted_by = None if deleted_by is None else user_of(deleted_by)
    frame_text = frame_text if isinstance(frame_text, str) else None
    return ChatMessage(
        *(room, id_, user_of(user), text, ts, cid, edited, deleted_by, bot, files),
        reply_to=reply_to,
        mentions=tuple(user_of(u) for u in mentions),
        reactions=None if reactions is None else reactions_of(reactions),
        version=version,
        frame_text=frame_text,
    )
