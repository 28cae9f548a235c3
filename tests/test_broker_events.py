"""The broker's sans-IO parts: events as bytes, and the other nodes' members."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatroom.broker.presence import RemotePresence
from chatroom.cluster.events import (
    BadEvent,
    ChangedEvent,
    Event,
    ExpelledEvent,
    ForgottenEvent,
    InvitationEvent,
    MessagesEvent,
    NodeEvent,
    PresenceEvent,
    ReadEvent,
    RevokedEvent,
    SettingsEvent,
    TypingEvent,
    UnknownEvent,
    decode_event,
    encode_event,
    sender_prefix,
)
from chatroom.domain import ChatMessage
from chatroom.protocol import encode_message


@pytest.mark.parametrize(
    "event",
    [
        MessagesEvent(
            "Lobby",
            (
                ChatMessage("Lobby", 7, "ann", "hé \u2603", 1700000000000),
                ChatMessage("Lobby", 8, "bob", "", 1700000000001, "c-1"),
            ),
            node="n1",
        ),
        PresenceEvent("Lobby", "ann", 1700000000000, node="n2"),
        PresenceEvent("Lobby", "ann", None, node="n2"),
        NodeEvent(node="n3"),
        ForgottenEvent("Lobby", "ann", node="n8"),
        RevokedEvent("token-id", node="n4"),
        ChangedEvent(
            "Lobby", ChatMessage("Lobby", 3, "ann", "", 1, edited=None, deleted_by="mo"), node="n5"
        ),
        SettingsEvent("Lobby", node="n5"),
        ExpelledEvent("Lobby", "ann", "mo", "spam", node="n5"),
        ExpelledEvent("Lobby", "ann", "mo", None, node="n5"),
        InvitationEvent("secret", "ivy", "olga", node="n6"),
        TypingEvent("Lobby", "ann", node="n7"),
        ReadEvent("Lobby", "ann", 42, node="n7"),
    ],
)
def test_events_round_trip(event: Event) -> None:
    data = encode_event(event, event.node)
    assert decode_event(data) == event
    assert data.startswith(sender_prefix(event.node))


def test_a_kind_from_a_newer_node_is_skipped_not_refused() -> None:
    assert decode_event(b'{"v":2,"node":"n9","kind":"reaction","room":"x"}') == UnknownEvent(
        "reaction", node="n9"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b'{"node":"n","kind":"messages","room":"bad room","messages":[[1,"a","t",1,null]]}',
        b'{"node":"n","kind":"messages","room":"r","messages":[]}',
        b'{"node":"n","kind":"messages","room":"r","messages":[[1,"a","t",1,null],[3,"a","t",1,null]]}',
        b'{"node":"n","kind":"messages","room":"r","messages":[[0,"a","t",1,null]]}',
        b'{"node":"n","kind":"messages","room":"r","messages":[[1,"a","t",true,null]]}',
        b'{"node":"n","kind":"presence","room":"r","user":"no one","since":1}',
        b'{"node":"n","kind":"presence","room":"r","user":"a","since":"1"}',
        b'{"node":1,"kind":"node"}',
        b'{"node":"n","kind":"revoked","token":5}',
        b'{"node":"n","kind":"invitation","room":"r","user":"a"}',
        b'{"node":"n","kind":"read","room":"r","user":"a","id":-1}',
        b'{"node":"n","kind":"read","room":"r","user":"a","id":"1"}',
        b'{"node":"n","kind":"typing","room":"r"}',
        b'{"node":"n","kind":"invitation","room":"r","user":"a b","by":"c"}',
    ],
)
def test_malformed_events_are_refused(data: bytes) -> None:
    with pytest.raises(BadEvent):
        decode_event(data)


@given(st.binary(max_size=200))
def test_no_bytes_crash_the_decoder(data: bytes) -> None:
    try:
        decode_event(data)
    except BadEvent:
        pass


def test_a_user_on_two_nodes_is_one_member_until_both_leave() -> None:
    remote = RemotePresence()
    remote.join("n1", "Lobby", "ann", 20)
    remote.join("n2", "Lobby", "ann", 10)
    remote.join("n2", "Lobby", "bob", 30)
    assert remote.users("lobby") == {"ann": 10, "bob": 30}
    remote.leave("n2", "Lobby", "ann")
    assert remote.users("lobby") == {"ann": 20, "bob": 30}
    assert remote.has("lobby", "ann")
    remote.leave("n1", "lobby", "ann")
    assert not remote.has("lobby", "ann")
    assert remote.name("lobby") == "Lobby"


def test_a_dead_node_takes_only_its_own_members() -> None:
    remote = RemotePresence()
    remote.join("n1", "a", "ann", 1)
    remote.join("n2", "a", "ann", 2)
    remote.join("n2", "b", "bob", 3)
    assert remote.drop_node("n2") == {("a", "ann"), ("b", "bob")}
    assert remote.users("a") == {"ann": 1}
    assert remote.users("b") == {}
    assert remote.nodes == ["n1"]


def test_a_node_rewritten_whole_reports_what_it_touched() -> None:
    remote = RemotePresence()
    remote.join("n1", "a", "ann", 1)
    changed = remote.replace_node("n1", {("a", "bob"): 5, ("c", "cid"): 6})
    assert changed == {("a", "ann"), ("a", "bob"), ("c", "cid")}
    assert remote.users("a") == {"bob": 5}


def test_messages_carry_their_frame_text_so_other_nodes_encode_nothing() -> None:
    message = ChatMessage("Lobby", 7, "ann", "hé \u2603", 1700000000000, "c-1")
    data = encode_event(MessagesEvent("Lobby", (message,)), "n1")
    [received] = decode_event(data).messages  # type: ignore[attr-defined]
    assert received == message
    assert received.frame_text == encode_message(message)
    assert encode_message(received) == encode_message(message)
    # A node from before the texts sends rows alone: they are encoded here.
    older = (
        b'{"node":"n0","kind":"messages","room":"Lobby",'
        b'"messages":[[7,"ann","hi",1,null,null,null]]}'
    )
    [received] = decode_event(older).messages  # type: ignore[attr-defined]
    assert encode_message(received) == encode_message(ChatMessage("Lobby", 7, "ann", "hi", 1))
