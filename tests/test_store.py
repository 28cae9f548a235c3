"""The store on both backends: the same suite against SQLite and a real PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from chatroom.protocol import ChatMessage
from chatroom.store import SchemaTooNew, Store, StoreUnavailable, open_database
from tests.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chat.db'}"
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return postgres.new_database()


async def open_store(nursery: trio.Nursery, url: str, *, group_commit: bool = True) -> Store:
    store = Store(open_database(url), group_commit=group_commit)
    await nursery.start(store.run)
    return store


@pytest.fixture
async def store(nursery: trio.Nursery, database_url: str) -> AsyncIterator[Store]:
    yield await open_store(nursery, database_url)


def message(room: str, id_: int, text: str = "hi") -> ChatMessage:
    return ChatMessage(room=room, id=id_, user="u", text=text, ts=1000 + id_)


async def test_history_pages_backwards_oldest_first(store: Store) -> None:
    await store.save_messages([message("r", i, f"text {i} ☃") for i in range(1, 121)])
    await store.save_messages([message("other", 1)])
    latest = await store.history("r", None, 50)
    assert [m.id for m in latest] == list(range(71, 121))
    assert latest[0].text == "text 71 ☃"
    page = await store.history("r", 71, 50)
    assert [m.id for m in page] == list(range(21, 71))
    assert [m.id for m in await store.history("r", 21, 50)] == list(range(1, 21))
    assert await store.history("r", 1, 50) == []
    assert await store.history("nobody", None, 50) == []


async def test_after_gives_the_latest_messages_past_an_id(store: Store) -> None:
    await store.save_messages([message("r", i) for i in range(1, 11)])
    assert [m.id for m in await store.after("r", 7, 100)] == [8, 9, 10]
    assert [m.id for m in await store.after("r", 0, 3)] == [8, 9, 10]
    assert await store.after("r", 10, 100) == []


async def test_last_id_per_room(store: Store) -> None:
    assert await store.last_id("r") == 0
    await store.save_messages([message("r", 1), message("r", 2), message("s", 9)])
    assert (await store.last_id("r"), await store.last_id("s")) == (2, 9)


async def test_users_are_unique(store: Store) -> None:
    assert await store.create_user("alice", "hash-1")
    assert not await store.create_user("alice", "hash-2")
    assert await store.password_hash("alice") == "hash-1"
    assert await store.password_hash("bob") is None


async def test_a_failing_write_fails_alone(store: Store) -> None:
    await store.save_messages([message("r", 1)])
    async with trio.open_nursery() as nursery:
        results: dict[str, object] = {}

        async def save(name: str, messages: list[ChatMessage]) -> None:
            try:
                await store.save_messages(messages)
                results[name] = "ok"
            except Exception as exc:
                results[name] = type(exc).__name__

        nursery.start_soon(save, "duplicate", [message("r", 1)])
        nursery.start_soon(save, "fresh", [message("r", 2)])
    assert results["fresh"] == "ok"
    assert results["duplicate"] != "ok"
    assert [m.id for m in await store.history("r", None, 10)] == [1, 2]


@pytest.mark.parametrize("group_commit", [True, False])
async def test_group_commit_puts_waiting_writes_in_one_transaction(
    nursery: trio.Nursery, database_url: str, group_commit: bool
) -> None:
    store = await open_store(nursery, database_url, group_commit=group_commit)
    async with trio.open_nursery() as writers:
        for i in range(1, 101):
            writers.start_soon(store.save_messages, [message("r", i)])
    assert [m.id for m in await store.history("r", None, 200)] == list(range(1, 101))
    if group_commit:
        assert store.transactions < 10
    else:
        assert store.transactions == 100


async def test_migrations_run_once_and_newer_schemas_are_refused(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    async with trio.open_nursery() as first:
        await open_store(first, url)
        first.cancel_scope.cancel()
    async with trio.open_nursery() as second:
        await open_store(second, url)
        second.cancel_scope.cancel()
    with sqlite3.connect(tmp_path / "chat.db") as conn:
        assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [(1,)]
        conn.execute("INSERT INTO schema_migrations VALUES (99, 0)")
    with pytest.RaisesGroup(pytest.RaisesExc(SchemaTooNew, match="schema version 99")):
        async with trio.open_nursery() as third:
            await open_store(third, url)


async def test_postgres_going_away_and_coming_back(nursery: trio.Nursery) -> None:
    server = PostgresServer.create()
    try:
        store = await open_store(nursery, server.new_database())
        await store.save_messages([message("r", 1)])
        await trio.to_thread.run_sync(server.stop)
        with pytest.raises(StoreUnavailable):
            await store.save_messages([message("r", 2)])
        with pytest.raises(StoreUnavailable):
            await store.history("r", None, 10)
        await trio.to_thread.run_sync(server.start)
        await store.save_messages([message("r", 3)])
        assert [m.id for m in await store.history("r", None, 10)] == [1, 3]
    finally:
        await trio.to_thread.run_sync(server.destroy)
