"""What every query shares: the database (how to connect, its dialect) and
blocking SQL over one DB-API connection, for SQLite and PostgreSQL alike.

Everything here and in the query modules (messages, users, rooms, markers,
tokens, migrations) runs in a worker thread (see engine.py): nothing awaits.
Statements are written with `?` placeholders; PostgreSQL gets `%s`. A query
is a plain function of the database, a connection, and its arguments.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from chatroom.domain import ChatMessage
from chatroom.domain.files import FileInfo, files_of
from chatroom.domain.reactions import reactions_of, stored_reactions
from chatroom.store.schema import Dialect

# A message's columns, in the order _row and message_of take them.
COLUMNS = (
    "room, id, author, body, ts, cid, edited_ms, deleted_by, bot, files, "
    "reply_to, mentions, reactions, change_seq"
)
IN_CHUNK = 500  # values per IN (...) query (SQLite allows 32,766 parameters)


@attrs.frozen
class Database:
    """How to connect, and how to run SQL, in one dialect."""

    dialect: Dialect
    connect: Callable[[], Any]
    # Exceptions that mean "the database cannot be reached or used now".
    unavailable: tuple[type[BaseException], ...]
    description: str
    # Reads at once, each on its connection in a worker thread.
    read_connections: int
    # Whether a connection is gone (closed by the server, say), not just a
    # query failed on it.
    broken: Callable[[Any], bool]

    def sql(self, statement: str) -> str:
        return statement if self.dialect == "sqlite" else statement.replace("?", "%s")

    def execute(self, conn: Any, statement: str, params: Sequence[Any] = ()) -> Any:
        cursor = conn.cursor()
        cursor.execute(self.sql(statement), params)
        return cursor

    def begin(self, conn: Any) -> None:
        # IMMEDIATE takes SQLite's write lock up front instead of failing to
        # upgrade a read lock half-way through.
        self.execute(conn, "BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")

    def rollback(self, conn: Any) -> None:
        try:
            self.execute(conn, "ROLLBACK")
        except Exception:  # the connection may be gone; it is discarded anyway
            pass

    def select_in(self, conn: Any, query: str, values: Sequence[str]) -> list[Any]:
        """The rows of `query` + " IN (values)", a chunk of values at a time."""
        rows: list[Any] = []
        for start in range(0, len(values), IN_CHUNK):
            chunk = values[start : start + IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows += self.execute(conn, f"{query} IN ({marks})", chunk).fetchall()
        return rows


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def message_row(m: ChatMessage) -> tuple[Any, ...]:
    """`m` as the values of COLUMNS."""
    files = files_json(m.files)
    mentions = _json(list(m.mentions)) if m.mentions else None
    return (
        *(m.room, m.id, m.user, m.text, m.ts, m.cid, m.edited, m.deleted_by, m.bot, files),
        *(m.reply_to, mentions, stored_reactions(m.reactions), m.version),
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def files_json(files: Sequence[FileInfo]) -> str | None:
    """A message's files as its `files` column holds them (None: none)."""
    if not files:
        return None
    return _json([f.as_json() for f in files])


def message_of(row: Sequence[Any]) -> ChatMessage:
    """The message in a row of COLUMNS."""
    room, id_, author, body, ts, cid, edited, deleted_by, bot, files = row[:10]
    reply_to, mentions, reactions, version = row[10:]
    return ChatMessage(
        room=room,
        id=int(id_),
        user=author,
        text=body,
        ts=int(ts),
        cid=cid,
        edited=None if edited is None else int(edited),
        deleted_by=deleted_by,
        bot=bool(bot),
        files=() if files is None else files_of(json.loads(files)),
        reply_to=None if reply_to is None else int(reply_to),
        mentions=() if mentions is None else tuple(json.loads(mentions)),
        reactions=None if reactions is None else reactions_of(json.loads(reactions)),
        version=int(version),
    )
