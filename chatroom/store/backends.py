"""Database URLs to `Database` objects: sqlite:///PATH and postgresql://..."""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

import psycopg

from chatroom.files import private_dir, private_files
from chatroom.store.dialect import Database

SQLITE_PREFIX = "sqlite:///"
DEFAULT_DATABASE_FILE = "chatroom.db"
SQLITE_BUSY_TIMEOUT_S = 5.0
POSTGRES_CONNECT_TIMEOUT_S = 5


def default_database_url(data_dir: Path) -> str:
    return f"{SQLITE_PREFIX}{data_dir / DEFAULT_DATABASE_FILE}"


def open_database(url: str) -> Database:
    """`sqlite:///relative/path`, `sqlite:////absolute/path` or a PostgreSQL URL."""
    if url.startswith(SQLITE_PREFIX):
        return _sqlite(Path(url.removeprefix(SQLITE_PREFIX)))
    if url.startswith(("postgresql://", "postgres://")):
        return _postgresql(url)
    raise ValueError(
        f"unsupported database URL {redacted_url(url)!r}: use sqlite:///PATH or postgresql://..."
    )


def redacted_url(url: str) -> str:
    """`url` without its password, to show in logs and errors."""
    parts = urllib.parse.urlsplit(url)
    query = "&".join(f for f in parts.query.split("&") if not f.startswith("password="))
    if parts.password is None and query == parts.query:
        return url  # as given: rebuilt, sqlite:////absolute/path would lose slashes
    users, _, host = parts.netloc.rpartition("@")
    netloc = f"{users.partition(':')[0]}@{host}" if users else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def _sqlite(path: Path) -> Database:
    if not path.parent.exists():
        private_dir(path.parent)

    def connect() -> Any:
        # Autocommit mode: transactions are begun and ended explicitly.
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=SQLITE_BUSY_TIMEOUT_S
        )
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before anyone is told about the message.
        conn.execute("PRAGMA synchronous=FULL")
        # Users' password hashes and every message: the server's alone.
        private_files(path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
        return conn

    return Database(
        dialect="sqlite",
        connect=connect,
        unavailable=(sqlite3.OperationalError,),
        description=f"SQLite database {path}",
        # Its reads are short and hold the GIL: one thread does them all with
        # less contention than several (churn: 370 cycles/s against 280 with 4).
        read_connections=1,
        broken=lambda conn: False,  # (a file does not go away under a connection)
    )


def _postgresql(url: str) -> Database:
    def connect() -> Any:
        return psycopg.connect(url, autocommit=True, connect_timeout=POSTGRES_CONNECT_TIMEOUT_S)

    return Database(
        dialect="postgresql",
        connect=connect,
        unavailable=(psycopg.OperationalError, psycopg.InterfaceError),
        description=f"PostgreSQL database {redacted_url(url)}",
        # Its reads wait on the network, so several overlap.
        read_connections=4,
        broken=lambda conn: bool(conn.closed or conn.broken),
    )
