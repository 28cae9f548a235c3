"""The chat's domain: messages, rooms, names and who may do what in a room.

Pure data and rules: no IO, and nothing of the wire (chatroom.protocol) or
the store (chatroom.store), which both build on this.
"""

from chatroom.domain.errors import ErrorCode
from chatroom.domain.files import MAX_FILES_PER_MESSAGE, FileInfo
from chatroom.domain.messages import (
    HISTORY_PAGE_BYTES,
    MAX_ID,
    ChatMessage,
    HistoryPage,
    encoded_size,
    newest_within,
    read_cost,
)
from chatroom.domain.names import (
    direct_room_name,
    direct_room_users,
    is_valid_room_name,
    is_valid_room_prefix,
    is_valid_user_name,
)
from chatroom.domain.rooms import Member, RoomCount, RoomInfo, RoomSettings, RoomsPage, UserRoom

__all__ = [
    "HISTORY_PAGE_BYTES",
    "MAX_FILES_PER_MESSAGE",
    "MAX_ID",
    "ChatMessage",
    "ErrorCode",
    "FileInfo",
    "HistoryPage",
    "Member",
    "RoomCount",
    "RoomInfo",
    "RoomSettings",
    "RoomsPage",
    "UserRoom",
    "direct_room_name",
    "direct_room_users",
    "encoded_size",
    "is_valid_room_name",
    "is_valid_room_prefix",
    "is_valid_user_name",
    "newest_within",
    "read_cost",
]
