"""The sans-IO protocol: every frame type, every error, arbitrary input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatroom import protocol
from chatroom.domain import (
    ChatMessage,
    ErrorCode,
    HistoryPage,
    Member,
    RoomCount,
    RoomsPage,
    UserRoom,
    direct_room_name,
    direct_room_users,
    is_valid_room_name,
    is_valid_user_name,
)
from chatroom.protocol import (
    History,
    Join,
    Leave,
    Members,
    Ping,
    ProtocolError,
    Rooms,
    Send,
    parse_request,
)


def frame(**fields: Any) -> str:
    return json.dumps(fields)


def refused(text: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_request(text)
    return info.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (frame(type="hello", token="t"), protocol.Hello("t")),
        (frame(type="ping", ref=7), Ping(7)),
        (frame(type="join", room="lobby"), Join("lobby")),
        (frame(type="join", room="a.b-c_D9", since=12, ref="r"), Join("a.b-c_D9", 12, "r")),
        (frame(type="leave", room="lobby"), Leave("lobby")),
        (frame(type="decline", room="plans", ref=1), protocol.Decline("plans", 1)),
        (frame(type="send", room="lobby", text="hi ☃"), Send("lobby", "hi ☃")),
        (
            frame(type="send", room="lobby", text="x", ref=2, cid="c" * 64),
            Send("lobby", "x", 2, "c" * 64),
        ),
        (frame(type="send", room="lobby", text="x", cid=None), Send("lobby", "x")),
        (frame(type="members", room="lobby"), Members("lobby")),
        (frame(type="rooms", ref=1.5), Rooms(1.5)),
        (
            frame(type="rooms", prefix="Gen", after="general", limit=200),
            Rooms(None, "Gen", "general", 200),
        ),
        (frame(type="history", room="lobby"), History("lobby", None, 50)),
        (frame(type="history", room="x", before=10, limit=200), History("x", 10, 200)),
        (frame(type="join", room="lobby", since=None), Join("lobby")),
        (frame(type="ping", extra={"ignored": True}), Ping()),
    ],
)
def test_parses_every_request_type(text: str, expected: protocol.Request) -> None:
    assert parse_request(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[]",
        '"hello"',
        "null",
        "{}",
        frame(type=1),
        frame(type="launch"),
        frame(type="hello"),
        frame(type="hello", token=5),
        frame(type="join"),
        frame(type="join", room=""),
        frame(type="join", room="x" * 65),
        frame(type="join", room="no spaces"),
        frame(type="join", room="émoji"),
        frame(type="join", room="lobby", since=-1),
        frame(type="join", room="lobby", since="3"),
        frame(type="join", room="lobby", since=True),
        frame(type="join", room="lobby", since=1.5),
        frame(type="send", room="lobby"),
        frame(type="send", room="lobby", text=""),
        frame(type="send", room="lobby", text=["x"]),
        frame(type="send", room="lobby", text="x", cid=""),
        frame(type="send", room="lobby", text="x", cid="c" * 65),
        frame(type="send", room="lobby", text="x", cid=5),
        frame(type="history", room="lobby", limit=0),
        frame(type="rooms", prefix="no spaces"),
        frame(type="rooms", prefix="x" * 65),
        frame(type="rooms", after=""),
        frame(type="rooms", limit=201),
        frame(type="history", room="lobby", limit=201),
        frame(type="history", room="lobby", before=-5),
        frame(type="history", room="lobby", before=2**63),
        frame(type="join", room="lobby", since=2**63),
        '{"type":"ping","ref":NaN}',
        '{"type":"ping","ref":1e999}',
        '{"type":"ping","ref":-1e400}',
        '{"type":"ping","type":"ping"}',
        '{"type":"send","room":"a","text":"\\ud800"}',
        "[" * 100_000 + "]" * 100_000,
        '{"type":"ping","n":' + "9" * 5000 + "}",
    ],
)
def test_bad_requests_are_refused(text: str) -> None:
    assert refused(text).code is ErrorCode.BAD_REQUEST


def test_text_over_the_limit_is_too_large() -> None:
    assert parse_request(frame(type="send", room="r", text="x" * 4000)) == Send("r", "x" * 4000)
    error = refused(frame(type="send", room="r", text="x" * 4001, ref="big"))
    assert (error.code, error.ref) == (ErrorCode.TOO_LARGE, "big")


def test_names_at_their_bounds() -> None:
    assert parse_request(frame(type="join", room="r" * 64)) == Join("r" * 64)
    assert is_valid_user_name("u" * 32)
    assert not is_valid_user_name("u" * 33)
    assert not is_valid_user_name("")


def test_errors_carry_the_ref() -> None:
    assert refused(frame(type="join", room="bad name", ref="abc")).ref == "abc"
    assert refused(frame(type="nope", ref=42)).ref == 42


@pytest.mark.parametrize("ref", ["x" * 65, True, None, [1], {"a": 1}, 10**70, "\ud800"])
def test_bad_refs_are_refused_without_echo(ref: object) -> None:
    text = json.dumps({"type": "ping", "ref": ref})
    if ref is None:
        assert parse_request(text) == Ping()
        return
    error = refused(text)
    assert (error.code, error.ref) == (ErrorCode.BAD_REQUEST, None)


def test_encoders_produce_the_documented_shapes() -> None:
    message = ChatMessage(room="r", id=3, user="u", text="hé", ts=1000)
    sent_with_cid = ChatMessage(room="r", id=4, user="u", text="x", ts=1000, cid="c-1")
    members = [Member("u", 5)]
    edited = ChatMessage(room="r", id=3, user="u", text="new", ts=1000, edited=2000)
    deleted = ChatMessage(room="r", id=4, user="u", text="", ts=1000, deleted_by="m")
    cases = [
        (
            protocol.encode_welcome("u", "s", "1.0", [UserRoom("r", 7)], 1, [("p", "o")]),
            {
                "type": "welcome",
                "user": "u",
                "session": "s",
                "server": {"version": "1.0", "protocol": "1.2"},
                "rooms": [{"room": "r", "unread": 7}],
                "invitations": [{"room": "p", "by": "o"}],
                "ref": 1,
            },
        ),
        (protocol.encode_pong(), {"type": "pong"}),
        (
            protocol.encode_message(message, "x"),
            {
                "type": "message",
                "room": "r",
                "id": 3,
                "user": "u",
                "text": "hé",
                "ts": 1000,
                "mentions": [],
                "ref": "x",
            },
        ),
        (
            protocol.encode_message(sent_with_cid),
            {"type": "message", "room": "r", "id": 4, "user": "u", "text": "x", "ts": 1000}
            | {"cid": "c-1", "mentions": []},
        ),
        (
            protocol.encode_joined("r", members, HistoryPage([message], more=True)),
            {
                "type": "joined",
                "room": "r",
                "info": {
                    "private": False,
                    "topic": "",
                    "owner": None,
                    "moderators": [],
                    "archived": False,
                },
                "read": None,
                "members": [{"user": "u", "since": 5}],
                "history": [message.as_json()],
                "more": True,
            },
        ),
        (
            protocol.encode_joined("r", [], HistoryPage([], more=False), changes=[edited, deleted]),
            {
                "type": "joined",
                "room": "r",
                "info": {
                    "private": False,
                    "topic": "",
                    "owner": None,
                    "moderators": [],
                    "archived": False,
                },
                "read": None,
                "members": [],
                "history": [],
                "more": False,
                "changes": [
                    {"type": "edited", "room": "r", "id": 3, "text": "new", "edited": 2000},
                    {"type": "deleted", "room": "r", "id": 4, "by": "m"},
                ],
            },
        ),
        (protocol.encode_left("r", "l"), {"type": "left", "room": "r", "ref": "l"}),
        (protocol.encode_typing("r", "u"), {"type": "typing", "room": "r", "user": "u"}),
        (protocol.encode_read("r", 7, 1), {"type": "read", "room": "r", "id": 7, "ref": 1}),
        (
            protocol.encode_members("r", members),
            {"type": "members", "room": "r", "members": [{"user": "u", "since": 5}]},
        ),
        (
            protocol.encode_rooms(RoomsPage([RoomCount("r", 2)], more=True)),
            {"type": "rooms", "rooms": [{"room": "r", "count": 2, "private": False}], "more": True},
        ),
        (
            protocol.encode_history("r", HistoryPage([message], more=False)),
            {"type": "history", "room": "r", "messages": [message.as_json()], "more": False},
        ),
        (
            protocol.encode_presence("r", "join", "u"),
            {"type": "presence", "room": "r", "event": "join", "user": "u"},
        ),
        (
            protocol.encode_presence("r", "join", "robot", bot=True),
            {"type": "presence", "room": "r", "event": "join", "user": "robot", "bot": True},
        ),
    ]
    for text, expected in cases:
        assert json.loads(text) == expected


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_encodes(code: ErrorCode) -> None:
    text = protocol.encode_error(ProtocolError(code, "why", "r"))
    assert json.loads(text) == {"type": "error", "code": code.value, "message": "why", "ref": "r"}


def test_unicode_text_is_sent_as_utf8_not_escaped() -> None:
    text = protocol.encode_message(ChatMessage("r", 1, "u", "日本語 🎉", 0))
    assert "日本語 🎉" in text


@given(
    text=st.text(max_size=50),
    cid=st.none() | st.text(max_size=10),
    ref=st.text(max_size=10) | st.integers() | st.floats(allow_nan=False, allow_infinity=False),
)
def test_a_message_with_its_ref_is_its_frame_text_with_ref_last(
    text: str, cid: str | None, ref: str | int | float
) -> None:
    message = ChatMessage("r", 1, "u", text, 0, cid)
    own = protocol.encode_message(message, ref)
    assert json.loads(own) == {**message.as_json(), "ref": ref}
    assert own == json.dumps(
        {**message.as_json(), "ref": ref}, separators=(",", ":"), ensure_ascii=False
    )
    assert protocol.encode_message(message) == message.frame_text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(st.text())
def test_arbitrary_text_gives_a_request_or_a_protocol_error(text: str) -> None:
    try:
        parse_request(text)
    except ProtocolError as error:
        assert error.code in ErrorCode


# Every field a request may have, so that every parser meets every kind of value.
FIELDS = (
    "type", "room", "text", "token", "since", "before", "limit", "ref",
    "id", "user", "reason", "topic", "role", "cid", "private",
)  # fmt: skip


@given(
    st.dictionaries(
        st.sampled_from(FIELDS),
        json_values
        | st.sampled_from(["hello", "join", "leave", "send", "members", "rooms", "history"])
        | st.sampled_from(["edit", "delete", "topic", "role", "kick", "ban", "unban"])
        | st.sampled_from(["create", "invite", "typing", "read", "direct", "@a,b"]),
    )
)
def test_arbitrary_objects_give_a_request_or_a_protocol_error(obj: dict[str, Any]) -> None:
    try:
        request = parse_request(json.dumps(obj))
    except ProtocolError as error:
        assert error.code in ErrorCode
        if error.ref is not None:
            assert error.ref == obj["ref"]
    else:
        assert request.ref == obj.get("ref")


def test_edit_and_delete_requests() -> None:
    assert protocol.parse_request(
        '{"type":"edit","room":"r","id":3,"text":"better","ref":1}'
    ) == protocol.Edit("r", 3, "better", 1)
    assert protocol.parse_request('{"type":"delete","room":"r","id":3}') == protocol.Delete("r", 3)
    for bad in (
        '{"type":"edit","room":"r","text":"x"}',
        '{"type":"edit","room":"r","id":0,"text":"x"}',
        '{"type":"edit","room":"r","id":"3","text":"x"}',
        '{"type":"edit","room":"r","id":3,"text":""}',
        '{"type":"delete","room":"r"}',
        '{"type":"delete","room":"r","id":true}',
    ):
        with pytest.raises(ProtocolError) as info:
            protocol.parse_request(bad)
        assert info.value.code == ErrorCode.BAD_REQUEST
    with pytest.raises(ProtocolError) as info:
        protocol.parse_request(
            json.dumps({"type": "edit", "room": "r", "id": 1, "text": "x" * 4001})
        )
    assert info.value.code == ErrorCode.TOO_LARGE


def test_create_and_invite_requests() -> None:
    parse = protocol.parse_request
    assert parse('{"type":"create","room":"r"}') == protocol.Create("r")
    assert parse(
        '{"type":"create","room":"r","private":true,"topic":"t","ref":2}'
    ) == protocol.Create("r", True, "t", 2)
    assert parse('{"type":"invite","room":"r","user":"ivy","reason":"ignored"}') == (
        protocol.Moderate("invite", "r", "ivy")
    )
    for bad in (
        '{"type":"create","room":"r","private":1}',
        '{"type":"create","room":"r","topic":5}',
        '{"type":"topic","room":"r"}',  # a topic request needs its topic
        '{"type":"invite","room":"r"}',
    ):
        with pytest.raises(ProtocolError) as info:
            parse(bad)
        assert info.value.code == ErrorCode.BAD_REQUEST
    assert json.loads(protocol.encode_invited("r", "ivy", ref=1)) == {
        "type": "invited", "room": "r", "user": "ivy", "ref": 1,
    }  # fmt: skip
    assert json.loads(protocol.encode_invitation("r", "olga")) == {
        "type": "invitation", "room": "r", "by": "olga",
    }  # fmt: skip


def test_edited_and_deleted_messages_encode_as_documented() -> None:
    edited = ChatMessage("r", 3, "ann", "better", 10, edited=20)
    deleted = ChatMessage("r", 4, "ann", "", 11, deleted_by="mod")
    assert json.loads(protocol.encode_change(edited, ref=7)) == {
        "type": "edited", "room": "r", "id": 3, "text": "better", "edited": 20, "ref": 7,
    }  # fmt: skip
    assert json.loads(protocol.encode_change(deleted)) == {
        "type": "deleted", "room": "r", "id": 4, "by": "mod",
    }  # fmt: skip
    assert edited.as_json()["edited"] == 20
    assert deleted.as_json() == {
        "type": "message", "room": "r", "id": 4, "user": "ann", "ts": 11, "deleted": True,
    }  # fmt: skip


def test_direct_room_names_are_one_per_pair() -> None:
    assert direct_room_name("bob", "Alice") == "@Alice,bob"
    assert direct_room_name("Alice", "bob") == "@Alice,bob"
    assert direct_room_users("@Alice,bob") == ("Alice", "bob")
    for not_direct in ("@bob,Alice", "@ann,ANN", "@ann", "@ann,", "ann,bob", "@a,b,c"):
        assert direct_room_users(not_direct) is None
    assert is_valid_room_name("@" + "a" * 32 + "," + "b" * 32)
    assert not is_valid_room_name("@bob,Alice")
    assert protocol.parse_request('{"type":"direct","user":"bob","since":3}') == (
        protocol.Direct("bob", 3)
    )
    with pytest.raises(ProtocolError):
        protocol.parse_request('{"type":"create","room":"@a,b"}')
    entry = RoomCount("@a,b", 1, private=True, unread=2).as_json()
    assert entry == {"room": "@a,b", "count": 1, "private": True, "direct": True, "unread": 2}
