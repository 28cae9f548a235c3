"""Bots' commands over the protocol, against running servers: registered,
listed, invoked from a room, answered for the invoker alone or in the room,
"did not answer" after 3 s, and across two nodes on one Redis."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection

from tests.blackbox import (
    RunningServer,
    error_code,
    hello,
    receive,
    receive_until,
    send,
    start_server,
    stop_server,
)
from tests.conftest import Cluster
from tests.test_user_admin import PASSWORD, user

ROLL = {"name": "roll", "description": "Roll a die.", "usage": "/roll [sides]"}


def bot_token(server: RunningServer, name: str = "roller", owner: str = "alice") -> str:
    if user(server, "list").stdout.find(f"{owner}\t") < 0:
        user(server, "add", owner, password=PASSWORD + "\n")
    return user(server, "add", name, "--bot", "--owner", owner).stdout.splitlines()[-1]


def request(ws: ClientConnection, frame_type: str, **frame: Any) -> dict[str, Any]:
    """Send a frame with a ref and return the answer that carries it."""
    send(ws, type=frame_type, ref=f"{frame_type}?", **frame)
    while (answer := receive_until_ref(ws)).get("ref") != f"{frame_type}?":
        pass
    return answer


def receive_until_ref(ws: ClientConnection) -> dict[str, Any]:
    while "ref" not in (frame := receive(ws)):
        pass
    return frame


def member(server: RunningServer, name: str, room: str) -> ClientConnection:
    ws = hello(server, name)
    send(ws, type="join", room=room)
    receive_until(ws, "joined")
    return ws


def test_a_command_registered_listed_invoked_and_answered(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        bot = hello(server, "roller", bot_token(server))
        assert request(bot, "register", commands=[ROLL])["type"] == "done"
        carol = member(server, "carol", "games")
        listed = request(carol, "commands")
        assert listed["commands"] == [{**ROLL, "bot": "roller"}]
        assert error_code(carol, type="register", commands=[ROLL]) == "forbidden"  # not a bot

        assert request(carol, "command", room="games", name="roll", args="20")["type"] == "done"
        invoked = receive_until(bot, "command")
        assert {k: invoked[k] for k in ("room", "user", "name", "args")} == {
            "room": "games",
            "user": "carol",
            "name": "roll",
            "args": "20",
        }
        answer = {"id": invoked["id"]}
        assert request(bot, "respond", **answer, text="just you: 17", ephemeral=True)["type"] == (
            "done"
        )
        assert receive_until(carol, "ephemeral") == {
            "type": "ephemeral",
            "room": "games",
            "bot": "roller",
            "text": "just you: 17",
        }
        request(bot, "respond", **answer, text="everyone: 17")  # the bot is no member
        posted = receive_until(carol, "message")
        assert (posted["user"], posted["text"], posted["bot"]) == ("roller", "everyone: 17", True)
        for _ in range(3):
            request(bot, "respond", **answer, text="again", ephemeral=True)
        assert error_code(bot, type="respond", **answer, text="a sixth") == "bad_request"
        assert error_code(bot, type="respond", id="made-up", text="x") == "not_found"

        # Not answered within 3 s: the invoker hears so, from the server.
        request(carol, "command", room="games", name="roll")
        receive_until(bot, "command")
        started = time.monotonic()
        silence = receive_until(carol, "ephemeral")
        assert silence["bot"] == "roller" and "did not answer" in silence["text"]
        assert time.monotonic() - started > 2.0
        # Deferred: no such notice.
        request(carol, "command", room="games", name="roll", args="slow")
        request(bot, "defer", id=receive_until(bot, "command")["id"])
        assert error_code(carol, type="command", room="elsewhere", name="roll") == "not_member"
        assert error_code(carol, type="command", room="games", name="dance") == "not_found"

        bot.close()
        time.sleep(3.5)  # (past the deferred one's 3 s)
        assert request(carol, "commands")["commands"] == []  # gone with its connection
        send(carol, type="ping", ref="last")
        assert [f["type"] for f in frames_until(carol, "last")] == ["pong"]  # no notice
    finally:
        assert stop_server(server) == 0


def frames_until(ws: ClientConnection, ref: str) -> list[dict[str, Any]]:
    frames = []
    while True:
        frames.append(frame := receive(ws))
        if frame.get("ref") == ref:
            return frames


def test_one_name_one_bot_and_the_rules_of_a_declaration(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        first = hello(server, "roller", bot_token(server))
        second = hello(server, "dicer", bot_token(server, "dicer"))
        request(first, "register", commands=[ROLL])
        assert error_code(second, type="register", commands=[ROLL]) == "conflict"
        again = hello(server, "roller", user(server, "token", "roller").stdout.strip())
        assert request(again, "register", commands=[ROLL])["type"] == "done"  # same bot
        for bad in (
            [{"name": "Roll"}],
            [{"name": "x" * 33}],
            [{"name": "ok", "usage": "u" * 201}],
            [{"name": "ok"}, {"name": "ok"}],
            "roll",
        ):
            assert error_code(second, type="register", commands=bad) == "bad_request"
        first.close()
        again.close()
        time.sleep(0.5)
        assert request(second, "register", commands=[ROLL])["type"] == "done"
    finally:
        assert stop_server(server) == 0


def test_the_invoker_and_the_bot_on_different_nodes(cluster: Cluster) -> None:
    one, two = cluster(2)
    bot = hello(two, "roller", bot_token(two))
    request(bot, "register", commands=[ROLL])
    carol = member(one, "carol", "games")
    deadline = time.monotonic() + 10
    while not request(carol, "commands")["commands"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    request(carol, "command", room="games", name="roll", args="6")
    invoked = receive_until(bot, "command")
    assert (invoked["user"], invoked["room"]) == ("carol", "games")
    request(bot, "respond", id=invoked["id"], text="only you: 3", ephemeral=True)
    assert receive_until(carol, "ephemeral")["text"] == "only you: 3"
    request(bot, "respond", id=invoked["id"], text="all: 3")
    posted = receive_until(carol, "message")
    assert (posted["user"], posted["bot"]) == ("roller", True)
    # Answered on the other node: no "did not answer" here.
    time.sleep(3.5)
    send(carol, type="ping", ref="last")
    assert [f["type"] for f in frames_until(carol, "last")] == ["pong"]
