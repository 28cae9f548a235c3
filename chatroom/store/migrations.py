"""Bringing the schema up to date (see schema.py), one migration per
transaction, under a lock that servers starting together take in turn."""

from __future__ import annotations

from typing import Any

from chatroom.store.dialect import Database, now_ms
from chatroom.store.schema import (
    CREATE_VERSION_TABLE,
    NAMES_FOLDED_FROM,
    SCHEMA_VERSION,
    migrations_after,
)

# The PostgreSQL advisory lock that migrations hold: any number, the same in
# every chatroom ("chatroom" in ASCII).
MIGRATION_LOCK = 0x63686174726F6F6D


class SchemaTooNew(Exception):
    """The database was written by a newer chatroom; refuse to touch it."""


class NameClash(Exception):
    """Names that differ only by case, which the schema cannot take in."""


def migrate(db: Database, conn: Any, up_to: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to date (or to version `up_to`, as tests and
    benchmarks of a migration start from); return the version it had.

    Each migration is a transaction that reads the version under a lock,
    so servers starting together on a new database take turns: those that
    waited find the migrations done and go on.
    """
    found = None
    while True:
        db.begin(conn)
        try:
            if db.dialect == "postgresql":
                # SQLite's BEGIN IMMEDIATE is lock enough; PostgreSQL would
                # let two servers read version 0 and both create tables.
                db.execute(conn, "SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            db.execute(conn, CREATE_VERSION_TABLE)
            row = db.execute(conn, "SELECT MAX(version) FROM schema_migrations").fetchone()
            version = int(row[0]) if row and row[0] is not None else 0
            found = version if found is None else found
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{db.description} has schema version {version}, newer than this "
                    f"chatroom understands ({SCHEMA_VERSION}); run a newer chatroom or "
                    "another database"
                )
            pending = [m for m in migrations_after(version, db.dialect) if m[0] <= up_to]
            if pending:
                _apply(db, conn, *pending[0])
            db.execute(conn, "COMMIT")
        except BaseException:
            db.rollback(conn)
            raise
        if not pending:
            return found


def _apply(db: Database, conn: Any, version: int, statements: list[str]) -> None:
    if version == NAMES_FOLDED_FROM:
        _refuse_name_clashes(db, conn)
    for statement in statements:
        db.execute(conn, statement)
    db.execute(
        conn,
        "INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)",
        (version, now_ms()),
    )


def _refuse_name_clashes(db: Database, conn: Any) -> None:
    clashes = []
    for what, query in (
        ("users", "SELECT name FROM users"),
        ("rooms", "SELECT DISTINCT room FROM messages"),
    ):
        by_key: dict[str, list[str]] = {}
        for (name,) in db.execute(conn, query).fetchall():
            by_key.setdefault(name.lower(), []).append(name)
        clashes += [
            f"{what} {' and '.join(map(repr, sorted(names)))}"
            for names in by_key.values()
            if len(names) > 1
        ]
    if clashes:
        raise NameClash(
            f"{db.description} holds names that differ only by case, which this "
            f"chatroom treats as one: {'; '.join(clashes)}. Rename or remove all but one "
            "of each (users in table users, rooms in table messages), then start again."
        )
