"""Who holds a command, without I/O: here, elsewhere, the earlier of two,
and a silent server's commands forgotten; the bot frames parsed."""

from __future__ import annotations

import pytest

from chatroom import protocol
from chatroom.commands.holders import EXPIRY, Holder, Holders
from chatroom.protocol import CommandSpec, ProtocolError

ROLL, FLIP = CommandSpec("roll", "Roll a die."), CommandSpec("flip")


def test_a_connection_holds_what_it_registered_last_and_another_bot_is_refused() -> None:
    holders: Holders[str] = Holders()
    assert holders.register("conn-1", "roller", (ROLL, FLIP), 100, 0.0) is None
    assert holders.register("conn-2", "dicer", (ROLL,), 200, 0.0) == "roll"
    assert holders.register("conn-1", "roller", (FLIP,), 300, 0.0) is None  # roll let go
    assert [h.spec.name for h in holders.listing(0.0)] == ["flip"]
    assert holders.holder("flip", 0.0) == Holder(FLIP, "roller", 100, connection="conn-1")
    assert holders.register("conn-2", "dicer", (ROLL,), 400, 0.0) is None
    assert holders.drop("conn-1") and not holders.drop("conn-1")
    assert [(h.spec.name, h.bot) for h in holders.listing(0.0)] == [("roll", "dicer")]


def test_another_servers_commands_last_while_it_repeats_them_and_the_earlier_wins() -> None:
    holders: Holders[str] = Holders()
    holders.register("here", "late", (ROLL,), 500, 0.0)
    holders.elsewhere("node-b", [Holder(ROLL, "early", 100, "node-b")], now=0.0)
    assert holders.holder("roll", 1.0) == Holder(ROLL, "early", 100, "node-b")
    assert [h.bot for h in holders.listing(1.0)] == ["early"]
    assert holders.holder("roll", EXPIRY + 0.1) == Holder(ROLL, "late", 500, connection="here")


def test_bot_frames_parse_and_bad_ones_are_refused() -> None:
    register = protocol.parse_request(
        '{"type":"register","commands":[{"name":"roll","description":"d","usage":"u"}]}'
    )
    assert register == protocol.Register((CommandSpec("roll", "d", "u"),))
    invoke = protocol.parse_request('{"type":"command","room":"r","name":"roll","args":"2"}')
    assert invoke == protocol.Invoke("r", "roll", "2")
    respond = protocol.parse_request('{"type":"respond","id":"c1","text":"hi","ephemeral":true}')
    assert respond == protocol.Respond("c1", "hi", True)
    assert protocol.parse_request('{"type":"defer","id":"c1"}') == protocol.Defer("c1")
    for bad in (
        '{"type":"command","room":"r","name":"roll","args":1}',
        '{"type":"command","room":"r","name":"ROLL"}',
        '{"type":"respond","id":"c1","text":""}',
        '{"type":"respond","id":"c1","text":"x","ephemeral":"yes"}',
        '{"type":"register","commands":[1]}',
    ):
        with pytest.raises(ProtocolError):
            protocol.parse_request(bad)
