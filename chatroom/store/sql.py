"""Blocking SQL over one DB-API connection, for SQLite and PostgreSQL alike.

Everything here runs in a worker thread (see store.py): nothing awaits.
Statements are written with `?` placeholders; PostgreSQL gets `%s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from chatroom.protocol import ChatMessage
from chatroom.store.schema import (
    CREATE_VERSION_TABLE,
    SCHEMA_VERSION,
    Dialect,
    migrations_after,
)

_COLUMNS = "room, id, author, body, ts"


class SchemaTooNew(Exception):
    """The database was written by a newer chatroom; refuse to touch it."""


@attrs.define(eq=False)
class Job:
    """One unit of work in a write transaction; `error` if it failed alone."""

    run: Callable[[Any], object]
    result: object = None
    error: BaseException | None = None


def _message(row: Sequence[Any]) -> ChatMessage:
    room, id_, author, body, ts = row
    return ChatMessage(room=room, id=int(id_), user=author, text=body, ts=int(ts))


@attrs.frozen
class Database:
    """How to connect, and the SQL chatroom runs, in one dialect."""

    dialect: Dialect
    connect: Callable[[], Any]
    # Exceptions that mean "the database cannot be reached or used now".
    unavailable: tuple[type[BaseException], ...]
    description: str

    def _sql(self, statement: str) -> str:
        return statement if self.dialect == "sqlite" else statement.replace("?", "%s")

    def _execute(self, conn: Any, statement: str, params: Sequence[Any] = ()) -> Any:
        cursor = conn.cursor()
        cursor.execute(self._sql(statement), params)
        return cursor

    def _begin(self, conn: Any) -> None:
        # IMMEDIATE takes SQLite's write lock up front instead of failing to
        # upgrade a read lock half-way through.
        self._execute(conn, "BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")

    def migrate(self, conn: Any) -> int:
        """Bring the schema up to date; return the version it had."""
        self._execute(conn, CREATE_VERSION_TABLE)
        row = self._execute(conn, "SELECT MAX(version) FROM schema_migrations").fetchone()
        found = int(row[0]) if row and row[0] is not None else 0
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{self.description} has schema version {found}, newer than this chatroom "
                f"understands ({SCHEMA_VERSION}); run a newer chatroom or another database"
            )
        for version, statements in migrations_after(found, self.dialect):
            self._begin(conn)
            try:
                for statement in statements:
                    self._execute(conn, statement)
                self._execute(
                    conn,
                    "INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)",
                    (version, time.time_ns() // 1_000_000),
                )
                self._execute(conn, "COMMIT")
            except BaseException:
                self._rollback(conn)
                raise
        return found

    def _rollback(self, conn: Any) -> None:
        try:
            self._execute(conn, "ROLLBACK")
        except Exception:  # the connection may be gone; it is discarded anyway
            pass

    def run_jobs(self, conn: Any, jobs: list[Job]) -> None:
        """Run `jobs` in one transaction; a job that fails alone is rolled back alone.

        An `unavailable` error aborts the whole transaction and propagates.
        """
        self._begin(conn)
        try:
            for job in jobs:
                self._execute(conn, "SAVEPOINT job")
                try:
                    job.result = job.run(conn)
                except self.unavailable:
                    raise
                except Exception as exc:
                    self._execute(conn, "ROLLBACK TO SAVEPOINT job")
                    job.error = exc
                self._execute(conn, "RELEASE SAVEPOINT job")
            self._execute(conn, "COMMIT")
        except BaseException:
            self._rollback(conn)
            raise

    # -- messages -------------------------------------------------------------

    def insert_messages(self, conn: Any, messages: Sequence[ChatMessage]) -> None:
        cursor = conn.cursor()
        cursor.executemany(
            self._sql(f"INSERT INTO messages ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)"),
            [(m.room, m.id, m.user, m.text, m.ts) for m in messages],
        )

    def last_id(self, conn: Any, room: str) -> int:
        row = self._execute(
            conn, "SELECT COALESCE(MAX(id), 0) FROM messages WHERE room = ?", (room,)
        ).fetchone()
        return int(row[0])

    def history(self, conn: Any, room: str, before: int | None, limit: int) -> list[ChatMessage]:
        """At most `limit` messages just before `before` (or the latest), oldest first."""
        if before is None:
            rows = self._execute(
                conn,
                f"SELECT {_COLUMNS} FROM messages WHERE room = ? ORDER BY id DESC LIMIT ?",
                (room, limit),
            ).fetchall()
        else:
            rows = self._execute(
                conn,
                f"SELECT {_COLUMNS} FROM messages WHERE room = ? AND id < ? "
                "ORDER BY id DESC LIMIT ?",
                (room, before, limit),
            ).fetchall()
        return [_message(row) for row in reversed(rows)]

    def after(self, conn: Any, room: str, since: int, limit: int) -> list[ChatMessage]:
        """The latest `limit` messages with ids above `since`, oldest first."""
        rows = self._execute(
            conn,
            f"SELECT {_COLUMNS} FROM messages WHERE room = ? AND id > ? ORDER BY id DESC LIMIT ?",
            (room, since, limit),
        ).fetchall()
        return [_message(row) for row in reversed(rows)]

    # -- users ------------------------------------------------------------------

    def create_user(self, conn: Any, name: str, password_hash: str) -> bool:
        """False if the name is taken."""
        cursor = self._execute(
            conn,
            "INSERT INTO users (name, password_hash, created_ms) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (name, password_hash, time.time_ns() // 1_000_000),
        )
        return bool(cursor.rowcount == 1)

    def password_hash(self, conn: Any, name: str) -> str | None:
        row = self._execute(
            conn, "SELECT password_hash FROM users WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else str(row[0])
