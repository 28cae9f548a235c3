"""Rooms: one task per room owning its members, presence and fan-out.

The room's rules and state are sans-IO (core.py, with members.py,
timeline.py, outbox.py, recent.py and the requests in requests.py); the task
around them (actor.py) holds the inbox and every wait; the registry owns the
tasks and the listing of every room.
"""

from chatroom.rooms.actor import Room
from chatroom.rooms.inbox import RoomClosed
from chatroom.rooms.registry import RoomRegistry
from chatroom.rooms.requests import (
    ChangeRequest,
    JoinRequest,
    LeaveRequest,
    MembersRequest,
    ModerateRequest,
    PublishRequest,
    SettingsRequest,
    Subscriber,
    TypingRequest,
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
]
