"""Bot accounts against a running server: made and given tokens from the
command line, said to be bots in members and messages (stored, so after a
restart too), never logged in with a password, and shut out while their
owner is banned."""

from __future__ import annotations

import time
from pathlib import Path

from tests.blackbox import hello, receive_until, send, start_server, stop_server
from tests.test_user_admin import (
    CLOSE_UNAUTHORIZED,
    PASSWORD,
    closed_within,
    login,
    refused_at_hello,
    user,
)


def test_a_bot_account_its_token_its_badge_and_its_owner(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        user(server, "add", "alice", password=PASSWORD + "\n")
        added = user(server, "add", "roller", "--bot", "--owner", "ALICE")
        token = added.stdout.splitlines()[-1]
        assert "owned by alice" in added.stderr
        assert login(server, "roller", "")[0] == 403  # no password to log in with
        status, body = login(server, "roller", "anything at all")
        assert (status, body["error"]["code"]) == (403, "forbidden")
        assert user(server, "password", "roller", password=PASSWORD + "\n", check=False).returncode

        bot = hello(server, "roller", token)
        send(bot, type="join", room="dice")
        joined = receive_until(bot, "joined")
        assert [(m["user"], m.get("bot")) for m in joined["members"]] == [("roller", True)]
        send(bot, type="send", room="dice", text="rolled a 4", ref="r")
        sent = receive_until(bot, "message")
        assert (sent["user"], sent["bot"], sent["ref"]) == ("roller", True, "r")

        _, body = login(server, "alice")
        alice = hello(server, "alice", body["token"])
        send(alice, type="join", room="dice")
        joined = receive_until(alice, "joined")
        members = {m["user"]: m.get("bot", False) for m in joined["members"]}
        assert members == {"roller": True, "alice": False}
        assert [(m["text"], m.get("bot")) for m in joined["history"]] == [("rolled a 4", True)]
        send(alice, type="send", room="dice", text="nice")
        assert "bot" not in receive_until(alice, "message")

        listing = [line.split("\t") for line in user(server, "list").stdout.splitlines()]
        assert [[name, *rest] for name, _created, *rest in listing] == [
            ["alice", "-"],
            ["roller", "-", "bot of alice"],
        ]

        # Banning the owner shuts the bot out, live session and token both.
        user(server, "ban", "alice")
        assert closed_within(bot, 5.0) == CLOSE_UNAUTHORIZED
        assert "owner is banned" in refused_at_hello(server, token)
        user(server, "unban", "alice")
        time.sleep(3)  # every server has read it
        fresh = user(server, "token", "roller").stdout.strip()
        for working in (token, fresh):
            hello(server, "roller", working).close()
    finally:
        assert stop_server(server) == 0

    # Stored: after a restart, history still says who was a bot.
    server = start_server(tmp_path / "data")
    try:
        status, body, _ = server.http("GET", "/api/rooms/dice/messages", fresh)
        assert status == 200
        assert [m.get("bot", False) for m in body["messages"]] == [True, False]
    finally:
        assert stop_server(server) == 0


def test_a_bot_needs_an_owner_with_an_account(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        no_owner = user(server, "add", "lonely", "--bot", check=False)
        assert no_owner.returncode == 2 and "--owner" in no_owner.stderr
        unknown = user(server, "add", "lonely", "--bot", "--owner", "nobody", check=False)
        assert unknown.returncode == 1 and "no user account 'nobody'" in unknown.stderr
        user(server, "add", "alice", password=PASSWORD + "\n")
        user(server, "add", "helper", "--bot", "--owner", "alice")
        bot_owner = user(server, "add", "helper2", "--bot", "--owner", "helper", check=False)
        assert bot_owner.returncode == 1  # a bot owns no bot
        taken = user(server, "add", "Helper", "--bot", "--owner", "alice", check=False)
        assert taken.returncode == 1 and "taken" in taken.stderr
    finally:
        assert stop_server(server) == 0
