"""Typed access to a client frame's fields: what every request checks alike."""

from __future__ import annotations

import json
from typing import Any

from chatroom.domain.errors import ErrorCode
from chatroom.domain.files import MAX_FILES_PER_MESSAGE, is_valid_file_id
from chatroom.domain.messages import MAX_ID
from chatroom.domain.names import is_valid_room_name, is_valid_user_name
from chatroom.protocol._errors import ProtocolError, Ref

MAX_TEXT_CHARS = 4000
MAX_TOPIC_CHARS = 200
MAX_REF_CHARS = 64
MAX_CID_CHARS = 64
MAX_HISTORY_LIMIT = 200
DEFAULT_HISTORY_LIMIT = 50
MAX_ROOMS_LIMIT = 200  # rooms in one `rooms` page
DEFAULT_ROOMS_LIMIT = 100


def is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from \ud800-style escapes
        return False
    return True


def ref_of(obj: dict[str, Any]) -> Ref:
    ref = obj.get("ref")
    if ref is None:
        return None
    if isinstance(ref, str):
        if len(ref) <= MAX_REF_CHARS and is_encodable(ref):
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


class Fields:
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
        if not 1 <= len(cid) <= MAX_CID_CHARS or not is_encodable(cid):
            raise self.error(f"cid must be 1 to {MAX_CID_CHARS} characters")
        return cid

    def user(self) -> str:
        user = self.string("user")
        if not is_valid_user_name(user):
            raise self.error("user names are 1 to 32 characters from A-Z a-z 0-9 _ - .")
        return user

    def user_or_none(self, name: str) -> str | None:
        value = self.obj.get(name)
        if value is None:
            return None
        if not is_valid_user_name(value):
            raise self.error(f"field {name!r} must be a user name")
        assert isinstance(value, str)
        return value

    def boolean(self, name: str) -> bool:
        value = self.obj.get(name)
        if not isinstance(value, bool):
            raise self.error(f"field {name!r} must be true or false")
        return value

    def text(self, *, may_be_empty: bool = False) -> str:
        """A message's text, as `send` and `edit` take it (empty only in a
        `send` with files)."""
        text = self.string("text")
        if not text and not may_be_empty:
            raise self.error("text must not be empty")
        if len(text) > MAX_TEXT_CHARS:
            raise self.error(f"text is limited to {MAX_TEXT_CHARS} characters", ErrorCode.TOO_LARGE)
        if not is_encodable(text):
            raise self.error("text must be valid Unicode (no lone surrogates)")
        return text

    def file_ids(self) -> tuple[str, ...]:
        """`files` of a `send`: distinct file ids, at most MAX_FILES_PER_MESSAGE."""
        ids = self.obj.get("files")
        if ids is None:
            return ()
        if (
            not isinstance(ids, list)
            or len(ids) > MAX_FILES_PER_MESSAGE
            or not all(is_valid_file_id(i) for i in ids)
            or len(set(ids)) != len(ids)
        ):
            raise self.error(
                f"files must be a list of at most {MAX_FILES_PER_MESSAGE} distinct file ids"
            )
        return tuple(ids)

    def topic(self, *, required: bool) -> str:
        if not required and self.obj.get("topic") is None:
            return ""
        topic = self.string("topic")
        if len(topic) > MAX_TOPIC_CHARS or not is_encodable(topic):
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
