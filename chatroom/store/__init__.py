"""Durable storage: messages and users, on SQLite (default) or PostgreSQL."""

from chatroom.store.backends import default_database_url, open_database
from chatroom.store.sql import (
    Change,
    Database,
    NameClash,
    RoomSettings,
    Saved,
    SavedRoom,
    SchemaTooNew,
    SessionStart,
    StoredRoom,
    UserView,
)
from chatroom.store.store import Store, StoreUnavailable

__all__ = [
    "Change",
    "Database",
    "NameClash",
    "RoomSettings",
    "Saved",
    "SavedRoom",
    "SchemaTooNew",
    "SessionStart",
    "Store",
    "StoreUnavailable",
    "StoredRoom",
    "UserView",
    "default_database_url",
    "open_database",
]
