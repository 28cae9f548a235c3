from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from chatroom.app import build_server
from chatroom.auth import TokenSigner
from chatroom.config import Settings
from chatroom.front import ChatServer
from chatroom.store import Store, open_database
from tests.blackbox import RunningServer, start_server, stop_server
from tests.postgres import PostgresServer
from tests.redis import RedisServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run; each test takes a new database."""
    server = PostgresServer.create()
    yield server
    server.destroy()


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own (tests stop and restart it)."""
    server = RedisServer.create()
    yield server
    server.destroy()


@pytest.fixture
async def sqlite_store(nursery: trio.Nursery, tmp_path: Path) -> Store:
    """A real store on a fresh SQLite database, running in the test's nursery."""
    store = Store(open_database(f"sqlite:///{tmp_path / 'chat.db'}"))
    await nursery.start(store.run)
    return store


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """`python -m chatroom` on its defaults in a fresh data dir; must stop cleanly."""
    running = start_server(tmp_path / "data")
    yield running
    assert stop_server(running) == 0, "".join(running.log[-40:])


# For tests that send faster than the protocol promises to allow.
UNLIMITED_RATES = ("--send-rate", "1000000", "--frame-rate", "1000000")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> list[str]:
    """The `--database` of a fresh database of each kind ([]: SQLite in the data dir)."""
    if request.param == "postgresql":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        return ["--database", postgres.new_database()]
    return []


@pytest.fixture
def server_on_each_database(database: list[str], tmp_path: Path) -> Iterator[RunningServer]:
    """A server on each database, without the frame rates in the way."""
    running = start_server(tmp_path / "data", *UNLIMITED_RATES, *database)
    yield running
    assert stop_server(running) == 0, "".join(running.log[-40:])


@pytest.fixture
def fast_server(tmp_path: Path) -> Iterator[RunningServer]:
    """Like `server`, with the per-connection rate limits out of the way."""
    running = start_server(tmp_path / "data", *UNLIMITED_RATES)
    yield running
    assert stop_server(running) == 0, "".join(running.log[-40:])


SIGNER = TokenSigner(b"connection-test-secret".ljust(32, b"."))


@pytest.fixture
def make_server(nursery: trio.Nursery, sqlite_store: Store) -> Callable[..., ChatServer]:
    def make(**settings: Any) -> ChatServer:
        parts = build_server(
            nursery, settings=Settings(**settings), signer=SIGNER, store=sqlite_store
        )
        return parts.front

    return make


Cluster = Callable[..., list[RunningServer]]


@pytest.fixture
def cluster(tmp_path: Path, redis: RedisServer) -> Iterator[Cluster]:
    """start(count, *args): that many more nodes on the test's Redis and one
    SQLite database (a shared data dir); each must stop with 0 unless killed."""
    nodes: list[RunningServer] = []

    def start(count: int, *args: str, broker: str | None = None) -> list[RunningServer]:
        new = [
            start_server(
                tmp_path / "data", "--broker", broker or redis.url, *UNLIMITED_RATES, *args
            )
            for _ in range(count)
        ]
        nodes.extend(new)
        return new

    yield start
    codes = [stop_server(node) for node in nodes if node.process.poll() is None]
    assert codes == [0] * len(codes)
