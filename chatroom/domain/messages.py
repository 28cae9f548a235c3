"""Messages and pages of them."""

from __future__ import annotations

import json
from typing import Any

import attrs

from chatroom.domain.files import FileInfo
from chatroom.domain.reactions import Reactions, reactions_json

MAX_ID = 2**63 - 1  # ids are 64-bit in both databases

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)

# History pages and `joined` carry at most this many bytes of messages (at
# least one message, so that paging always moves).
HISTORY_PAGE_BYTES = 256 * 1024


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
    bot: bool = False  # sent by a bot account or a webhook (1.2)
    files: tuple[FileInfo, ...] = ()  # shared with it (1.2); a deleted message has none
    reply_to: int | None = None  # the id of the message of its room it answers (1.2)
    mentions: tuple[str, ...] = ()  # the known users its text names with @ (1.2)
    reactions: Reactions | None = None  # (1.2) None: never reacted to
    # How many times it was edited, deleted or reacted to (never on the wire):
    # of two changes heard out of order, the later one stands.
    version: int = 0
    # Its frame text once encoded, here or by the server that committed it
    # (cluster/events.py sends it along).
    _frame_text: str | None = attrs.field(
        default=None, eq=False, repr=False, kw_only=True, alias="frame_text"
    )

    @property
    def frame_text(self) -> str:
        """Its `message` frame as JSON text, encoded once however many members
        and servers it goes to."""
        text = self._frame_text
        if text is None:
            text = _ENCODER.encode(self.as_json())
            # (a cache of what the fields say: frozen, the value never changes)
            object.__setattr__(self, "_frame_text", text)
        return text

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
        if self.bot:
            message["bot"] = True
        if self.deleted_by is not None:
            del message["text"]
            message["deleted"] = True
            return message
        if self.files:
            message["files"] = [file.as_json() for file in self.files]
        if self.edited is not None:
            message["edited"] = self.edited
        if self.reply_to is not None:
            message["reply_to"] = self.reply_to
        message["mentions"] = list(self.mentions)
        if self.reactions is not None:
            message["reactions"] = reactions_json(self.reactions)
        return message


@attrs.frozen
class HistoryPage:
    """Messages oldest first, and whether older ones exist."""

    messages: list[ChatMessage]
    more: bool


def newest_within(messages: list[ChatMessage], budget: int) -> list[ChatMessage]:
    """The newest of `messages` (oldest first) whose encoded size fits `budget`
    bytes; at least one, so that paging always moves."""
    # A character never encodes to more than 6 bytes (a \u escape): most
    # pages are shown to fit without encoding anything.
    if (
        sum(6 * (len(m.text) + len(m.cid or "")) + 512 + _extras_bound(m) for m in messages)
        <= budget
    ):
        return messages
    size = 0
    for start in range(len(messages) - 1, -1, -1):
        size += encoded_size(messages[start])
        if size > budget and start < len(messages) - 1:
            return messages[start + 1 :]
    return messages


def _extras_bound(message: ChatMessage) -> int:
    """At least the bytes its files, mentions and reactions take in its frame."""
    size = sum(6 * (len(f.name) + len(f.type)) + 80 for f in message.files)
    size += sum(len(user) + 3 for user in message.mentions)
    for emoji, users in message.reactions or ():
        size += 6 * len(emoji) + 6 + sum(len(user) + 3 for user in users)
    return size


def read_cost(messages: list[ChatMessage]) -> int:
    """What reading `messages` for a client costs against its history budget:
    their text in UTF-8 bytes, and a little for the rest."""
    return sum(len(m.text.encode()) + 100 + 100 * len(m.files) for m in messages)


def encoded_size(message: ChatMessage) -> int:
    """The bytes of `message` as JSON text in UTF-8 (its form in frames and pages)."""
    return len(message.frame_text.encode())
