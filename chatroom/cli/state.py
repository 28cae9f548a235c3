"""What the commands open: the token secret and the database."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import trio

from chatroom.auth import TokenSigner, load_secret
from chatroom.store import (
    NameClash,
    SchemaTooNew,
    Store,
    StoreUnavailable,
    default_database_url,
    open_database,
)
from chatroom.store.backends import redacted_url

# What opening a database and migrating it raise when it cannot be used: a
# bad URL, a server that refuses or is not there, a file that cannot be
# made, a schema this chatroom cannot take.
OPEN_ERRORS = (
    StoreUnavailable, SchemaTooNew, NameClash, ValueError, OSError, psycopg.Error, sqlite3.Error,
)  # fmt: skip
# Where libpq says it failed, before why: the URL shown says where already.
LIBPQ_WHERE = re.compile(r"^(connection failed: )?(connection to server .*? failed: )?(FATAL: +)?")


def signer(data_dir: Path) -> TokenSigner:
    return TokenSigner(load_secret(data_dir, os.environ.get("CHATROOM_SECRET")))


def database_url(url: str | None, data_dir: Path) -> str:
    """`url`, or else the SQLite database in `data_dir`."""
    return url or default_database_url(data_dir)


def database_failure(url: str) -> str:
    """Why the database at `url` cannot be used, in one line; "" once it is
    open and its schema current."""
    error: BaseException | None = None
    try:
        trio.run(_migrate, url)
    except* OPEN_ERRORS as group:
        error = group
        while isinstance(error, BaseExceptionGroup):
            error = error.exceptions[0]
    if error is None:
        return ""
    lines = str(error).strip().splitlines()
    reason = LIBPQ_WHERE.sub("", lines[0]) if lines else type(error).__name__
    return f"cannot open database {redacted_url(url)}: {reason}"


async def _migrate(url: str) -> None:
    async with running_store(url):
        pass


@contextlib.asynccontextmanager
async def running_store(url: str) -> AsyncIterator[Store]:
    """A store, migrated and running until the block ends."""
    store = Store(open_database(url))
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        try:
            yield store
        finally:
            nursery.cancel_scope.cancel()
