"""The store on both backends: the same suite against SQLite and a real PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trio

from chatroom.domain import ChatMessage
from chatroom.domain.rules import RoomRules
from chatroom.store import (
    Invitation,
    NameClash,
    RoomList,
    Saved,
    SavedRoom,
    SchemaTooNew,
    SessionStart,
    Store,
    StoreUnavailable,
    UserView,
    open_database,
)
from chatroom.store import markers as markers_db
from chatroom.store import messages as messages_db
from chatroom.store import rooms as rooms_db
from chatroom.store import tokens as tokens_db
from chatroom.store import users as users_db
from chatroom.store.schema import CREATE_VERSION_TABLE, SCHEMA_VERSION, migrations_after
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


async def start_session(store: Store, user: str, token_id: str | None) -> SessionStart:
    """As a hello reads it: with the read markers not written yet."""
    unwritten = store.read_markers.unwritten(user)
    return await store.read(users_db.start_session, user, token_id, unwritten)


async def user_view(store: Store, user: str) -> UserView:
    """As a listing reads it: with the read markers not written yet."""
    return await store.read(markers_db.user_view, user, store.read_markers.unwritten(user))


async def test_history_pages_backwards_oldest_first(store: Store) -> None:
    await store.write(
        messages_db.insert_messages, [message("r", i, f"text {i} ☃") for i in range(1, 121)]
    )
    await store.write(messages_db.insert_messages, [message("other", 1)])
    latest = await store.read(messages_db.history, "r", None, 50)
    assert [m.id for m in latest] == list(range(71, 121))
    assert latest[0].text == "text 71 ☃"
    page = await store.read(messages_db.history, "r", 71, 50)
    assert [m.id for m in page] == list(range(21, 71))
    assert [m.id for m in await store.read(messages_db.history, "r", 21, 50)] == list(range(1, 21))
    assert await store.read(messages_db.history, "r", 1, 50) == []
    assert await store.read(messages_db.history, "nobody", None, 50) == []


async def test_pages_hold_the_newest_in_a_range_bounded_in_count_and_bytes(
    store: Store,
) -> None:
    await store.write(messages_db.insert_messages, [message("r", i) for i in range(1, 121)])
    page = await store.read(messages_db.history_page, "r", None, 200, after=7)
    assert ([m.id for m in page.messages], page.more) == (list(range(8, 121)), False)
    page = await store.read(messages_db.history_page, "r", None, 3)
    assert ([m.id for m in page.messages], page.more) == ([118, 119, 120], True)
    page = await store.read(messages_db.history_page, "r", 60, 50, after=9)
    assert ([m.id for m in page.messages], page.more) == (list(range(10, 60)), False)
    assert (await store.read(messages_db.history_page, "r", None, 100, after=120)).messages == []
    await store.write(
        messages_db.insert_messages, [message("big", i, "字" * 4000) for i in range(1, 101)]
    )
    page = await store.read(messages_db.history_page, "big", None, 100, after=0)
    assert page.more and 15 < len(page.messages) < 30  # 256 KiB of 12 KB messages


async def test_last_id_per_room(store: Store) -> None:
    assert await store.read(messages_db.last_id, "r") == 0
    saved = await store.write(messages_db.insert_messages, [message("r", 0), message("r", 0)])
    assert [s.message.id for s in saved] == [1, 2]  # the store numbers a room's messages
    await store.write(messages_db.insert_messages, [message("s", 0)])
    assert (
        await store.read(messages_db.last_id, "r"),
        await store.read(messages_db.last_id, "s"),
    ) == (2, 1)


async def test_two_stores_on_one_database_number_a_room_as_one(
    nursery: trio.Nursery, database_url: str
) -> None:
    first, second = [await open_store(nursery, database_url) for _ in range(2)]

    async def write(store: Store, n: int) -> None:
        for i in range(20):
            await store.write(messages_db.insert_messages, [message("shared", 0, f"{n}-{i}")])

    async with trio.open_nursery() as writers:
        writers.start_soon(write, first, 1)
        writers.start_soon(write, second, 2)
    stored = await first.read(messages_db.history, "shared", None, 100)
    assert [m.id for m in stored] == list(range(1, 41))


async def test_users_are_unique_without_regard_to_case(store: Store) -> None:
    assert await store.write(users_db.create_user, "Alice", "hash-1")
    assert not await store.write(users_db.create_user, "alice", "hash-2")
    assert not await store.write(users_db.create_user, "ALICE", "hash-3")
    assert await store.read(users_db.password_hash, "aLiCe") == ("Alice", "hash-1")
    assert await store.read(users_db.password_hash, "bob") is None


async def test_a_failing_write_fails_alone(store: Store) -> None:
    await store.write(messages_db.insert_messages, [message("r", 1)])
    async with trio.open_nursery() as nursery:
        results: dict[str, object] = {}

        async def save(name: str, messages: list[ChatMessage]) -> None:
            try:
                await store.write(messages_db.insert_messages, messages)
                results[name] = "ok"
            except Exception as exc:
                results[name] = type(exc).__name__

        # A room with no name breaks a NOT NULL constraint: that write alone fails.
        nursery.start_soon(save, "broken", [message(None, 0)])  # type: ignore[arg-type]
        nursery.start_soon(save, "fresh", [message("r", 0)])
    assert results["fresh"] == "ok"
    assert results["broken"] != "ok"
    assert [m.id for m in await store.read(messages_db.history, "r", None, 10)] == [1, 2]


@pytest.mark.parametrize("group_commit", [True, False])
async def test_group_commit_puts_waiting_writes_in_one_transaction(
    nursery: trio.Nursery, database_url: str, group_commit: bool
) -> None:
    store = await open_store(nursery, database_url, group_commit=group_commit)
    async with trio.open_nursery() as writers:
        for i in range(1, 101):
            writers.start_soon(store.write, messages_db.insert_messages, [message("r", i)])
    assert [m.id for m in await store.read(messages_db.history, "r", None, 200)] == list(
        range(1, 101)
    )
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
        versions = conn.execute("SELECT version FROM schema_migrations").fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        conn.execute("INSERT INTO schema_migrations VALUES (99, 0)")
    with pytest.RaisesGroup(pytest.RaisesExc(SchemaTooNew, match="schema version 99")):
        async with trio.open_nursery() as third:
            await open_store(third, url)


def version_1_database(path: Path, users: list[str], rooms: list[str]) -> None:
    """A database as chatroom 0.1 (schema 1) left it."""
    with sqlite3.connect(path) as conn:
        conn.execute(CREATE_VERSION_TABLE)
        for statement in migrations_after(0, "sqlite")[0][1]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (1, 0)")
        conn.executemany("INSERT INTO users VALUES (?, 'hash', 0)", [(u,) for u in users])
        conn.executemany(
            "INSERT INTO messages VALUES (?, 1, 'someone', 'hi', 0)", [(r,) for r in rooms]
        )


async def test_an_old_database_with_names_that_clash_by_case_is_refused_by_name(
    tmp_path: Path,
) -> None:
    version_1_database(tmp_path / "chat.db", ["alice", "ALICE", "bob"], ["General", "general", "x"])
    message = (
        "names that differ only by case.*users 'ALICE' and 'alice'; rooms 'General' and 'general'"
    )
    with pytest.RaisesGroup(pytest.RaisesExc(NameClash, match=message)):
        async with trio.open_nursery() as nursery:
            await open_store(nursery, f"sqlite:///{tmp_path / 'chat.db'}")
    with sqlite3.connect(tmp_path / "chat.db") as conn:  # left as it was
        assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone() == (1,)


async def test_an_old_database_gets_its_rooms_with_their_spelling(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    version_1_database(tmp_path / "chat.db", ["alice"], ["General", "dev"])
    store = await open_store(nursery, f"sqlite:///{tmp_path / 'chat.db'}")
    rooms = sorted((r.name, r.has_history, r.private) for r in await store.read(rooms_db.all_rooms))
    assert rooms == [("General", True, False), ("dev", True, False)]
    assert await store.write(rooms_db.create_room, "GENERAL") == "General"
    assert not await store.write(users_db.create_user, "Alice", "hash")
    # Rooms from before owners: public, owned by their first message's author.
    settings = await store.read(rooms_db.room_settings, "general")
    assert settings is not None
    assert (settings.owner, settings.topic, settings.rules) == (
        "someone",
        "",
        RoomRules(private=False, owner="someone"),
    )


async def test_names_known_before_schema_10_cannot_be_registered(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    path = tmp_path / "chat.db"
    with sqlite3.connect(path) as conn:  # a database as chatroom 0.5 left it
        conn.execute(CREATE_VERSION_TABLE)
        for version, statements in migrations_after(0, "sqlite"):
            if version < 10:
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (version,))
        conn.execute(
            "INSERT INTO rooms (key, name, created_ms, owner) VALUES ('p', 'p', 1, 'Owen')"
        )
        conn.execute("INSERT INTO user_rooms VALUES ('mia', 'p', 1, 0, NULL)")
        for user in ("ivy", "mia"):
            conn.execute("INSERT INTO room_invitations VALUES ('p', ?, ?, 'Owen', 1)", (user, user))
    store = await open_store(nursery, f"sqlite:///{path}")
    for taken in ("OWEN", "Mia", "ivy"):
        assert not await store.write(users_db.create_user, taken, "hash")
    assert await store.write(users_db.create_user, "newcomer", "hash")
    # An invitation its user had acted on (mia is in the room) is not pending.
    assert (await start_session(store, "ivy", None)).invitations == [Invitation("p", "Owen")]
    assert (await start_session(store, "mia", None)).invitations == []


async def test_a_users_rooms_and_what_is_unread_there(store: Store) -> None:
    await store.write(rooms_db.create_room, "Lobby")
    await store.write(messages_db.insert_messages, [message("Lobby", 1), message("Lobby", 2)])

    async def remember(user: str, room: str) -> str:
        return await store.write(rooms_db.remember_room, user, room, 2)

    assert await remember("Ann", "lobby") == "remembered"  # read up to 2, the last
    assert await remember("ann", "Empty") == "remembered"  # no such room: not listed
    assert await remember("ann", "third") == "full"  # two rooms already
    assert await remember("ANN", "LOBBY") == "remembered"  # one of them
    await store.write(messages_db.insert_messages, [message("Lobby", 3)])
    start = await start_session(store, "ann", None)
    assert (start.user, start.revoked, start.rooms) == ("ann", False, [SavedRoom("Lobby", 1)])
    store.write_soon(markers_db.mark_seen, "ann", "Lobby", 3)
    await store.flush()
    assert (await start_session(store, "ann", None)).rooms == [SavedRoom("Lobby", 0)]
    store.write_soon(markers_db.mark_seen, "ann", "Lobby", 2)  # never backwards
    await store.flush()
    assert (await start_session(store, "ann", None)).rooms == [SavedRoom("Lobby", 0)]
    assert await store.write(rooms_db.forget_room, "ANN", "LOBBY")
    assert not await store.write(rooms_db.forget_room, "ann", "lobby")
    assert (await start_session(store, "ann", None)).rooms == []


async def test_unread_counts_stop_at_1000(store: Store) -> None:
    await store.write(rooms_db.create_room, "big")
    await store.write(rooms_db.remember_room, "ann", "big", 200)
    await store.write(messages_db.insert_messages, [message("big", i) for i in range(1, 1203)])
    assert (await start_session(store, "ann", None)).rooms == [SavedRoom("big", 1000)]


async def test_a_repeated_cid_stores_nothing_and_ids_stay_contiguous(store: Store) -> None:
    first = ChatMessage("r", 1, "ann", "hello", 5, cid="c1")
    assert await store.write(messages_db.insert_messages, [first]) == [Saved(first, True)]
    again = ChatMessage("r", 2, "ann", "hello", 6, cid="c1")
    other_user = ChatMessage("r", 3, "bob", "hello", 6, cid="c1")
    saved = await store.write(messages_db.insert_messages, [again, other_user])
    assert saved == [Saved(first, False), Saved(attrs.evolve(other_user, id=2), True)]
    assert [m.id for m in await store.read(messages_db.history, "r", None, 10)] == [1, 2]


async def test_revoked_tokens(store: Store) -> None:
    await store.write(tokens_db.revoke, "jti-1", 2**50)
    await store.write(tokens_db.revoke, "jti-old", 1)  # already expired: dropped at the next revoke
    await store.write(tokens_db.revoke, "jti-2", 2**50)
    assert await store.read(tokens_db.is_revoked, "jti-1")
    assert not await store.read(tokens_db.is_revoked, "jti-old")
    assert (await start_session(store, "ann", "jti-2")).revoked


async def test_postgres_going_away_and_coming_back(nursery: trio.Nursery) -> None:
    server = PostgresServer.create()
    try:
        store = await open_store(nursery, server.new_database())
        await store.write(messages_db.insert_messages, [message("r", 1)])
        await read_at_once(store, 8)  # every reader has a connection now
        await trio.to_thread.run_sync(server.stop)
        with pytest.raises(StoreUnavailable):
            await store.write(messages_db.insert_messages, [message("r", 2)])
        with pytest.raises(StoreUnavailable):
            await store.read(messages_db.history, "r", None, 10)
        await trio.to_thread.run_sync(server.start)
        # Readers idle through the restart notice on their own.
        assert await read_at_once(store, 8) == [1] * 8
        await store.write(messages_db.insert_messages, [message("r", 3)])
        # The failed write's id was rolled back with it.
        assert [m.id for m in await store.read(messages_db.history, "r", None, 10)] == [1, 2]
    finally:
        await trio.to_thread.run_sync(server.destroy)


async def read_at_once(store: Store, count: int) -> list[int]:
    """`count` reads of room r's last id, all waiting at once."""
    found: list[int] = []

    async def read() -> None:
        found.append(await store.read(messages_db.last_id, "r"))

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(read)
    return found


async def test_reads_waiting_together_each_get_their_own_answer(store: Store) -> None:
    for count in range(1, 30):
        await store.write(messages_db.insert_messages, [message(f"r{count}", 0)] * count)
    found: dict[int, int] = {}

    async def read(count: int) -> None:
        found[count] = await store.read(messages_db.last_id, f"r{count}")

    async with trio.open_nursery() as nursery:
        for count in range(1, 30):
            nursery.start_soon(read, count)
    assert found == {count: count for count in range(1, 30)}


async def test_edits_and_deletes_keep_ids_and_follow_the_rules(store: Store) -> None:
    drafts = [ChatMessage("r", 0, user, f"text {n}", n) for n, user in enumerate(["ann", "bob"])]
    await store.write(messages_db.insert_messages, drafts)
    edited, refused, missing = await store.write(
        messages_db.change_messages,
        "r",
        [(1, "ANN", "new text", False), (2, "ann", "not mine", False), (3, "ann", "x", False)],
    )
    assert edited.message is not None
    assert (edited.message.text, edited.message.user) == ("new text", "ann")
    assert edited.message.edited is not None
    assert (refused.message, refused.found) == (None, True)
    assert missing.found is False
    # Only deleting may touch others' messages, when the policy says so.
    [deleted] = await store.write(messages_db.change_messages, "r", [(2, "ann", None, True)])
    assert deleted.message is not None
    assert (deleted.message.text, deleted.message.deleted_by) == ("", "ann")
    [gone] = await store.write(messages_db.change_messages, "r", [(2, "bob", "too late", False)])
    assert (gone.message, gone.found) == (None, False)
    # A reconnect that had seen message 1 learns of both changes; one that had seen 2, too.
    assert [m.id for m in await store.read(messages_db.changes_since, "r", 2, 10)] == [1, 2]
    assert [m.id for m in await store.read(messages_db.changes_since, "r", 1, 10)] == [1]
    history = await store.read(messages_db.history, "r", None, 10)
    assert [m.as_json().get("text") for m in history] == ["new text", None]
    assert [m.as_json().get("deleted") for m in history] == [None, True]
    saved = await store.write(messages_db.insert_messages, [ChatMessage("r", 0, "ann", "after", 9)])
    assert saved[0].message.id == 3


async def test_a_new_room_has_no_owner_and_nobody_banned_until_told(store: Store) -> None:
    assert await store.read(rooms_db.room_settings, "nowhere") is None
    await store.write(rooms_db.create_room, "Fresh")
    settings = await store.read(rooms_db.room_settings, "FRESH")
    assert settings is not None
    assert settings.rules == RoomRules() and settings.owner is None


async def test_private_rooms_are_made_once_and_seen_by_their_people(store: Store) -> None:
    assert await store.write(rooms_db.make_room, "Secret", "Olga", private=True, topic="plans")
    clash = await store.write(rooms_db.make_room, "SECRET", "eve", private=False, topic="")
    assert not clash  # a clash in case
    assert await store.write(rooms_db.make_room, "open", "eve", private=False, topic="")
    settings = await store.read(rooms_db.room_settings, "secret")
    assert settings is not None
    assert (settings.rules.private, settings.owner, settings.topic) == (True, "Olga", "plans")
    await store.write(rooms_db.set_listed, RoomList.INVITATIONS, "Secret", "Ivy", "Olga", True)
    await store.write(rooms_db.set_listed, RoomList.MODERATORS, "Secret", "mo", "Olga", True)
    # The stored rules refuse a join before it is remembered.
    assert await store.write(rooms_db.remember_room, "ann", "secret", 10) == "uninvited"
    await store.write(rooms_db.set_listed, RoomList.BANS, "Secret", "Ann", "Olga", True)
    assert await store.write(rooms_db.remember_room, "ann", "secret", 10) == "banned"
    assert await store.write(rooms_db.remember_room, "mo", "secret", 10) == "remembered"
    for user in ("olga", "IVY", "mo"):
        assert (await user_view(store, user)).private_rooms == ["Secret"]
    assert (await user_view(store, "ann")).private_rooms == []
    assert (await user_view(store, "eve")).private_rooms == []  # public rooms are not in it
    await store.write(rooms_db.set_listed, RoomList.INVITATIONS, "Secret", "ivy", "Olga", False)
    assert (await user_view(store, "ivy")).private_rooms == []
    found = sorted(
        (r.name, r.private) for r in await store.read(rooms_db.privacy, ["secret", "open", "none"])
    )
    assert found == [("Secret", True), ("open", False)]


async def test_read_markers_known_users_and_direct_rooms(store: Store) -> None:
    assert await store.read(users_db.known_user, "ann") is None
    await store.write(users_db.create_user, "Ann", "hash")
    await store.write(users_db.remember_user, "bob")
    await store.flush()
    assert (
        await store.read(users_db.known_user, "ANN"),
        await store.read(users_db.known_user, "BOB"),
    ) == ("Ann", "bob")
    name = await store.write(rooms_db.make_direct_room, "@Ann,bob", ["Ann", "bob"])
    assert (
        name
        == "@Ann,bob"
        == await store.write(rooms_db.make_direct_room, "@ann,BOB", ["ann", "BOB"])
    )
    settings = await store.read(rooms_db.room_settings, name)
    assert settings is not None and settings.rules.direct and settings.owner is None
    assert (await user_view(store, "bob")).private_rooms == [name]
    await store.write(
        messages_db.insert_messages, [ChatMessage(name, 0, "Ann", f"m{i}", i) for i in range(5)]
    )
    assert (await user_view(store, "bob")).unread == {"@ann,bob": 5}
    store.read_markers.mark("bob", name, 3)
    store.read_markers.mark("bob", name, 2)  # never back
    await trio.sleep(1.0)  # READ_MARKER_DELAY
    await store.flush()
    start = await start_session(store, "bob", None)
    assert [(r.name, r.read, r.unread) for r in start.rooms] == [(name, 3, 2)]
    assert start.known


async def test_what_is_asked_of_a_stopped_store_is_unavailable(tmp_path: Path) -> None:
    with trio.fail_after(10):  # never a waiter left waiting
        async with trio.open_nursery() as nursery:
            store = await open_store(nursery, f"sqlite:///{tmp_path / 'chat.db'}")
            await store.write(messages_db.insert_messages, [message("r", 0)])
            nursery.cancel_scope.cancel()
        with pytest.raises(StoreUnavailable):
            await store.read(messages_db.last_id, "r")
        with pytest.raises(StoreUnavailable):
            await store.write(messages_db.insert_messages, [message("r", 0)])
        store.write_soon(markers_db.mark_seen, "u", "r", 1)  # (dropped, quietly)
