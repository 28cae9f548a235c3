"""A room's task with in-memory subscribers: order, presence, batching, lifetime."""

from __future__ import annotations

import json
from typing import Any

import attrs
import trio
import trio.testing
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage

from chatroom.rooms import (
    JoinRequest,
    LeaveRequest,
    MembersRequest,
    PublishRequest,
    RoomRegistry,
)


@attrs.define(eq=False)
class FakeSubscriber:
    """Decodes what the room delivers, as a WebSocket client would."""

    user: str
    writes: int = 0
    _parser: Connection = attrs.field(factory=lambda: Connection(ConnectionType.CLIENT))

    def deliver(self, data: bytes) -> bool:
        self.writes += 1
        self._parser.receive_data(data)
        return True

    def frames(self) -> list[dict[str, Any]]:
        return [
            json.loads(event.data)
            for event in self._parser.events()
            if isinstance(event, TextMessage)
        ]


def fixed_clock() -> int:
    return 1234


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def test_join_send_leave_in_order(nursery: trio.Nursery) -> None:
    registry = RoomRegistry(nursery, clock_ms=fixed_clock)
    alice, bob = FakeSubscriber("alice"), FakeSubscriber("bob")
    room = registry.open("lobby")
    await room.submit(JoinRequest(alice, ref="a"))
    await settle()
    assert alice.frames() == [
        {
            "type": "joined",
            "room": "lobby",
            "members": [{"user": "alice", "since": 1234}],
            "history": [],
            "ref": "a",
        },
        {"type": "presence", "room": "lobby", "event": "join", "user": "alice"},
    ]
    await room.submit(JoinRequest(bob))
    await room.submit(PublishRequest(bob, "hi", ref=9))
    await room.submit(PublishRequest(alice, "hello"))
    await room.submit(LeaveRequest(bob, ref="bye"))
    await settle()
    message = {"type": "message", "room": "lobby", "user": "bob", "text": "hi", "ts": 1234}
    assert alice.frames() == [
        {"type": "presence", "room": "lobby", "event": "join", "user": "bob"},
        {**message, "id": 1},
        {**message, "id": 2, "user": "alice", "text": "hello"},
        {"type": "presence", "room": "lobby", "event": "leave", "user": "bob"},
    ]
    bob_frames = bob.frames()
    assert [f["type"] for f in bob_frames] == ["joined", "presence", "message", "message", "left"]
    assert bob_frames[2] == {**message, "id": 1, "ref": 9}
    assert bob_frames[4] == {"type": "left", "room": "lobby", "ref": "bye"}


async def test_waiting_sends_go_out_in_one_write_per_member(nursery: trio.Nursery) -> None:
    registry = RoomRegistry(nursery, clock_ms=fixed_clock)
    members = [FakeSubscriber(f"user{i}") for i in range(5)]
    room = registry.open("busy")
    for member in members:
        await room.submit(JoinRequest(member))
    await settle()
    for member in members:
        member.frames()
        member.writes = 0
    # Sends from many connections arrive while the room task waits to run.
    async with trio.open_nursery() as senders:
        for i in range(100):
            senders.start_soon(room.submit, PublishRequest(members[i % 5], f"m{i}"))
    await settle()
    for member in members:
        frames = member.frames()
        assert [f["id"] for f in frames] == list(range(1, 101))
        assert member.writes == 1


async def test_a_user_with_two_connections_is_one_member(nursery: trio.Nursery) -> None:
    registry = RoomRegistry(nursery, clock_ms=fixed_clock)
    phone, laptop, bob = FakeSubscriber("alice"), FakeSubscriber("alice"), FakeSubscriber("bob")
    room = registry.open("r")
    await room.submit(JoinRequest(bob))
    await room.submit(JoinRequest(phone))
    await room.submit(JoinRequest(laptop))
    await room.submit(MembersRequest(bob, ref=1))
    await room.submit(LeaveRequest(phone))
    await room.submit(PublishRequest(laptop, "still here"))
    await room.submit(LeaveRequest(laptop))
    await settle()
    events = [(f["type"], f.get("event"), f.get("user")) for f in bob.frames()]
    assert events == [
        ("joined", None, None),
        ("presence", "join", "bob"),
        ("presence", "join", "alice"),
        ("members", None, None),
        ("message", None, "alice"),
        ("presence", "leave", "alice"),
    ]
    assert [c.room for c in registry.counts()] == ["r"]
    assert registry.counts()[0].count == 1
    assert [m.user for m in room.members()] == ["bob"]


async def test_non_members_are_refused(nursery: trio.Nursery) -> None:
    registry = RoomRegistry(nursery, clock_ms=fixed_clock)
    member, stranger = FakeSubscriber("m"), FakeSubscriber("s")
    room = registry.open("r")
    await room.submit(JoinRequest(member))
    await room.submit(PublishRequest(stranger, "let me in", ref="p"))
    await room.submit(MembersRequest(stranger, ref="q"))
    await settle()
    assert [(f["code"], f["ref"]) for f in stranger.frames()] == [
        ("not_member", "p"),
        ("not_member", "q"),
    ]
    assert all(f["type"] != "message" for f in member.frames())


async def test_an_empty_room_ends_and_a_new_one_starts_fresh(nursery: trio.Nursery) -> None:
    registry = RoomRegistry(nursery, clock_ms=fixed_clock)
    alice = FakeSubscriber("alice")
    room = registry.open("r")
    await room.submit(JoinRequest(alice))
    await room.submit(PublishRequest(alice, "one"))
    await room.submit(LeaveRequest(alice, reply=False))
    await settle()
    assert registry.get("r") is None
    assert registry.counts() == []
    assert len(nursery.child_tasks) == 0
    again = registry.open("r")
    assert again is not room
    await again.submit(JoinRequest(alice))
    await settle()
    assert len(nursery.child_tasks) == 1
