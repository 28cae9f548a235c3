"""Rooms as users see them: members, who runs a room, listings."""

from __future__ import annotations

from typing import Any

import attrs

from chatroom.domain.names import direct_room_users
from chatroom.domain.rules import RoomRules


@attrs.frozen
class Member:
    user: str
    since: int
    role: str | None = None  # owner, moderator or member (None: not known here)
    bot: bool = False

    def as_json(self) -> dict[str, Any]:
        member: dict[str, Any] = {"user": self.user, "since": self.since}
        if self.role is not None:
            member["role"] = self.role
        if self.bot:
            member["bot"] = True
        return member


@attrs.frozen
class RoomInfo:
    """Who runs a room, and its topic (INFO in the protocol)."""

    private: bool = False
    topic: str = ""
    owner: str | None = None
    moderators: tuple[str, ...] = ()
    archived: bool = False  # (1.2)

    def as_json(self) -> dict[str, Any]:
        return {
            "private": self.private,
            "topic": self.topic,
            "owner": self.owner,
            "moderators": list(self.moderators),
            "archived": self.archived,
        }


@attrs.frozen
class RoomCount:
    room: str
    count: int
    private: bool = False
    unread: int | None = None  # for the asking user's own rooms
    archived: bool = False

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"room": self.room, "count": self.count, "private": self.private}
        if direct_room_users(self.room) is not None:
            entry["direct"] = True
        if self.archived:
            entry["archived"] = True
        if self.unread is not None:
            entry["unread"] = self.unread
        return entry


@attrs.frozen
class UserRoom:
    """One of a user's rooms in `welcome`."""

    room: str
    unread: int

    def as_json(self) -> dict[str, Any]:
        return {"room": self.room, "unread": self.unread}


@attrs.frozen
class RoomsPage:
    """A page of the room listing, and whether more rooms follow it."""

    rooms: list[RoomCount]
    more: bool

    def as_json(self) -> dict[str, Any]:
        return {"rooms": [r.as_json() for r in self.rooms], "more": self.more}


@attrs.frozen
class RoomSettings:
    """A room's rules, and what its INFO shows besides."""

    rules: RoomRules = attrs.field(factory=RoomRules)
    owner: str | None = None  # as spelled
    topic: str = ""
    moderators: list[str] = attrs.field(factory=list)  # as spelled, in the order made

    @property
    def info(self) -> RoomInfo:
        rules, moderators = self.rules, tuple(self.moderators)
        return RoomInfo(rules.private, self.topic, self.owner, moderators, rules.archived)
