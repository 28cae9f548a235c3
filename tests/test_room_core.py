"""The room's rules and state, sans-IO: no Trio, no sockets, no database.

Each test feeds the core what its task would (requests, what the store
gave, events from other servers) and looks at what it sends to whom and
which effects it asks for.
"""

from __future__ import annotations

import collections
import json
from typing import Any

import attrs
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage

from chatroom.cluster.events import (
    ChangedEvent,
    ExpelledEvent,
    ForgottenEvent,
    InvitationEvent,
    MembersChanged,
    MessagesEvent,
    PresenceEvent,
    SettingsEvent,
    TypingEvent,
)
from chatroom.domain import ChatMessage, HistoryPage, RoomSettings
from chatroom.domain.rules import Action, RoomRules
from chatroom.rooms.core import (
    ForgetRoom,
    MarkSeen,
    RoomCore,
    changes_asked,
    moderation_refusal,
    settings_refusal,
)
from chatroom.rooms.recent import CacheBudget
from chatroom.rooms.requests import (
    ChangeRequest,
    JoinRequest,
    ModerateRequest,
    PublishRequest,
    SettingsRequest,
)

NOW_MS = 1234


@attrs.define(eq=False)
class Client:
    """A connection as the room sees one, decoding what it is sent."""

    user: str
    writes: int = 0
    frames: list[dict[str, Any]] = attrs.field(factory=list)
    not_in_rooms: list[str] = attrs.field(factory=list)
    _parser: Connection = attrs.field(factory=lambda: Connection(ConnectionType.CLIENT))

    def deliver(self, data: bytes) -> bool:
        self.writes += 1
        self._parser.receive_data(data)
        for event in self._parser.events():
            if isinstance(event, TextMessage):
                self.frames.append(json.loads(event.data))
        return True

    def not_in(self, room: str) -> None:
        self.not_in_rooms.append(room)

    def take(self) -> list[dict[str, Any]]:
        taken, self.frames = self.frames, []
        return taken

    def types(self) -> list[str]:
        return [frame["type"] for frame in self.take()]


class Elsewhere:
    """Members on other servers, as the broker's presence would say."""

    def __init__(self) -> None:
        self.members: dict[str, dict[str, int]] = {}

    def users(self, key: str) -> dict[str, int]:
        return self.members.get(key, {})

    def has(self, key: str, user: str) -> bool:
        return user in self.users(key)


def message(id_: int, text: str = "", user: str = "ann") -> ChatMessage:
    return ChatMessage("lobby", id_, user, text or f"m{id_}", NOW_MS)


def loaded_room(
    messages: list[ChatMessage] | None = None,
    rules: RoomRules | None = None,
    elsewhere: Elsewhere | None = None,
) -> RoomCore:
    core = RoomCore(
        "lobby",
        clock_ms=lambda: NOW_MS,
        budget=CacheBudget(),
        elsewhere=elsewhere,
        error_codes=collections.Counter(),
    )
    recent = messages or []
    core.read(RoomSettings(rules or RoomRules()))
    core.load(recent[-1].id if recent else 0, recent)
    return core


def join(core: RoomCore, client: Client, **kw: Any) -> None:
    request = JoinRequest(client, **kw)
    assert not core.refuse(request)
    core.admit(request)
    core.flush()


def test_a_join_gets_its_history_from_memory_and_the_others_see_it_come() -> None:
    core = loaded_room([message(1), message(2)])
    ann, bob = Client("ann"), Client("bob")
    join(core, ann)
    joined = ann.take()[0]
    assert [m["id"] for m in joined["history"]] == [1, 2]
    assert joined["members"] == [{"user": "ann", "since": NOW_MS, "role": "member"}]
    assert core.take_effects() == [PresenceEvent("lobby", "ann", NOW_MS)]
    join(core, bob, since=1)
    assert [m["id"] for m in bob.take()[0]["history"]] == [2]
    assert ann.take() == [{"type": "presence", "room": "lobby", "event": "join", "user": "bob"}]


def test_sends_committed_in_one_batch_reach_each_member_in_one_write() -> None:
    core = loaded_room()
    ann, bob = Client("ann"), Client("bob")
    join(core, ann)
    join(core, bob)
    ann.take(), bob.take()
    writes = ann.writes, bob.writes
    sent = [PublishRequest(ann, f"hello {i}", ref=i) for i in range(3)]
    stored = [message(i + 1, f"hello {i}") for i in range(3)]
    core.committed(stored)
    core.timeline.accept(stored)
    for request, stored_message in zip(sent, stored, strict=True):
        core.deliver_saved(request, stored_message, new=True)
    core.flush()
    assert (ann.writes - writes[0], bob.writes - writes[1]) == (1, 1)
    assert [f.get("ref") for f in ann.take()] == [0, 1, 2]  # the sender's own carry its refs
    assert [f["text"] for f in bob.take()] == ["hello 0", "hello 1", "hello 2"]
    assert core.take_effects()[-1] == MessagesEvent("lobby", tuple(stored))


def test_a_user_on_two_connections_is_one_member_until_both_leave() -> None:
    core = loaded_room([message(1)])
    phone, laptop, bob = Client("ann"), Client("ann"), Client("bob")
    for client in (phone, laptop, bob):
        join(core, client)
    core.take_effects()
    bob.take()
    core.leave(phone, ref="p", reply=True, as_sent=None)
    core.flush()
    assert bob.take() == []  # ann is still here on her laptop
    assert core.take_effects() == []
    core.leave(laptop, ref=None, reply=False, as_sent=None)
    core.flush()
    assert bob.types() == ["presence"]
    assert core.take_effects() == [MarkSeen("ann", 1), PresenceEvent("lobby", "ann", None)]


def test_a_banned_user_is_refused_before_anything_is_read() -> None:
    core = loaded_room(rules=RoomRules(banned=frozenset({"eve"})))
    eve = Client("eve")
    assert core.join_refusal("eve") == "you are banned from this room"
    assert core.refuse(JoinRequest(eve, ref=7))
    error = eve.take()[0]
    assert (error["code"], error["ref"]) == ("forbidden", 7)
    assert eve.not_in_rooms == ["lobby"]
    assert core.take_effects() == [ForgetRoom("eve"), ForgottenEvent("lobby", "eve")]


def test_messages_from_other_servers_go_out_in_id_order_gaps_first_read() -> None:
    core = loaded_room([message(1)])
    timeline = core.timeline
    timeline.take_remote([message(4)])
    timeline.take_remote([message(3)])
    head = timeline.next_remote(None)
    assert head is not None and head.id == 3  # 2 is missing: the task reads it first
    core.fan_out([message(2)])  # (what the store gave)
    order = []
    while timeline.next_remote(None) is not None:
        if (new := timeline.pop_remote()) is not None:
            core.fan_out([new])
            order.append(new.id)
    assert order == [3, 4]
    assert timeline.last_id == 4
    timeline.take_remote([message(4)])  # once more: not twice
    assert timeline.next_remote(None) is not None and timeline.pop_remote() is None


def test_typing_reaches_the_others_at_most_every_two_seconds() -> None:
    core = loaded_room()
    ann, bob = Client("ann"), Client("bob")
    join(core, ann)
    join(core, bob)
    core.take_effects(), ann.take(), bob.take()
    core.typing("ann", now=10.0)
    core.typing("ann", now=11.0)  # dropped
    core.take(TypingEvent("lobby", "ann", node="n2"), now=11.5)  # dropped too
    core.typing("ann", now=12.5)
    core.flush()
    assert bob.types() == ["typing", "typing"]
    assert ann.take() == []
    assert core.take_effects() == [TypingEvent("lobby", "ann"), TypingEvent("lobby", "ann")]


def test_a_member_may_not_kick_and_a_kick_by_the_owner_reaches_every_server() -> None:
    rules = RoomRules(owner="olga")
    core = loaded_room(rules=rules)
    olga, ann, ann_phone = Client("olga"), Client("ann"), Client("ann")
    for client in (olga, ann, ann_phone):
        join(core, client)
    core.take_effects(), olga.take(), ann.take(), ann_phone.take()
    by_ann = ModerateRequest(ann, Action.KICK, "olga", ref=1)
    refused = moderation_refusal(rules, by_ann)
    assert refused is not None and refused.code == "forbidden"
    kick = ModerateRequest(olga, Action.KICK, "ann", reason="spam", ref=2)
    assert moderation_refusal(rules, kick) is None
    core.moderated(kick, RoomSettings(rules), invited=False)
    core.flush()
    assert ann.take()[-1] == {"type": "kicked", "room": "lobby", "by": "olga", "reason": "spam"}
    assert ann_phone.types() == ["kicked"]
    assert olga.types() == ["presence", "done"]
    assert ExpelledEvent("lobby", "ann", "olga", "spam") in core.take_effects()


def test_an_edit_reaches_the_members_and_a_later_join_with_since_gets_it() -> None:
    core = loaded_room([message(1), message(2)])
    ann, bob = Client("ann"), Client("bob")
    join(core, ann)
    core.take_effects(), ann.take()
    [change] = changes_asked(core.settings.rules, [ChangeRequest(ann, 1, "new text")])
    assert change == (1, "ann", "new text", False)  # nobody edits others' messages
    edited = attrs.evolve(message(1), text="new text", edited=NOW_MS)
    core.changed_by(ChangeRequest(ann, 1, "new text", ref="e"), edited, True)
    core.flush()
    assert ann.take() == [
        {
            "type": "edited",
            "room": "lobby",
            "id": 1,
            "text": "new text",
            "edited": NOW_MS,
            "ref": "e",
        }
    ]
    assert core.take_effects() == [ChangedEvent("lobby", edited)]
    join(core, bob, since=2, changes=[])
    joined = bob.take()[0]
    assert [c["id"] for c in joined["changes"]] == [1]
    assert not joined.get("changes_truncated")


def test_a_join_that_read_older_pages_itself_gets_them_joined_to_memory() -> None:
    kept = [message(i) for i in range(51, 61)]
    core = loaded_room(kept)
    read = HistoryPage([message(i) for i in range(41, 51)], more=True)
    ann = Client("ann")
    join(core, ann, since=40, prefetched=read)
    joined = ann.take()[0]
    assert [m["id"] for m in joined["history"]] == list(range(41, 61))
    assert joined["truncated"] is True  # the page said older ones exist beyond it


def test_what_other_servers_did_reaches_the_members_here() -> None:
    elsewhere = Elsewhere()
    core = loaded_room(elsewhere=elsewhere)
    ann = Client("ann")
    join(core, ann)
    ann.take()
    elsewhere.members["lobby"] = {"bob": 5}
    core.take(MembersChanged("lobby", ("bob",)), now=0.0)
    core.take(SettingsEvent("lobby"), now=0.0)
    core.flush()
    assert ann.take() == [{"type": "presence", "room": "lobby", "event": "join", "user": "bob"}]
    assert core.settings_stale and core.join_refusal("eve") is None  # read again first
    assert [m.user for m in core.members.listed(core.settings.rules)] == ["bob", "ann"]
    core.take(ExpelledEvent("lobby", "ann", "olga", None), now=0.0)
    assert ann.types() == ["kicked"]
    assert core.members.count == 1


def test_an_invitation_tells_the_members_here_the_room_as_it_is_now() -> None:
    rules = RoomRules(private=True, owner="olga", moderators=frozenset({"mo"}))
    core = loaded_room(rules=rules)
    olga, mo = Client("olga"), Client("mo")
    join(core, olga)
    join(core, mo)
    core.take_effects(), olga.take(), mo.take()
    invite = ModerateRequest(olga, Action.INVITE, "ivy", ref=3)
    core.moderated(invite, RoomSettings(rules), invited=True)
    core.flush()
    assert olga.types() == ["invited", "room"]
    assert mo.types() == ["room"]
    assert InvitationEvent("lobby", "ivy", "olga") in core.take_effects()


def test_clearing_the_topic_without_the_role_is_answered_as_always() -> None:
    rules = RoomRules(owner="olga")
    member = Client("ann")
    refused = settings_refusal(rules, SettingsRequest(member, topic="", ref=1))
    assert refused is not None and refused.message == "only the owner may do that here"
    refused = settings_refusal(rules, SettingsRequest(member, topic="news", ref=1))
    assert (
        refused is not None and refused.message == "only the owner and moderators may do that here"
    )
