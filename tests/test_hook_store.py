"""Webhooks in the store, on SQLite and a real PostgreSQL: a room's hooks
(at most 20), and the delivery queue every server claims from, each
delivery by one claim at a time."""

from __future__ import annotations

import itertools

import trio

from chatroom.domain import ChatMessage
from chatroom.domain.hooks import Hook
from chatroom.store import Store, StoredHook
from chatroom.store import hooks as hooks_db
from tests.test_store import database_url, open_store, store  # noqa: F401 (fixtures)

LEASE = 60_000
_ids = itertools.count()


def new_id() -> str:
    return f"msg_{next(_ids)}"


def stored(room: str, name: str, target: str | None = None, at: int = 1000) -> StoredHook:
    hook = Hook(f"{name}-{room}", room, name, target, "alice", at)
    return StoredHook(hook, f"hash of {name}", "whsec_AAAA" if target else None)


def message(room: str, id_: int, user: str = "bob", bot: bool = False) -> ChatMessage:
    return ChatMessage(room, id_, user, f"text {id_}", 1000 + id_, bot=bot)


async def test_a_rooms_hooks_added_listed_and_removed(store: Store) -> None:  # noqa: F811
    assert await store.write(hooks_db.add_hook, stored("Ops", "ci"), 20)
    assert await store.write(hooks_db.add_hook, stored("Ops", "relay", "http://t/", 2000), 20)
    assert await store.write(hooks_db.add_hook, stored("other", "ci"), 20)
    listed = await store.read(hooks_db.room_hooks, "ops")
    assert [(h.name, h.room, h.target, h.created_by) for h in listed] == [
        ("ci", "Ops", None, "alice"),
        ("relay", "Ops", "http://t/", "alice"),
    ]
    found = await store.read(hooks_db.hook_by_id, "relay-Ops")
    assert found == stored("Ops", "relay", "http://t/", 2000)
    assert await store.read(hooks_db.rooms_with_outgoing) == {"ops"}
    assert await store.write(hooks_db.remove_hook, "OPS", "relay-Ops")
    assert not await store.write(hooks_db.remove_hook, "ops", "relay-Ops")
    assert not await store.write(hooks_db.remove_hook, "ops", "ci-other")  # not this room's
    assert await store.read(hooks_db.hook_by_id, "relay-Ops") is None
    assert await store.read(hooks_db.rooms_with_outgoing) == set()
    for i in range(19):
        assert await store.write(hooks_db.add_hook, stored("ops", f"h{i}"), 20)
    assert not await store.write(hooks_db.add_hook, stored("ops", "h20"), 20)  # the 21st


async def test_deliveries_queued_for_outgoing_hooks_in_force(store: Store) -> None:  # noqa: F811
    await store.write(hooks_db.add_hook, stored("ops", "ci"), 20)  # incoming: nothing
    await store.write(hooks_db.add_hook, stored("ops", "relay", "http://t/"), 20)
    await store.write(hooks_db.add_hook, stored("ops", "gone", "http://g/"), 20)
    await store.write(hooks_db.disable_hook, "gone-ops")
    messages = [message("ops", 1), message("ops", 2, "relay", bot=True), message("ops", 3)]
    assert await store.write(hooks_db.enqueue, "Ops", messages, 5000, 3, new_id) == 0
    assert await store.read(hooks_db.next_due) == 5000
    claimed = await store.write(hooks_db.claim_due, 5000, LEASE, "c1", 10)
    # Not the hook's own message (posted under its name): no loop.
    assert sorted(d.body for d in claimed) == sorted(messages[i].frame_text for i in (0, 2))
    assert {(d.hook_id, d.target, d.attempts) for d in claimed} == {("relay-ops", "http://t/", 0)}
    # Past `max_queued` waiting for one hook, new ones are dropped.
    more = [message("ops", i) for i in range(4, 7)]
    assert await store.write(hooks_db.enqueue, "ops", more, 5000, 3, new_id) == 2


async def test_a_claim_holds_a_delivery_until_settled_or_its_lease_ends(
    store: Store,  # noqa: F811
) -> None:
    await store.write(hooks_db.add_hook, stored("ops", "relay", "http://t/"), 20)
    await store.write(hooks_db.enqueue, "ops", [message("ops", 1)], 1000, 100, new_id)
    assert await store.write(hooks_db.claim_due, 999, LEASE, "early", 10) == []  # not due
    (first,) = await store.write(hooks_db.claim_due, 1000, LEASE, "c1", 10)
    assert await store.write(hooks_db.claim_due, 1000, LEASE, "c2", 10) == []  # held
    assert await store.read(hooks_db.next_due) == 1000 + LEASE
    # A server that lost its claim (the lease ended, another took it) settles nothing.
    (again,) = await store.write(hooks_db.claim_due, 1000 + LEASE, LEASE, "c3", 10)
    assert again.id == first.id
    await store.write(hooks_db.delivered, first.id, "c1")
    await store.write(hooks_db.retry_at, first.id, "c1", 99)
    assert await store.read(hooks_db.next_due) == 1000 + 2 * LEASE
    await store.write(hooks_db.retry_at, first.id, "c3", 5000)  # failed: again at 5000
    (retried,) = await store.write(hooks_db.claim_due, 5000, LEASE, "c4", 10)
    assert (retried.id, retried.attempts) == (first.id, 1)
    await store.write(hooks_db.retry_at, first.id, "c4", None)  # given up
    assert await store.read(hooks_db.next_due) is None


async def test_two_servers_claiming_at_once_never_take_one_delivery_twice(
    nursery: trio.Nursery,
    database_url: str,  # noqa: F811
) -> None:
    servers = [await open_store(nursery, database_url) for _ in range(3)]
    await servers[0].write(hooks_db.add_hook, stored("ops", "relay", "http://t/"), 20)
    batch = [message("ops", i) for i in range(1, 201)]
    await servers[0].write(hooks_db.enqueue, "ops", batch, 1000, 1000, new_id)
    taken: list[str] = []

    async def claim(server: Store, n: int) -> None:
        while claimed := await server.write(hooks_db.claim_due, 1000, LEASE, f"s{n}", 7):
            taken.extend(d.id for d in claimed)

    async with trio.open_nursery() as claiming:
        for n, server in enumerate(servers):
            claiming.start_soon(claim, server, n)
    assert len(taken) == len(set(taken)) == 200
