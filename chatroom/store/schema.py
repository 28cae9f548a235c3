"""The database schema, as forward migrations, for both SQL dialects."""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]

# Each version's statements, applied in order in one transaction. A new
# version is appended; released ones never change.
_MIGRATIONS: dict[int, dict[Dialect, list[str]]] = {
    1: {
        "sqlite": [
            """CREATE TABLE users (
                name TEXT PRIMARY KEY,
                password_hash TEXT NOT NULL,
                created_ms INTEGER NOT NULL
            ) WITHOUT ROWID""",
            """CREATE TABLE messages (
                room TEXT NOT NULL,
                id INTEGER NOT NULL,
                author TEXT NOT NULL,
                body TEXT NOT NULL,
                ts INTEGER NOT NULL,
                PRIMARY KEY (room, id)
            ) WITHOUT ROWID""",
        ],
        "postgresql": [
            """CREATE TABLE users (
                name TEXT PRIMARY KEY,
                password_hash TEXT NOT NULL,
                created_ms BIGINT NOT NULL
            )""",
            """CREATE TABLE messages (
                room TEXT NOT NULL,
                id BIGINT NOT NULL,
                author TEXT NOT NULL,
                body TEXT NOT NULL,
                ts BIGINT NOT NULL,
                PRIMARY KEY (room, id)
            )""",
        ],
    },
}

SCHEMA_VERSION = max(_MIGRATIONS)

CREATE_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_ms BIGINT NOT NULL
)"""


def migrations_after(version: int, dialect: Dialect) -> list[tuple[int, list[str]]]:
    """The migrations a database at `version` still needs, oldest first."""
    return [(v, _MIGRATIONS[v][dialect]) for v in sorted(_MIGRATIONS) if v > version]
