"""A bot process (`python -m chatroom bot run`) and a user against a real
server: the example bot's commands, wrong arguments answered with the
usage, a handler that raises, and a slow one that blocks nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from websockets.sync.client import ClientConnection

from tests.blackbox import RunningServer, clean_env, receive_until, start_server
from tests.blackbox import stop_server as stop_chat_server
from tests.browser import ROOT
from tests.test_commands import bot_token, member, request

TRICKS = '''
import trio
from chatroom.client import Bot

bot = Bot()


@bot.command()
async def boom(ctx):
    """Fail."""
    raise RuntimeError("it broke")


@bot.command()
async def slow(ctx, seconds: float):
    """Take a while."""
    await ctx.defer()
    await trio.sleep(seconds)
    await ctx.respond("done at last", ephemeral=True)


@bot.command(name="say-it")
async def say_it(ctx, loud: bool, text: str):
    """Say something, perhaps loudly."""
    await ctx.respond(text.upper() if loud else text, ephemeral=True)
'''


def start_bot(server: RunningServer, spec: str, token: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chatroom", "bot", "run", spec, "--url", server.ws_url],
        env={**clean_env(), "CHATROOM_TOKEN": token},
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_bot(bot: subprocess.Popen[str]) -> int:
    bot.send_signal(signal.SIGINT)
    try:
        return bot.wait(10)
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()


def until_listed(ws: ClientConnection, name: str) -> list[dict[str, str]]:
    deadline = time.monotonic() + 15
    while True:
        commands: list[dict[str, str]] = request(ws, "commands")["commands"]
        if any(c["name"] == name for c in commands):
            return commands
        assert time.monotonic() < deadline, "the bot never registered"
        time.sleep(0.1)


def ephemeral_for(ws: ClientConnection, name: str, args: str = "") -> str:
    request(ws, "command", room="games", name=name, args=args)
    text: str = receive_until(ws, "ephemeral")["text"]
    return text


def test_the_example_bot_as_a_process(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    bot = start_bot(server, "examples/dice_bot.py:bot", bot_token(server, "dice"))
    try:
        carol = member(server, "carol", "games")
        commands = until_listed(carol, "roll")
        assert {c["name"]: (c["bot"], c["usage"]) for c in commands} == {
            "roll": ("dice", "/roll [sides:int]"),
            "echo": ("dice", "/echo text"),
        }
        request(carol, "command", room="games", name="roll", args="20")
        rolled = receive_until(carol, "message")
        assert rolled["user"] == "dice" and rolled["bot"] is True
        assert rolled["text"].startswith("carol rolled ") and rolled["text"].endswith("(d20)")
        assert 1 <= int(rolled["text"].split()[2]) <= 20
        assert ephemeral_for(carol, "echo", "hello there") == "hello there"
        assert ephemeral_for(carol, "roll", "many") == (
            "sides must be int, not 'many'. Usage: /roll [sides:int]"
        )
    finally:
        assert stop_bot(bot) == 0
        assert stop_chat_server(server) == 0


def readme_bot() -> str:
    """The bot of the README's "Write a bot", as written there."""
    section = (ROOT / "README.md").read_text().split("## Write a bot", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_bot_runs_as_written(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    code = readme_bot().replace("ws://localhost:8080/ws", server.ws_url)
    (tmp_path / "dice.py").write_text(code)
    bot = subprocess.Popen(
        [sys.executable, str(tmp_path / "dice.py")],
        env={**clean_env(), "CHATROOM_TOKEN": bot_token(server, "dice")},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        carol = member(server, "carol", "games")
        until_listed(carol, "roll")
        request(carol, "command", room="games", name="roll", args="3")
        rolled = receive_until(carol, "message")
        assert (rolled["user"], rolled["text"] in ("1", "2", "3")) == ("dice", True)
    finally:
        assert stop_bot(bot) == -signal.SIGINT  # (Ctrl-C ends a plain script)
        assert stop_chat_server(server) == 0


def test_a_failing_and_a_slow_handler_block_nothing(tmp_path: Path) -> None:
    (tmp_path / "tricks.py").write_text(TRICKS)
    server = start_server(tmp_path / "data")
    bot = start_bot(server, f"{tmp_path / 'tricks.py'}:bot", bot_token(server, "tricky"))
    try:
        carol = member(server, "carol", "games")
        until_listed(carol, "say-it")
        assert ephemeral_for(carol, "boom") == "/boom failed: it broke"
        request(carol, "command", room="games", name="slow", args="4")
        assert ephemeral_for(carol, "say-it", "yes hello you") == "HELLO YOU"  # meanwhile
        assert ephemeral_for(carol, "say-it", "maybe x").startswith("loud must be bool")
        assert receive_until(carol, "ephemeral")["text"] == "done at last"  # no "did not answer"
    finally:
        assert stop_bot(bot) == 0
        assert stop_chat_server(server) == 0
