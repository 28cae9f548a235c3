"""Durable storage: messages and users, on SQLite (default) or PostgreSQL.

`Store` (engine.py) runs queries: `await store.read(query, *args)`,
`await store.write(command, *args)`, `store.write_soon(command, *args)`,
where a query or command is a plain function of the query modules here
(messages, users, rooms, markers, tokens, hooks, files) taking the database and a
connection first.
"""

from chatroom.store import files, hooks, markers, messages, rooms, tokens, users
from chatroom.store.backends import default_database_url, open_database
from chatroom.store.dialect import Database
from chatroom.store.engine import Store, StoreUnavailable
from chatroom.store.marker_buffer import ReadMarkerBuffer
from chatroom.store.migrations import NameClash, SchemaTooNew
from chatroom.store.records import (
    Account,
    Change,
    Delivery,
    Invitation,
    ReadMarker,
    Remembered,
    Saved,
    SavedRoom,
    SessionStart,
    StoredFile,
    StoredHook,
    StoredRoom,
    UserControl,
    UserView,
)
from chatroom.store.rooms import RoomList

__all__ = [
    "Account",
    "Change",
    "Database",
    "Delivery",
    "Invitation",
    "NameClash",
    "ReadMarker",
    "ReadMarkerBuffer",
    "Remembered",
    "RoomList",
    "Saved",
    "SavedRoom",
    "SchemaTooNew",
    "SessionStart",
    "Store",
    "StoreUnavailable",
    "StoredFile",
    "StoredHook",
    "StoredRoom",
    "UserControl",
    "UserView",
    "default_database_url",
    "files",
    "hooks",
    "markers",
    "messages",
    "open_database",
    "rooms",
    "tokens",
    "users",
]
