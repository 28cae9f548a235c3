"""Durable storage: messages and users, on SQLite (default) or PostgreSQL."""

from chatroom.store.backends import default_database_url, open_database
from chatroom.store.sql import Database, SchemaTooNew
from chatroom.store.store import Store, StoreUnavailable

__all__ = [
    "Database",
    "SchemaTooNew",
    "Store",
    "StoreUnavailable",
    "default_database_url",
    "open_database",
]
