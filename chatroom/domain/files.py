"""Files shared in rooms (protocol 1.2, "Files"): what a message says of
each, and which names and ids are valid."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import attrs

MAX_FILES_PER_MESSAGE = 10
MAX_FILE_NAME_CHARS = 255
MAX_TYPE_CHARS = 100
DEFAULT_TYPE = "application/octet-stream"

# Ids are random (see store/files.py): 22 characters of URL-safe base64.
_FILE_ID = re.compile(r"[A-Za-z0-9_\-]{22}")
# A media type as RFC 9110 spells one: type "/" subtype, each a token.
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9a-z\-]+/[!#$%&'*+.^_`|~0-9a-z\-]+")


MAX_IMAGE_SIDE = 100_000  # pixels: a side said to be longer is not believed


@attrs.frozen
class FileInfo:
    """FILE: `{"id":F,"name":NAME,"size":N,"type":CT}`, and for an image shown
    inline its `width` and `height` (an extension: a page reserves its room)."""

    id: str
    name: str
    size: int
    type: str
    width: int | None = None
    height: int | None = None

    def as_json(self) -> dict[str, Any]:
        file: dict[str, Any] = {"id": self.id, "name": self.name, "size": self.size}
        file["type"] = self.type
        if self.width is not None and self.height is not None:
            file["width"], file["height"] = self.width, self.height
        return file


def file_of(obj: object) -> FileInfo:
    """The FILE in `obj` (as as_json() makes it); ValueError if it is not one."""
    if not isinstance(obj, dict):
        raise ValueError("a file is an object")
    file_id, name, size, kind = (obj.get(k) for k in ("id", "name", "size", "type"))
    if not (is_valid_file_id(file_id) and is_valid_file_name(name)):
        raise ValueError("invalid file id or name")
    if not (isinstance(size, int) and not isinstance(size, bool) and size >= 0):
        raise ValueError("a file's size is a whole number")
    if not isinstance(kind, str) or media_type(kind) != kind:
        raise ValueError("invalid file type")
    assert isinstance(file_id, str) and isinstance(name, str)
    width, height = obj.get("width"), obj.get("height")
    if not (_is_side(width) and _is_side(height)):
        width = height = None
    return FileInfo(file_id, name, size, kind, width, height)


def _is_side(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_IMAGE_SIDE


def files_of(obj: object) -> tuple[FileInfo, ...]:
    """The FILEs of a list (None: none); ValueError if it is not such a list."""
    if obj is None:
        return ()
    if not isinstance(obj, list) or len(obj) > MAX_FILES_PER_MESSAGE:
        raise ValueError(f"files are a list of at most {MAX_FILES_PER_MESSAGE}")
    return tuple(file_of(item) for item in obj)


def is_valid_file_id(file_id: object) -> bool:
    return isinstance(file_id, str) and _FILE_ID.fullmatch(file_id) is not None


def is_valid_file_name(name: object) -> bool:
    """1 to 255 characters, none of them a control character or a slash,
    and not a name a file system gives a meaning to ("." and "..")."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_FILE_NAME_CHARS:
        return False
    if name in (".", "..") or "/" in name or "\\" in name:
        return False
    try:
        name.encode()
    except UnicodeEncodeError:  # lone surrogates
        return False
    return not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name)


def media_type(content_type: str) -> str:
    """The media type of a Content-Type header, in lower case and without
    parameters; DEFAULT_TYPE for anything that is not one."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if len(kind) > MAX_TYPE_CHARS or _MEDIA_TYPE.fullmatch(kind) is None:
        return DEFAULT_TYPE
    return kind
