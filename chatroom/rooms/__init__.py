"""Rooms: one task per room owning its members, presence and fan-out."""

from chatroom.rooms.registry import RoomRegistry
from chatroom.rooms.room import (
    ChangeRequest,
    JoinRequest,
    LeaveRequest,
    MembersRequest,
    ModerateRequest,
    PublishRequest,
    Room,
    RoomClosed,
    SettingsRequest,
    Subscriber,
    TypingRequest,
    UserNotices,
)

__all__ = [
    "ChangeRequest",
    "JoinRequest",
    "LeaveRequest",
    "MembersRequest",
    "ModerateRequest",
    "PublishRequest",
    "Room",
    "RoomClosed",
    "RoomRegistry",
    "SettingsRequest",
    "Subscriber",
    "TypingRequest",
    "UserNotices",
]
