"""A room's task with in-memory subscribers and a real SQLite store: order,
presence, batching, persistence, lifetime."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage

from chatroom.cluster.events import ExpelledEvent, MessagesEvent, SettingsEvent
from chatroom.domain import ChatMessage, HistoryPage
from chatroom.domain.rules import Action
from chatroom.metrics import Counters
from chatroom.rooms import catchup
from chatroom.rooms.registry import RoomRegistry
from chatroom.rooms.requests import (
    ChangeRequest,
    JoinRequest,
    LeaveRequest,
    MembersRequest,
    ModerateRequest,
    PublishRequest,
    TypingRequest,
)
from chatroom.store import RoomList, Store
from chatroom.store import messages as messages_db
from chatroom.store import rooms as rooms_db

TIMEOUT = 5


@attrs.define(eq=False)
class FakeSubscriber:
    """Decodes what the room delivers, as a WebSocket client would."""

    user: str
    writes: int = 0
    received: list[dict[str, Any]] = attrs.field(factory=list)
    left_rooms: list[str] = attrs.field(factory=list)
    _parser: Connection = attrs.field(factory=lambda: Connection(ConnectionType.CLIENT))
    _changed: trio.Event = attrs.field(factory=trio.Event)

    def not_in(self, room: str) -> None:
        self.left_rooms.append(room)

    def deliver(self, data: bytes) -> bool:
        self.writes += 1
        self._parser.receive_data(data)
        for event in self._parser.events():
            if isinstance(event, TextMessage):
                self.received.append(json.loads(event.data))
        self._changed.set()
        self._changed = trio.Event()
        return True

    async def frames(self, count: int) -> list[dict[str, Any]]:
        """The next `count` frames, waiting for them."""
        with trio.fail_after(TIMEOUT):
            while len(self.received) < count:
                await self._changed.wait()
        taken, self.received = self.received[:count], self.received[count:]
        return taken


def fixed_clock() -> int:
    return 1234


async def test_join_send_leave_in_order(nursery: trio.Nursery, sqlite_store: Store) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    alice, bob = FakeSubscriber("alice"), FakeSubscriber("bob")
    room = registry.open("lobby")
    await room.submit(JoinRequest(alice, ref="a"))
    assert await alice.frames(2) == [
        {
            "type": "joined",
            "room": "lobby",
            "info": {
                "private": False,
                "topic": "",
                "owner": "alice",
                "moderators": [],
                "archived": False,
            },
            "read": None,
            "members": [{"user": "alice", "since": 1234, "role": "owner"}],
            "history": [],
            "more": False,
            "ref": "a",
        },
        {"type": "presence", "room": "lobby", "event": "join", "user": "alice"},
    ]
    await room.submit(JoinRequest(bob))
    await room.submit(PublishRequest(bob, "hi", ref=9))
    await room.submit(PublishRequest(alice, "hello"))
    await room.submit(LeaveRequest(bob, ref="bye"))
    message = {"type": "message", "room": "lobby", "user": "bob", "text": "hi", "ts": 1234}
    message["mentions"] = []
    assert await alice.frames(4) == [
        {"type": "presence", "room": "lobby", "event": "join", "user": "bob"},
        {**message, "id": 1},
        {**message, "id": 2, "user": "alice", "text": "hello"},
        {"type": "presence", "room": "lobby", "event": "leave", "user": "bob"},
    ]
    bob_frames = await bob.frames(5)
    assert [f["type"] for f in bob_frames] == ["joined", "presence", "message", "message", "left"]
    assert bob_frames[2] == {**message, "id": 1, "ref": 9}
    assert bob_frames[4] == {"type": "left", "room": "lobby", "ref": "bye"}


async def test_waiting_sends_go_out_in_few_writes(
    nursery: trio.Nursery, sqlite_store: Store
) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    members = [FakeSubscriber(f"user{i}") for i in range(5)]
    room = registry.open("busy")
    for member in members:
        await room.submit(JoinRequest(member))
    for i, member in enumerate(members):
        await member.frames(2 + len(members) - 1 - i)
        member.writes = 0
    # Sends from many connections arrive while the room task waits to run.
    async with trio.open_nursery() as senders:
        for i in range(100):
            senders.start_soon(room.submit, PublishRequest(members[i % 5], f"m{i}"))
    for member in members:
        assert [f["id"] for f in await member.frames(100)] == list(range(1, 101))
        assert member.writes <= 3


async def test_a_user_with_two_connections_is_one_member(
    nursery: trio.Nursery, sqlite_store: Store
) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    phone, laptop, bob = FakeSubscriber("alice"), FakeSubscriber("alice"), FakeSubscriber("bob")
    room = registry.open("r")
    await room.submit(JoinRequest(bob))
    await room.submit(JoinRequest(phone))
    await room.submit(JoinRequest(laptop))
    await room.submit(MembersRequest(bob, ref=1))
    await room.submit(LeaveRequest(phone))
    await room.submit(PublishRequest(laptop, "still here"))
    await room.submit(LeaveRequest(laptop))
    events = [(f["type"], f.get("event"), f.get("user")) for f in await bob.frames(6)]
    assert events == [
        ("joined", None, None),
        ("presence", "join", "bob"),
        ("presence", "join", "alice"),
        ("members", None, None),
        ("message", None, "alice"),
        ("presence", "leave", "alice"),
    ]
    assert [(c.room, c.count) for c in registry.page().rooms] == [("r", 1)]
    assert [m.user for m in room.members()] == ["bob"]


async def test_non_members_are_refused(nursery: trio.Nursery, sqlite_store: Store) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    member, stranger = FakeSubscriber("m"), FakeSubscriber("s")
    room = registry.open("r")
    await room.submit(JoinRequest(member))
    await room.submit(PublishRequest(stranger, "let me in", ref="p"))
    await room.submit(MembersRequest(stranger, ref="q"))
    assert [(f["code"], f["ref"]) for f in await stranger.frames(2)] == [
        ("not_member", "p"),
        ("not_member", "q"),
    ]
    assert [f["type"] for f in await member.frames(2)] == ["joined", "presence"]
    assert await sqlite_store.read(messages_db.history, "r", None, 10) == []


async def test_an_empty_room_ends_and_a_new_one_continues_its_ids(
    nursery: trio.Nursery, sqlite_store: Store
) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    alice = FakeSubscriber("alice")
    room = registry.open("r")
    await room.submit(JoinRequest(alice))
    await room.submit(PublishRequest(alice, "one"))
    await room.submit(LeaveRequest(alice))
    await alice.frames(4)
    await trio.testing.wait_all_tasks_blocked()
    assert registry.get("r") is None
    # Empty, the room still exists: it has history.
    assert [(c.room, c.count) for c in registry.page().rooms] == [("r", 0)]
    again = registry.open("r")
    assert again is not room
    await again.submit(JoinRequest(alice, since=0))
    await again.submit(PublishRequest(alice, "two"))
    joined, _presence, message = await alice.frames(3)
    assert [m["text"] for m in joined["history"]] == ["one"]
    assert (message["id"], message["text"]) == (2, "two")


async def test_room_names_are_one_room_in_any_case_with_the_first_spelling(
    nursery: trio.Nursery, sqlite_store: Store
) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    alice, bob = FakeSubscriber("alice"), FakeSubscriber("bob")
    room = registry.open("General")
    await room.submit(JoinRequest(alice))
    assert registry.open("GENERAL") is room
    await room.submit(JoinRequest(bob))
    assert (await bob.frames(1))[0]["room"] == "General"
    await room.submit(LeaveRequest(alice))
    await room.submit(LeaveRequest(bob))
    await trio.testing.wait_all_tasks_blocked()
    # A joined-but-silent room is gone when empty; its spelling is kept.
    assert registry.page().rooms == []
    assert registry.stored_name("general") == "General"
    later = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    await later.load()
    assert later.open("gEnErAl").name == "General"


async def test_join_since_returns_exactly_what_was_missed(
    nursery: trio.Nursery, sqlite_store: Store
) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    writer, reader = FakeSubscriber("w"), FakeSubscriber("r")
    room = registry.open("r")
    await room.submit(JoinRequest(writer))
    for i in range(300):
        await room.submit(PublishRequest(writer, f"m{i}"))
    await writer.frames(302)
    # Memory reaches back 200 messages (less a margin for what may arrive
    # meanwhile); before that, the connection reads what was missed itself
    # and hands it over (the room never queries).
    assert [room.covers(s) for s in (0, 100, 149, 150, 290, None)] == [
        False, False, False, True, True, True
    ]  # fmt: skip
    page = await sqlite_store.read(messages_db.history_page, "r", None, 1000)
    prefetched = HistoryPage(page.messages[:-5], more=False)  # 5 more came after the read
    for since, read, expected in [
        (0, prefetched, range(1, 301)),
        (290, None, range(291, 301)),
        (300, None, range(0)),
    ]:
        await room.submit(JoinRequest(reader, since=since, prefetched=read))
        joined = (await reader.frames(1))[0]
        assert [m["id"] for m in joined["history"]] == list(expected)
        assert "truncated" not in joined
        if since == 0:
            await reader.frames(1)  # its presence join
    # Not read, not in memory: what memory has, truncated (page back from it).
    await room.submit(JoinRequest(reader, since=50))
    joined = (await reader.frames(1))[0]
    assert ([m["id"] for m in joined["history"]], joined["truncated"]) == (
        list(range(101, 301)),
        True,
    )
    await room.submit(JoinRequest(reader))
    assert [m["id"] for m in (await reader.frames(1))[0]["history"]] == list(range(251, 301))


async def test_messages_another_server_committed_come_first_in_id_order(
    nursery: trio.Nursery, sqlite_store: Store
) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    alice, bob = FakeSubscriber("alice"), FakeSubscriber("bob")
    room = registry.open("r")
    await room.submit(JoinRequest(alice))
    await alice.frames(2)
    # Another server on the same database takes ids 1 and 2 behind the room's back.
    other_server = [ChatMessage("r", 0, "other", f"elsewhere {i}", 1) for i in (1, 2)]
    await sqlite_store.write(messages_db.insert_messages, other_server)
    # Both queued without a checkpoint between them: one batch, in this order.
    room._inbox.submit_nowait(PublishRequest(alice, "here", ref="h"))
    room._inbox.submit_nowait(JoinRequest(bob))
    frames = await alice.frames(3)
    assert [(f["id"], f["text"]) for f in frames] == [
        (1, "elsewhere 1"),
        (2, "elsewhere 2"),
        (3, "here"),
    ]
    assert frames[2]["ref"] == "h"
    joined = (await bob.frames(1))[0]
    assert [m["id"] for m in joined["history"]] == [1, 2, 3]


async def test_messages_from_other_servers_fan_out_in_id_order_gaps_read(
    nursery: trio.Nursery, sqlite_store: Store
) -> None:
    """Another server committed 1..4 in the shared store; the broker brought
    4 first, then 2 (late), then nothing for 5 (lost)."""
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    ann = FakeSubscriber("ann")
    room = registry.open("shared")
    await room.submit(JoinRequest(ann))
    await ann.frames(2)  # joined, presence
    drafts = [ChatMessage("shared", 0, "bob", f"m{i}", 1) for i in range(5)]
    saved = [s.message for s in await sqlite_store.write(messages_db.insert_messages, drafts)]
    registry.on_event(MessagesEvent("shared", tuple(saved[3:4])))
    registry.on_event(MessagesEvent("shared", tuple(saved[1:2])))
    assert [f["id"] for f in await ann.frames(4)] == [1, 2, 3, 4]
    room.behind(5)  # what the periodic check finds in the store
    assert [f["text"] for f in await ann.frames(1)] == ["m4"]
    await room.submit(PublishRequest(ann, "mine"))
    assert [f["id"] for f in await ann.frames(1)] == [6]
    assert ann.received == []


async def _committed_elsewhere(store: Store, room: str, count: int) -> tuple[ChatMessage, ...]:
    drafts = [ChatMessage(room, 0, "bob", f"theirs {i}", 1) for i in range(count)]
    return tuple(s.message for s in await store.write(messages_db.insert_messages, drafts))


async def test_a_commit_after_ids_committed_elsewhere_waits_for_the_broker_to_bring_them(
    nursery: trio.Nursery, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another server committed 1..2 just before this room's 3: its event is
    on the way, so the room waits for it rather than reading the store."""
    monkeypatch.setattr(catchup, "BROKER_GRACE", TIMEOUT)
    counters = Counters()
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock, counters=counters)
    ann = FakeSubscriber("ann")
    room = registry.open("shared")
    await room.submit(JoinRequest(ann))
    await ann.frames(2)
    theirs = await _committed_elsewhere(sqlite_store, "shared", 2)

    async def broker_brings_them() -> None:
        await trio.sleep(0.02)
        registry.on_event(MessagesEvent("shared", theirs))

    nursery.start_soon(broker_brings_them)
    await room.submit(PublishRequest(ann, "mine", ref="m"))
    assert [(f["id"], f["text"]) for f in await ann.frames(3)] == [
        (1, "theirs 0"),
        (2, "theirs 1"),
        (3, "mine"),
    ]
    assert counters.messages_read_back == 0


async def test_ids_the_broker_does_not_bring_are_read_after_the_grace_then_at_once_for_a_while(
    nursery: trio.Nursery, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catchup, "BROKER_GRACE", 1.0)
    counters = Counters()
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock, counters=counters)
    ann = FakeSubscriber("ann")
    room = registry.open("lossy")
    await room.submit(JoinRequest(ann))
    await ann.frames(2)
    for first_id, read_back in ((1, 2), (4, 4)):
        await _committed_elsewhere(sqlite_store, "lossy", 2)
        started = trio.current_time()
        await room.submit(PublishRequest(ann, "mine"))
        frames = await ann.frames(3)
        waited = trio.current_time() - started
        assert [f["id"] for f in frames] == [first_id, first_id + 1, first_id + 2]
        assert counters.messages_read_back == read_back
        # Waited in vain once: the next gap is read at once.
        assert waited >= 1.0 if first_id == 1 else waited < 1.0


async def test_a_join_that_saw_more_than_the_room_gets_no_message_twice(
    nursery: trio.Nursery, sqlite_store: Store
) -> None:
    """A client saw 1..3 on another server, whose publish of 2..3 this room
    has not had; it joins here with since=3."""
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    ann, bob = FakeSubscriber("ann"), FakeSubscriber("bob")
    room = registry.open("moved")
    await room.submit(JoinRequest(ann))
    await ann.frames(2)
    drafts = [ChatMessage("moved", 0, "carol", f"m{i}", 1) for i in range(3)]
    await sqlite_store.write(messages_db.insert_messages, drafts)
    first = await sqlite_store.read(messages_db.between, "moved", 0, 2, 1)
    registry.on_event(MessagesEvent("moved", (first[0],)))
    await room.submit(JoinRequest(bob, since=3))
    joined, presence = await bob.frames(2)
    assert (joined["history"], presence["event"]) == ([], "join")
    assert [f.get("id") for f in await ann.frames(4)] == [1, 2, 3, None]  # then bob's join
    third = await sqlite_store.read(messages_db.between, "moved", 2, 4, 1)
    registry.on_event(MessagesEvent("moved", (third[0],)))
    await room.submit(MembersRequest(bob))
    assert [f["type"] for f in await bob.frames(1)] == ["members"]  # not message 3 again


async def test_typing_reaches_the_others_at_most_every_2_s(
    nursery: trio.Nursery, sqlite_store: Store, mock_clock: trio.testing.MockClock
) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    phone, laptop, bob = FakeSubscriber("alice"), FakeSubscriber("alice"), FakeSubscriber("bob")
    stranger = FakeSubscriber("eve")
    room = registry.open("r")
    for subscriber in (bob, phone, laptop):
        await room.submit(JoinRequest(subscriber))
    await bob.frames(3)  # joined, bob's join and alice's (once, for two connections)
    for _ in range(3):  # from either of alice's connections: one relayed
        await room.submit(TypingRequest(phone))
        await room.submit(TypingRequest(laptop))
    await room.submit(TypingRequest(stranger, ref="t"))
    mock_clock.jump(1.9)
    await room.submit(TypingRequest(phone))  # still dropped
    await room.submit(TypingRequest(bob))
    mock_clock.jump(0.1)
    await room.submit(TypingRequest(laptop))  # 2 s on: relayed again
    await room.submit(MembersRequest(bob, ref="end"))
    frames = [(f["type"], f.get("user")) for f in await bob.frames(3)]
    assert frames == [("typing", "alice"), ("typing", "alice"), ("members", None)]
    assert [(f["type"], f["user"]) for f in await phone.frames(3) if f["type"] == "typing"] == [
        ("typing", "bob")  # never their own
    ]
    assert [(f["code"], f["ref"]) for f in await stranger.frames(1)] == [("not_member", "t")]


async def test_an_emptied_room_lingers_loaded_unlisted_and_catches_up_with_others(
    nursery: trio.Nursery, sqlite_store: Store
) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock, linger=0.5)
    nursery.start_soon(registry.check_gaps, 0.05)
    alice = FakeSubscriber("alice")
    room = registry.open("quiet")
    await room.submit(JoinRequest(alice))
    await room.submit(LeaveRequest(alice))
    await alice.frames(3)  # joined, her presence, left
    assert registry.get("quiet") is room  # lingering: the next join reads nothing
    assert registry.page().rooms == []  # but no members and no history: not listed
    # Another server on the same database writes while the room lingers,
    # and its publish is lost: the gap check finds it.
    await sqlite_store.write(
        messages_db.insert_messages, [ChatMessage("quiet", 0, "other", "meanwhile", 1)]
    )
    await trio.sleep(0.2)
    await room.submit(JoinRequest(alice, ref="again"))
    joined = (await alice.frames(1))[0]
    assert [m["text"] for m in joined["history"]] == ["meanwhile"]
    await room.submit(LeaveRequest(alice))
    await trio.sleep(1.0)
    assert registry.get("quiet") is None  # gone once the linger is over


async def test_waiting_edits_and_deletes_are_committed_together(
    nursery: trio.Nursery, sqlite_store: Store
) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    editor, watcher = FakeSubscriber("editor"), FakeSubscriber("watcher")
    room = registry.open("edits")
    for member in (editor, watcher):
        await room.submit(JoinRequest(member))
    await room.submit(PublishRequest(editor, "mine"))
    await watcher.frames(3)  # joined, presence, the message
    committed = sqlite_store.transactions
    # One member's flood of edits (and deletes of ids nobody has) while the
    # room's task waits to run: one commit for all of them, not one each.
    async with trio.open_nursery() as editors:
        for i in range(50):
            editors.start_soon(room.submit, ChangeRequest(editor, 1, f"edit {i}"))
        for _ in range(10):
            editors.start_soon(room.submit, ChangeRequest(editor, 99, None))
    edits = await watcher.frames(50)
    assert {f["type"] for f in edits} == {"edited"}
    assert sqlite_store.transactions - committed <= 3
    frames = await editor.frames(4 + 60)  # joined, two presences, the message, then these
    assert [f["code"] for f in frames if f["type"] == "error"] == ["not_found"] * 10
    # An edit of a message sent just before it, in the same batch, finds it.
    await room.submit(PublishRequest(editor, "sent"))
    await room.submit(ChangeRequest(editor, 2, "sent, edited"))
    assert [f["type"] for f in await watcher.frames(2)] == ["message", "edited"]


async def test_a_join_with_since_says_when_its_changes_may_be_cut(
    nursery: trio.Nursery, sqlite_store: Store
) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    editor = FakeSubscriber("editor")
    room = registry.open("edited")
    await room.submit(JoinRequest(editor))
    for i in range(300):
        await room.submit(PublishRequest(editor, f"m{i}"))
    for i in range(300):
        await room.submit(ChangeRequest(editor, i + 1, f"m{i}, edited"))
    await editor.frames(2 + 600)
    # Its connection read nothing, and counted before all 300 changes: the
    # room keeps the latest of 256 messages, and says some may be missing.
    late = FakeSubscriber("late")
    await room.submit(JoinRequest(late, since=300, changes=[], changes_counted=0))
    [joined] = await late.frames(1)
    assert [c["id"] for c in joined["changes"]] == list(range(45, 301))
    assert joined["changes_truncated"] is True
    # Counted after them, nothing can be missing.
    settled = FakeSubscriber("settled")
    request = JoinRequest(settled, since=300, changes=[], changes_counted=room.changes_made)
    await room.submit(request)
    [joined] = await settled.frames(1)
    assert "changes_truncated" not in joined


async def test_rules_changed_on_another_server_stop_refusing_at_once(
    nursery: trio.Nursery, sqlite_store: Store
) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    olga = FakeSubscriber("olga")
    room = registry.open("club")
    await room.submit(JoinRequest(olga))
    await olga.frames(2)  # joined (as the owner: she made the room), presence
    await room.submit(ModerateRequest(olga, Action.BAN, "eve", ref="b"))
    await olga.frames(1)
    assert room.join_refusal("eve") == "you are banned from this room"
    # Another server unbans eve and says so: her join here, at once, is not
    # refused by the rules this server read before.
    await sqlite_store.write(rooms_db.set_listed, RoomList.BANS, "club", "eve", "olga", False)
    registry.on_event(SettingsEvent("club"))
    assert room.join_refusal("eve") is None


async def test_a_kick_from_another_server_while_the_room_reloads_is_not_lost(
    nursery: trio.Nursery, sqlite_store: Store
) -> None:
    registry = RoomRegistry(nursery, sqlite_store, clock_ms=fixed_clock)
    olga, bob = FakeSubscriber("olga"), FakeSubscriber("bob")
    room = registry.open("club")
    for member in (olga, bob):
        await room.submit(JoinRequest(member))
    await olga.frames(3)
    await bob.frames(2)
    room.core.timeline.forget()  # (as a failed commit leaves it: read again at the next send)
    registry.on_event(ExpelledEvent("club", "bob", "olga", "spam"))
    await trio.testing.wait_all_tasks_blocked()
    await room.submit(PublishRequest(olga, "still here"))
    message, kicked = await bob.frames(2)  # (the send's batch loads the room first)
    assert message["text"] == "still here"
    assert kicked == {"type": "kicked", "room": "club", "by": "olga", "reason": "spam"}
