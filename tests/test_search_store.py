"""The search index in the store, on SQLite and PostgreSQL: an existing
database indexed by its migration, the index kept exact through edits,
deletes and removed rooms, and the deadline that bounds a search."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatroom.domain import ChatMessage
from chatroom.domain.search import parse_query
from chatroom.store import Database, open_database
from chatroom.store import messages as messages_db
from chatroom.store import rooms as rooms_db
from chatroom.store import search as search_db
from chatroom.store.migrations import migrate
from tests.postgres import PostgresServer

SEARCH_MIGRATION = 14


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Database, Any]]:
    """A database and a connection to it, not migrated yet."""
    if request.param == "sqlite":
        db = open_database(f"sqlite:///{tmp_path / 'chat.db'}")
    else:
        postgres: PostgresServer = request.getfixturevalue("postgres")
        db = open_database(postgres.new_database())
    conn = db.connect()
    yield db, conn
    conn.close()


def plan_for(db: Database, common: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `common`, PostgreSQL's plan for words in more messages than
    GIN_MATCHES_MAX (SQLite has one plan: the test is skipped there)."""
    if common:
        if db.dialect == "sqlite":
            pytest.skip("SQLite reads every query alike")
        monkeypatch.setattr(search_db, "GIN_MATCHES_MAX", -1)


def written(db: Database, conn: Any, command: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    db.begin(conn)
    result = command(db, conn, *args, **kw)
    db.execute(conn, "COMMIT")
    return result


def say(db: Database, conn: Any, room: str, text: str, ts: int = 1000) -> int:
    draft = ChatMessage(room=room, id=0, user="alice", text=text, ts=ts)
    saved = written(db, conn, messages_db.insert_messages, [draft])
    return int(saved[0].message.id)


def say_before_search(db: Database, conn: Any, room: str, text: str, ts: int) -> int:
    """A message stored in the columns of the schema before search."""
    db.begin(conn)
    message_id = int(
        db.execute(
            conn,
            "UPDATE rooms SET last_id = last_id + 1 WHERE key = lower(?) RETURNING last_id",
            (room,),
        ).fetchone()[0]
    )
    db.execute(
        conn,
        "INSERT INTO messages (room, id, author, body, ts) VALUES (?, ?, 'alice', ?, ?)",
        (room, message_id, text, ts),
    )
    db.execute(conn, "COMMIT")
    return message_id


def texts(db: Database, conn: Any, user: str, query: str, **options: Any) -> list[str]:
    found = search_db.search(db, conn, user, parse_query(query), **options)
    return [m.text for m in found.messages]


def check_index(db: Database, conn: Any) -> None:
    """SQLite: the index holds exactly what its content view says."""
    if db.dialect == "sqlite":
        db.execute(conn, "INSERT INTO message_search (message_search) VALUES ('integrity-check')")


def test_an_existing_database_is_indexed_by_its_migration(database: tuple[Database, Any]) -> None:
    db, conn = database
    migrate(db, conn, up_to=SEARCH_MIGRATION - 1)
    written(db, conn, rooms_db.make_room, "Old", "alice", private=False, topic="")
    written(db, conn, rooms_db.make_room, "Hush", "alice", private=True, topic="")
    written(db, conn, rooms_db.remember_room, "alice", "Hush", 100)
    say_before_search(db, conn, "Old", "ancient history", ts=1)
    gone = say_before_search(db, conn, "Old", "forgotten lore", ts=2)
    say_before_search(db, conn, "Hush", "ancient secret", ts=3)
    db.begin(conn)  # deleted, as the schema of then did it
    db.execute(
        conn,
        "UPDATE messages SET body = '', deleted_by = 'alice' WHERE room = 'Old' AND id = ?",
        (gone,),
    )
    db.execute(conn, "COMMIT")

    assert migrate(db, conn) == SEARCH_MIGRATION - 1
    assert texts(db, conn, "alice", "ancient") == ["ancient secret", "ancient history"]
    assert texts(db, conn, "bob", "ancient") == ["ancient history"]
    assert texts(db, conn, "alice", "lore") == []
    check_index(db, conn)
    # Rooms made from now on are numbered too, after the old ones.
    say(db, conn, "New", "ancient news", ts=4)
    assert texts(db, conn, "bob", "ancient") == ["ancient news", "ancient history"]
    check_index(db, conn)


@pytest.mark.parametrize("common", [False, True], ids=["rare", "common"])
def test_the_index_follows_every_change(
    database: tuple[Database, Any], common: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, conn = database
    plan_for(db, common, monkeypatch)
    migrate(db, conn)
    first = say(db, conn, "r1", "alpha beta", ts=1)
    say(db, conn, "r1", "beta gamma", ts=2)
    say(db, conn, "r2", "beta delta", ts=3)
    written(db, conn, messages_db.change_message, "r1", first, "alice", "alpha omega", False)
    written(db, conn, messages_db.change_message, "r1", first, "alice", "omega only", False)
    assert texts(db, conn, "u", "beta") == ["beta delta", "beta gamma"]
    assert texts(db, conn, "u", "omega") == ["omega only"]
    assert texts(db, conn, "u", "alpha") == []
    written(db, conn, messages_db.change_message, "r1", first, "alice", None, False)
    assert texts(db, conn, "u", "omega") == []
    check_index(db, conn)
    # Messages removed, and a room removed before its messages.
    db.begin(conn)
    db.execute(conn, "DELETE FROM messages WHERE room = ? AND id = 2", ("r1",))
    db.execute(conn, "DELETE FROM rooms WHERE key = ?", ("r2",))
    db.execute(conn, "COMMIT")
    check_index(db, conn)
    db.begin(conn)
    db.execute(conn, "DELETE FROM messages WHERE room = ?", ("r2",))
    db.execute(conn, "COMMIT")
    say(db, conn, "r3", "beta again", ts=4)  # may take r2's number
    assert texts(db, conn, "u", "beta") == ["beta again"]
    check_index(db, conn)


@pytest.mark.parametrize("common", [False, True], ids=["rare", "common"])
def test_who_finds_what_in_either_plan(
    database: tuple[Database, Any], common: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, conn = database
    plan_for(db, common, monkeypatch)
    migrate(db, conn)
    written(db, conn, rooms_db.make_room, "Hush", "alice", private=True, topic="")
    written(db, conn, rooms_db.remember_room, "alice", "Hush", 100)
    written(db, conn, rooms_db.remember_room, "bob", "Hush", 100)  # (refused: not invited)
    written(db, conn, rooms_db.make_room, "Banned", "alice", private=True, topic="")
    written(db, conn, rooms_db.remember_room, "alice", "Banned", 100)
    ids = [say(db, conn, "Open", f"word {n}", ts=n) for n in range(1, 6)]
    say(db, conn, "Hush", "word hushed", ts=10)
    say(db, conn, "Banned", "word banned", ts=11)
    written(db, conn, rooms_db.set_listed, rooms_db.RoomList.BANS, "Banned", "alice", "x", True)
    assert texts(db, conn, "alice", "word", limit=2) == ["word hushed", "word 5"]
    assert texts(db, conn, "bob", "word", limit=2) == ["word 5", "word 4"]
    found = search_db.search(db, conn, "alice", parse_query("word"), room="open", before=ids[3])
    assert ([m.id for m in found.messages], found.more) == ([3, 2, 1], False)
    found = search_db.search(db, conn, "alice", parse_query("word"), limit=6)
    assert (len(found.messages), found.more) == (6, False)
    found = search_db.search(db, conn, "alice", parse_query("word"), limit=5)
    assert (len(found.messages), found.more) == (5, True)
    assert texts(db, conn, "alice", "word", room="Hush") == ["word hushed"]
    assert texts(db, conn, "bob", "word", room="Hush") == []


def test_a_search_past_its_deadline_is_stopped(
    database: tuple[Database, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, conn = database
    migrate(db, conn)
    say(db, conn, "r1", "needle")
    if db.dialect == "sqlite":
        monkeypatch.setattr(search_db, "SEARCH_DEADLINE_S", -1.0)
        monkeypatch.setattr(search_db, "_PROGRESS_STEPS", 1)
        blocked: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    else:
        monkeypatch.setattr(search_db, "SEARCH_DEADLINE_S", 0.2)
        blocked = _messages_locked(db)
    with blocked, pytest.raises(search_db.SearchTooCostly):
        search_db.search(db, conn, "u", parse_query("needle"))
    # The connection serves on, without the deadline.
    monkeypatch.undo()
    assert texts(db, conn, "u", "needle") == ["needle"]


@contextlib.contextmanager
def _messages_locked(db: Database) -> Iterator[None]:
    """PostgreSQL: another transaction holds `messages` locked meanwhile."""
    other = db.connect()
    try:
        db.execute(other, "BEGIN")
        db.execute(other, "LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        yield
        db.execute(other, "ROLLBACK")
    finally:
        other.close()
