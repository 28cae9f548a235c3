"""Servers started together on a new database (compose.cluster.yaml does it):
one migrates, the others wait for it and find the schema current."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chatroom.store import open_database
from chatroom.store.migrations import migrate
from chatroom.store.schema import CREATE_VERSION_TABLE, SCHEMA_VERSION
from tests.blackbox import (
    RunningServer,
    hello,
    receive_until,
    said,
    send,
    start_server,
    stop_server,
)
from tests.postgres import PostgresServer

ROUNDS = 3  # each on a fresh database: one round alone may miss the race


@contextlib.contextmanager
def started_together(count: int, data_dir: Path, *args: str) -> Iterator[list[RunningServer]]:
    """`count` servers started at the same moment, all stopped at the end."""
    with ThreadPoolExecutor(count) as pool:
        starting = [pool.submit(start_server, data_dir, *args) for _ in range(count)]
    started = [f.result() for f in starting if f.exception() is None]
    try:
        for future in starting:
            future.result()  # the first failure, with the server's log
        yield started
    finally:
        assert [stop_server(server) for server in started] == [0] * len(started)


def test_two_servers_started_together_on_a_new_postgresql_database_both_serve(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    for round_ in range(ROUNDS):
        database = postgres.new_database()
        with started_together(2, tmp_path / f"data{round_}", "--database", database) as servers:
            for n, server in enumerate(servers):
                ws = hello(server, f"user{n}")
                send(ws, type="join", room=f"room{n}")
                receive_until(ws, "joined")
                assert said(ws, f"room{n}", "hi") == 1
                ws.close()


def test_servers_that_wait_for_a_migrating_one_on_sqlite_find_the_schema_current(
    tmp_path: Path,
) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'chat.db'}")
    first = database.connect()
    # Another server has just begun: it made the version table and is
    # migrating, holding SQLite's write lock.
    first.execute(CREATE_VERSION_TABLE)
    first.execute("BEGIN IMMEDIATE")
    errors: list[BaseException] = []

    def start() -> None:
        conn = database.connect()
        try:
            migrate(database, conn)
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    starting = [threading.Thread(target=start) for _ in range(2)]
    for thread in starting:
        thread.start()
    time.sleep(0.5)  # both are waiting for the lock
    first.execute("COMMIT")
    for thread in starting:
        thread.join()
    assert errors == []
    versions = [row[0] for row in first.execute("SELECT version FROM schema_migrations")]
    first.close()
    assert sorted(versions) == list(range(1, SCHEMA_VERSION + 1))
