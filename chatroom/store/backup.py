"""A consistent copy of a running server's SQLite database.

SQLite's online backup API copies every page inside one read transaction:
in WAL mode, writers go on meanwhile and the copy is the database as it was
when the copy began. The copy is written next to its target and renamed
into place, so a half-written file never has the target's name. PostgreSQL
has its own tool for this (pg_dump).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from chatroom.store.backends import SQLITE_PREFIX


class BackupError(Exception):
    """Why no backup was written, safe to show: the source or the target is not
    what it must be, and nothing was tried."""


class BackupFailed(BackupError):
    """The copy was tried and failed."""


def backup_database(url: str, target: Path) -> int:
    """Copy the SQLite database at `url` to `target`; the pages copied."""
    if not url.startswith(SQLITE_PREFIX):
        raise BackupError(
            "only SQLite databases are backed up by chatroom; for PostgreSQL use pg_dump "
            "(for example: pg_dump --format=custom --file=chatroom.dump DATABASE_URL)"
        )
    source = Path(url.removeprefix(SQLITE_PREFIX))
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if target.exists():
        raise BackupError(f"{target} exists; give a new file name")
    partial = target.with_name(target.name + ".partial")
    try:
        partial.unlink(missing_ok=True)
        partial.touch(exist_ok=False)
    except OSError as exc:
        # Found here, it would read as the source's fault ("unable to open
        # database file") once SQLite met it.
        raise BackupError(f"cannot write {target}: {exc.strerror}") from exc
    pages = 0

    def progress(_status: int, remaining: int, total: int) -> None:
        nonlocal pages
        pages = total - remaining

    try:
        with (
            contextlib.closing(sqlite3.connect(source, timeout=30)) as database,
            contextlib.closing(sqlite3.connect(partial)) as copy,
        ):
            database.backup(copy, progress=progress)
        partial.rename(target)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupFailed(f"copying {source} to {target} failed: {exc}") from exc
    return pages
