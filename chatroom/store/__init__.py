"""Durable storage: messages and users, on SQLite (default) or PostgreSQL."""

from chatroom.store.backends import default_database_url, open_database
from chatroom.store.sql import (
    Account,
    Change,
    Database,
    Invitation,
    MessageChange,
    NameClash,
    Saved,
    SavedRoom,
    SchemaTooNew,
    SessionStart,
    StoredRoom,
    UserControl,
    UserView,
)
from chatroom.store.store import Store, StoreUnavailable

__all__ = [
    "Account",
    "Change",
    "Database",
    "Invitation",
    "MessageChange",
    "NameClash",
    "Saved",
    "SavedRoom",
    "SchemaTooNew",
    "SessionStart",
    "Store",
    "StoreUnavailable",
    "StoredRoom",
    "UserControl",
    "UserView",
    "default_database_url",
    "open_database",
]
