"""`python -m chatroom bot run MODULE:BOT`: a bot, from the command line."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from chatroom.client import Bot, Unauthorized


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("bot", help="run a bot")
    actions = parser.add_subparsers(dest="bot_command", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run",
        help="connect a bot to a server and answer its commands",
        description="Import MODULE (a module name, or a path to a .py file) and run the "
        "chatroom.client.Bot named BOT in it until interrupted.",
    )
    run.add_argument("bot", metavar="MODULE:BOT", help="e.g. examples.dice_bot:bot")
    run.add_argument(
        "--url",
        default=os.environ.get("CHATROOM_URL", "ws://127.0.0.1:8080/ws"),
        help="the server's WebSocket URL (CHATROOM_URL; default: %(default)s)",
    )
    run.add_argument(
        "--token",
        default=os.environ.get("CHATROOM_TOKEN"),
        help="the bot's token, from `user add NAME --bot` (CHATROOM_TOKEN)",
    )


def run(args: argparse.Namespace) -> int:
    if not args.token:
        print("chatroom: a bot needs --token (or CHATROOM_TOKEN)", file=sys.stderr)
        return 2
    try:
        bot = load(args.bot)
    except (ImportError, AttributeError, ValueError) as exc:
        print(f"chatroom: cannot load {args.bot}: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        bot.run(args.url, args.token)
    except Unauthorized as exc:
        print(f"chatroom: the server refused the token: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def load(spec: str) -> Bot:
    """The Bot `NAME` in `MODULE:NAME` (MODULE: dotted, or a .py file's path)."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ValueError("expected MODULE:BOT")
    if module_name.endswith(".py"):
        directory, _, file_name = module_name.rpartition("/")
        sys.path.insert(0, directory or ".")
        module_name = file_name.removesuffix(".py")
    else:
        sys.path.insert(0, ".")
    bot = getattr(importlib.import_module(module_name), name)
    if not isinstance(bot, Bot):
        raise ValueError(f"{name} is not a chatroom.client.Bot")
    return bot
