"""Who may do what in a room: pure answers, no IO, in one place.

Rooms ask here before they change anything. Edits and deletes are applied
in the same database statement as the answer (see store/messages.change_message),
so two servers cannot race past it. The rules are those of protocol 1.1,
"Private rooms, roles, moderation" and "Edit and delete".
"""

from __future__ import annotations

import enum

import attrs

from chatroom.domain.errors import ErrorCode


class Role(enum.StrEnum):
    OWNER = "owner"
    MODERATOR = "moderator"
    MEMBER = "member"


class Change(enum.Enum):
    EDIT = "edit"
    DELETE = "delete"


class Action(enum.Enum):
    """What owners and moderators do to another user."""

    INVITE = "invite"
    KICK = "kick"
    BAN = "ban"
    UNBAN = "unban"
    SET_ROLE = "role"  # the owner's alone
    TRANSFER = "transfer"  # the owner's alone (1.2)


@attrs.frozen
class RoomRules:
    """What the policy needs to know of a room; user names in lower case."""

    private: bool = False
    owner: str | None = None  # None: a room from before owners (nobody owns it)
    moderators: frozenset[str] = frozenset()
    banned: frozenset[str] = frozenset()
    invited: frozenset[str] = frozenset()
    direct: bool = False  # a direct room: private to its two users, run by nobody
    archived: bool = False  # (1.2) read-only: no sends, edits or reactions

    def role_of(self, user: str) -> Role:
        key = user.lower()
        if key == self.owner:
            return Role.OWNER
        return Role.MODERATOR if key in self.moderators else Role.MEMBER


def may_change_others(change: Change, role: Role) -> bool:
    """Whether `role` may edit or delete other users' messages (everyone may
    change their own): the owner and moderators delete, nobody edits."""
    return change is Change.DELETE and role in (Role.OWNER, Role.MODERATOR)


def may_join(rules: RoomRules, user: str) -> bool:
    """Banned users never; a private room: its owner, moderators and invitees."""
    key = user.lower()
    if key in rules.banned:
        return False
    return not rules.private or rules.role_of(user) is not Role.MEMBER or key in rules.invited


NOT_YOUR_DIRECT_ROOM = "a direct room is for its two users"


BANNED = "you are banned from this room"
NOT_INVITED = "this room is private: its owner or a moderator must invite you"


def why_not_join(rules: RoomRules, user: str) -> str:
    """What a user refused by may_join() is told."""
    if rules.direct:
        return NOT_YOUR_DIRECT_ROOM
    if user.lower() in rules.banned:
        return BANNED
    return NOT_INVITED


ARCHIVED = "this room is archived: its history is kept, nothing new is taken"


def may_archive(rules: RoomRules, user: str) -> bool:
    return not rules.direct and rules.role_of(user) is Role.OWNER


def may_set_topic(rules: RoomRules, user: str) -> bool:
    return not rules.direct and rules.role_of(user) is not Role.MEMBER


def refusal(rules: RoomRules, actor: str, action: Action, target: str) -> ErrorCode | None:
    """Why `actor` may not do `action` to `target` (None: they may).

    The owner does anything to anyone but themselves; a moderator acts on
    members only; nobody acts on the owner; only the owner changes roles;
    invitations exist in private rooms only, and not for banned users; nobody
    moderates a direct room."""
    actor_role, target_role = rules.role_of(actor), rules.role_of(target)
    if actor_role is Role.MEMBER or rules.direct:
        return ErrorCode.FORBIDDEN
    if action is Action.TRANSFER:  # (never to a banned user: nobody could unban them)
        allowed = actor_role is Role.OWNER and target.lower() not in rules.banned
        return None if allowed else ErrorCode.FORBIDDEN
    if action is Action.SET_ROLE:
        allowed = actor_role is Role.OWNER and target_role is not Role.OWNER
        return None if allowed else ErrorCode.FORBIDDEN
    if target_role is Role.OWNER or (
        actor_role is Role.MODERATOR and target_role is Role.MODERATOR
    ):
        return ErrorCode.FORBIDDEN
    if action is Action.INVITE:
        if not rules.private:
            return ErrorCode.BAD_REQUEST
        if target.lower() in rules.banned:
            return ErrorCode.FORBIDDEN
    return None
