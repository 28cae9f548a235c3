"""The room policy: every rule of protocol 1.1's moderation, without IO."""

from __future__ import annotations

import pytest

from chatroom.domain import ErrorCode
from chatroom.domain.rules import (
    Action,
    Change,
    Role,
    RoomRules,
    may_change_others,
    may_join,
    may_set_topic,
    refusal,
    why_not_join,
)

ROOM = RoomRules(
    private=True,
    owner="olga",
    moderators=frozenset({"mo", "max"}),
    banned=frozenset({"bad"}),
    invited=frozenset({"ivy"}),
)


def test_roles_ignore_case() -> None:
    assert [ROOM.role_of(u) for u in ("Olga", "MO", "ann")] == [
        Role.OWNER,
        Role.MODERATOR,
        Role.MEMBER,
    ]
    assert RoomRules().role_of("anyone") is Role.MEMBER  # a room from before owners


def test_who_may_join() -> None:
    assert [may_join(ROOM, u) for u in ("olga", "mo", "Ivy", "ann", "bad")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    public = RoomRules(banned=frozenset({"bad"}))
    assert may_join(public, "ann") and not may_join(public, "BAD")


@pytest.mark.parametrize(
    ("actor", "action", "target", "refused"),
    [
        ("olga", Action.KICK, "mo", None),  # the owner acts on moderators
        ("olga", Action.BAN, "ann", None),
        ("mo", Action.KICK, "ann", None),
        ("mo", Action.BAN, "ann", None),
        ("mo", Action.UNBAN, "bad", None),
        ("mo", Action.INVITE, "ann", None),
        ("mo", Action.KICK, "max", ErrorCode.FORBIDDEN),  # moderator vs moderator
        ("mo", Action.KICK, "olga", ErrorCode.FORBIDDEN),  # nobody acts on the owner
        ("olga", Action.BAN, "olga", ErrorCode.FORBIDDEN),
        ("ann", Action.KICK, "ivy", ErrorCode.FORBIDDEN),  # members act on nobody
        ("ann", Action.INVITE, "ivy", ErrorCode.FORBIDDEN),
        ("olga", Action.SET_ROLE, "ann", None),
        ("olga", Action.SET_ROLE, "mo", None),
        ("mo", Action.SET_ROLE, "ann", ErrorCode.FORBIDDEN),  # roles: the owner's alone
        ("olga", Action.SET_ROLE, "olga", ErrorCode.FORBIDDEN),
    ],
)
def test_who_may_act_on_whom(
    actor: str, action: Action, target: str, refused: ErrorCode | None
) -> None:
    assert refusal(ROOM, actor, action, target) == refused


def test_invitations_are_for_private_rooms() -> None:
    public = RoomRules(owner="olga")
    assert refusal(public, "olga", Action.INVITE, "ann") == ErrorCode.BAD_REQUEST


def test_banned_users_cannot_be_invited_until_unbanned() -> None:
    assert refusal(ROOM, "olga", Action.INVITE, "BAD") == ErrorCode.FORBIDDEN
    assert refusal(ROOM, "olga", Action.INVITE, "ann") is None
    assert why_not_join(ROOM, "bad") == "you are banned from this room"
    assert "invite" in why_not_join(ROOM, "ann")


def test_topics_and_deleting_others_messages_need_a_role() -> None:
    assert may_set_topic(ROOM, "mo") and may_set_topic(ROOM, "olga")
    assert not may_set_topic(ROOM, "ann")
    assert may_change_others(Change.DELETE, Role.MODERATOR)
    assert may_change_others(Change.DELETE, Role.OWNER)
    assert not may_change_others(Change.DELETE, Role.MEMBER)
    assert not may_change_others(Change.EDIT, Role.OWNER)  # nobody edits others' words


def test_nobody_runs_a_direct_room() -> None:
    direct = RoomRules(private=True, invited=frozenset({"ann", "bob"}), direct=True)
    assert may_join(direct, "Ann") and may_join(direct, "bob") and not may_join(direct, "eve")
    assert not may_set_topic(direct, "ann")
    assert refusal(direct, "ann", Action.KICK, "bob") == ErrorCode.FORBIDDEN
    assert refusal(direct, "ann", Action.INVITE, "eve") == ErrorCode.FORBIDDEN
