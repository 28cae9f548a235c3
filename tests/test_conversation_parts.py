"""The sans-IO parts of 1.2's richer conversations: mentions found in text,
reactions applied, the new frames parsed and encoded, and messages with
replies, mentions and reactions carried between nodes."""

from __future__ import annotations

import json

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatroom import protocol
from chatroom.cluster.events import ChangedEvent, MessagesEvent, decode_event, encode_event
from chatroom.domain import ChatMessage
from chatroom.domain.mentions import MAX_MENTIONS, mention_candidates, mentioned
from chatroom.domain.reactions import MAX_DISTINCT, TooManyReactions, react
from chatroom.protocol import ProtocolError
from chatroom.rooms.recent import CacheBudget
from chatroom.rooms.timeline import Timeline


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("hi @ann and @Bob!", ["ann", "Bob"]),
        ("mail ann@example.com or @@bob", []),
        ("thanks @ann.", ["ann.", "ann"]),
        ("`@ann` and\n```\n@bob\n```\n@carol", ["carol"]),
        ("@ann @ANN @ann", ["ann"]),
        ("no one here", []),
        ("@" + "a" * 40, []),
    ],
)
def test_mention_candidates(text: str, names: list[str]) -> None:
    assert mention_candidates(text) == names


def test_mentions_are_the_known_users_spelled_as_known() -> None:
    known = {"ann": "Ann", "bob.": "bob."}
    assert mentioned("@ann. @bob. @nobody @ANN", known) == ("Ann", "bob.")
    many = " ".join(f"@u{i}" for i in range(50))
    assert len(mention_candidates(many)) == MAX_MENTIONS
    assert len(mentioned(many, {f"u{i}": f"u{i}" for i in range(50)})) == MAX_MENTIONS


@given(st.text(max_size=300))
def test_any_text_gives_at_most_max_mentions(text: str) -> None:
    assert len(mention_candidates(text)) <= MAX_MENTIONS


def test_reactions_toggle_in_order_and_are_bounded() -> None:
    reactions = react((), "👍", "ann", True)
    assert reactions == (("👍", ("ann",)),)
    assert react(reactions, "👍", "ANN", True) is None  # (the same user, in any case)
    reactions = react(reactions, "🎉", "bob", True)
    reactions = react(reactions or (), "👍", "bob", True)
    assert reactions == (("👍", ("ann", "bob")), ("🎉", ("bob",)))
    assert react(reactions, "👍", "ann", False) == (("👍", ("bob",)), ("🎉", ("bob",)))
    assert react((("x", ("ann",)),), "x", "ann", False) == ()
    assert react((), "x", "ann", False) is None
    full = tuple((f"e{i}", ("ann",)) for i in range(MAX_DISTINCT))
    with pytest.raises(TooManyReactions):
        react(full, "one more", "bob", True)
    assert react(full, "e0", "bob", True) is not None  # (not a new emoji)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "react", "room": "r", "id": 1, "emoji": "", "on": True},
        {"type": "react", "room": "r", "id": 1, "emoji": "a b", "on": True},
        {"type": "react", "room": "r", "id": 1, "emoji": "x" * 33, "on": True},
        {"type": "react", "room": "r", "id": 1, "emoji": "x"},
        {"type": "react", "room": "r", "id": 0, "emoji": "x", "on": True},
        {"type": "users", "prefix": "a b"},
        {"type": "users", "after": "not a name"},
        {"type": "users", "limit": 101},
        {"type": "transfer", "room": "r"},
        {"type": "archive", "room": "r", "archived": "yes"},
        {"type": "send", "room": "r", "text": "x", "reply_to": 0},
    ],
)
def test_bad_frames_are_bad_requests(frame: dict[str, object]) -> None:
    with pytest.raises(ProtocolError) as refused:
        protocol.parse_request(json.dumps(frame))
    assert refused.value.code == "bad_request"


def test_new_frames_parse_and_encode() -> None:
    assert protocol.parse_request(
        '{"type":"react","room":"r","id":2,"emoji":"🚀","on":false,"ref":1}'
    ) == protocol.React("r", 2, "🚀", False, 1)
    assert protocol.parse_request('{"type":"users"}') == protocol.Users()
    assert protocol.parse_request(
        '{"type":"transfer","room":"r","user":"bob"}'
    ) == protocol.Transfer("r", "bob")
    assert json.loads(protocol.encode_mention("r", 3, "ann")) == {
        "type": "mention",
        "room": "r",
        "id": 3,
        "by": "ann",
    }
    users = protocol.encode_users([protocol.DirectoryEntry("ann", False, True)], more=True)
    assert json.loads(users) == {
        "type": "users",
        "users": [{"user": "ann", "bot": False, "online": True}],
        "more": True,
    }


def test_messages_with_replies_mentions_and_reactions_cross_nodes() -> None:
    message = ChatMessage(
        "r", 4, "ann", "@bob yes", 10, reply_to=2, mentions=("bob",), reactions=(("👍", ("bob",)),)
    )
    event = MessagesEvent("r", (message,), ((4, ("bob",)),))
    decoded = decode_event(encode_event(event, "n1"))
    assert isinstance(decoded, MessagesEvent)
    assert decoded.messages == (message,) and decoded.notify == ((4, ("bob",)),)
    changed = decode_event(encode_event(ChangedEvent("r", message, reacted=True), "n1"))
    assert isinstance(changed, ChangedEvent) and changed.reacted and changed.message == message
    assert message.as_json()["reactions"] == {"👍": ["bob"]}
    assert ChatMessage("r", 5, "ann", "x", 10).as_json()["mentions"] == []


def test_a_change_heard_after_a_later_one_is_dropped() -> None:
    timeline = Timeline(CacheBudget())
    original = ChatMessage("r", 1, "ann", "hi", 10)
    timeline.load(1, [original], seen=False)
    first = attrs.evolve(original, reactions=(("👍", ("bob",)),), version=1)
    second = attrs.evolve(original, reactions=(("👍", ("bob", "cy")),), version=2)
    assert timeline.newer(second) is None
    timeline.change(second)
    assert timeline.newer(first) == second  # (heard out of order: stale)
    assert timeline.newer(attrs.evolve(original, text="edited", version=3)) is None
