"""Names of users and rooms: which are valid, and direct rooms' names."""

from __future__ import annotations

import re

_USER_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
_ROOM_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_ROOM_PREFIX = re.compile(r"[A-Za-z0-9_.\-]{0,64}|@[A-Za-z0-9_.,\-]{0,65}")
_DIRECT_ROOM = re.compile(r"@([A-Za-z0-9_.\-]{1,32}),([A-Za-z0-9_.\-]{1,32})")


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
