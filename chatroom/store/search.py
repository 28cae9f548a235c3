"""Search: the messages a user may read that match a query, newest first.

Who may read what is decided in the statement, before any limit: every
public room with messages (as HTTP history allows them to anyone), and the
private and direct rooms among the user's rooms (user_rooms: joined and not
since left, kicked or banned) that they are not banned from. Deleted
messages are not in the index; edited ones are there with their current
text (search_index.py).

Bounded twice. Nothing reads every match of a common word: SQLite takes,
room by room, the newest `limit + 1` matches from its index (a room's
rowids run newest first); PostgreSQL reads every match from its GIN index
only when its planner expects at most GIN_MATCHES_MAX of them, and
otherwise takes, room by room, the newest `limit + 1` through the primary
key, testing each message's words. Within a room ids follow time, so the
newest `limit` of all rooms are always among those taken: the access rule
is applied first, and nothing is filtered after a limit. And the statement
stops after SEARCH_DEADLINE_S (SQLite's progress handler, PostgreSQL's
statement_timeout): words each common but rarely together walk much of
an index, and SQLite's one reader would make every other read wait
behind them. Such a search raises SearchTooCostly.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from chatroom.domain import HISTORY_PAGE_BYTES, MAX_ID, ChatMessage, encoded_size
from chatroom.domain.search import DEFAULT_SEARCH_LIMIT, SearchQuery
from chatroom.store.dialect import COLUMNS, Database, message_of
from chatroom.store.search_index import MAX_INDEXED_ID, ROOM_SHIFT

SEARCH_DEADLINE_S = 0.5
_PROGRESS_STEPS = 10_000  # SQLite virtual machine steps between looks at the clock
_QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for statement_timeout
# PostgreSQL: up to this many matches (as its planner estimates them), a
# search reads them all from the GIN index and sorts them; past it, rooms
# are read newest first through the primary key until each has enough.
# Words each in 2 % of 1,000,000 messages take about as long either way
# (bench/search.py). A phrase's estimate is that of its words anywhere in
# a message, often many times the messages where they stand together, which
# the rooms' reading would then go through for want of matches.
GIN_MATCHES_MAX = 20_000
GIN_PHRASE_MATCHES_MAX = 100_000


class SearchTooCostly(Exception):
    """The search would take longer than SEARCH_DEADLINE_S."""


TOO_COSTLY = "this search reads too much; add words, or name a room"


@attrs.frozen
class SearchResults:
    """Matches newest first (by ts, then id), and whether older ones exist."""

    messages: list[ChatMessage]
    more: bool


def fts5_match(query: SearchQuery) -> str:
    """`query` as an FTS5 MATCH expression: every term a quoted string (a
    word, or a phrase of words), all of them required. Quoted, nothing in
    it is FTS5 syntax."""
    quoted = ('"' + " ".join(words).replace('"', '""') + '"' for words in query.terms)
    return " AND ".join(quoted)


def tsquery(query: SearchQuery) -> tuple[str, list[str]]:
    """`query` as a PostgreSQL tsquery expression and its parameters: each
    term's words through phraseto_tsquery (which reads no operators), all
    of them required."""
    expression = " && ".join("phraseto_tsquery('simple', ?)" for _ in query.terms)
    return f"({expression})", [" ".join(words) for words in query.terms]


def search(
    db: Database,
    conn: Any,
    user: str,
    query: SearchQuery,
    *,
    room: str | None = None,
    before: int | None = None,
    limit: int = DEFAULT_SEARCH_LIMIT,
) -> SearchResults:
    """The newest messages matching `query` that `user` may read (in
    `room` only, if given; with ids below `before`, if given): at most
    `limit`, and HISTORY_PAGE_BYTES of them (at least one)."""
    if not query:
        return SearchResults([], False)
    before = MAX_ID if before is None else before
    if db.dialect == "sqlite":
        rows = _sqlite_rows(db, conn, user, query, room, before, limit + 1)
    else:
        rows = _postgresql_rows(db, conn, user, query, room, before, limit + 1)
    found: list[ChatMessage] = []
    size = 0
    for row in rows[:limit]:
        message = message_of(row)
        size += encoded_size(message)
        if found and size > HISTORY_PAGE_BYTES:
            return SearchResults(found, True)
        found.append(message)
    return SearchResults(found, len(rows) > limit)


def _readable(user: str, room: str | None, extra: str = "") -> tuple[str, list[Any]]:
    """The rooms `user` may read (only `room`, if given), as a SELECT of
    their names (and `extra` columns of room `r`), and its parameters."""
    only = "" if room is None else " AND r.key = lower(?)"
    params: list[Any] = [False] + ([] if room is None else [room])
    params += [user, True] + ([] if room is None else [room])
    sql = (
        f"SELECT r.name{extra} FROM rooms r WHERE r.private = ? AND r.last_id > 0{only} "
        f"UNION ALL SELECT r.name{extra} FROM user_rooms u JOIN rooms r ON r.key = u.room_key "
        f"WHERE u.user_key = lower(?) AND r.private = ? AND r.last_id > 0{only} "
        "AND NOT EXISTS (SELECT 1 FROM room_bans b "
        "WHERE b.room_key = r.key AND b.user_key = u.user_key)"
    )
    return sql, params


def _sqlite_rows(
    db: Database,
    conn: Any,
    user: str,
    query: SearchQuery,
    room: str | None,
    before: int,
    wanted: int,
) -> list[Any]:
    readable, params = _readable(user, room, f", r.search_key << {ROOM_SHIFT}")
    columns = ", ".join(f"m.{column.strip()}" for column in COLUMNS.split(","))
    statement = (
        f"WITH readable (name, base) AS ({readable}) "
        f"SELECT {columns} FROM readable JOIN messages m ON m.room = readable.name "
        f"WHERE m.id IN (SELECT {MAX_INDEXED_ID} - (rowid - readable.base) FROM message_search "
        "WHERE message_search MATCH ? AND rowid > readable.base + ? "
        f"AND rowid < readable.base + {1 << ROOM_SHIFT} ORDER BY rowid LIMIT ?) "
        "ORDER BY m.ts DESC, m.id DESC, m.room DESC LIMIT ?"
    )
    # (ids below `before`: rowids above the room's base plus this)
    ceiling = MAX_INDEXED_ID - min(before, MAX_INDEXED_ID + 1)
    params += [fts5_match(query), ceiling, wanted, wanted]
    deadline = time.monotonic() + SEARCH_DEADLINE_S
    stopped = False

    def past_deadline() -> bool:
        nonlocal stopped
        stopped = time.monotonic() > deadline
        return stopped

    conn.set_progress_handler(past_deadline, _PROGRESS_STEPS)
    try:
        rows: list[Any] = db.execute(conn, statement, params).fetchall()
    except db.unavailable:
        if stopped:  # (interrupted by the handler, not the database's fault)
            raise SearchTooCostly from None
        raise
    finally:
        conn.set_progress_handler(None, 0)
    return rows


def _postgresql_rows(
    db: Database,
    conn: Any,
    user: str,
    query: SearchQuery,
    room: str | None,
    before: int,
    wanted: int,
) -> list[Any]:
    readable, params = _readable(user, room)
    matches, terms = tsquery(query)
    db.execute(conn, "BEGIN")
    try:
        db.execute(conn, f"SET LOCAL statement_timeout = {int(SEARCH_DEADLINE_S * 1000)}")
        explain = f"EXPLAIN (FORMAT JSON) SELECT 1 FROM messages m WHERE m.search @@ {matches}"
        plan = db.execute(conn, explain, terms).fetchone()[0]
        phrase = any(len(words) > 1 for words in query.terms)
        if plan[0]["Plan"]["Plan Rows"] <= (GIN_PHRASE_MATCHES_MAX if phrase else GIN_MATCHES_MAX):
            # Every match, from the index at once; then who may read them.
            statement = (
                f"WITH readable (name) AS ({readable}) SELECT {COLUMNS} FROM messages m "
                f"WHERE m.search @@ {matches} AND m.room IN (SELECT name FROM readable) "
                "AND m.id < ? ORDER BY m.ts DESC, m.id DESC, m.room DESC LIMIT ?"
            )
            params += [*terms, before, wanted]
        else:
            # Room by room, newest first, each message's words tested (the
            # index, which knows no rooms, would give every match of all).
            statement = (
                f"WITH readable (name) AS ({readable}) "
                "SELECT found.* FROM readable CROSS JOIN LATERAL ("
                f"SELECT {COLUMNS} FROM messages m WHERE m.room = readable.name AND m.id < ? "
                f"AND COALESCE(m.search, ''::tsvector) @@ {matches} "
                "ORDER BY m.id DESC LIMIT ?) AS found "
                "ORDER BY found.ts DESC, found.id DESC, found.room DESC LIMIT ?"
            )
            params += [before, *terms, wanted, wanted]
        rows: list[Any] = db.execute(conn, statement, params).fetchall()
        db.execute(conn, "COMMIT")
    except Exception as exc:
        db.rollback(conn)
        if getattr(exc, "sqlstate", None) == _QUERY_CANCELED:
            raise SearchTooCostly from None
        raise
    return rows
