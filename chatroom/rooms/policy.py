"""Who may do what in a room: pure answers, no IO, in one place.

Rooms ask here before they change anything; the store applies the answer
in the same transaction as the change (see Database.change_message), so
two servers cannot race past it.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    OWNER = "owner"
    MODERATOR = "moderator"
    MEMBER = "member"


class Change(enum.Enum):
    EDIT = "edit"
    DELETE = "delete"


def may_change_others(change: Change, role: Role) -> bool:
    """Whether `role` may edit or delete other users' messages (everyone may
    change their own): the owner and moderators delete, nobody edits."""
    return change is Change.DELETE and role in (Role.OWNER, Role.MODERATOR)
