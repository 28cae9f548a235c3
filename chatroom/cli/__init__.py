"""Command line: `python -m chatroom [serve] ...`, `token USER`, `user ACTION`,
`backup FILE`, `bot run MODULE:BOT`.

Every option has a CHATROOM_* environment twin; a flag given wins. The options
are made from the settings' declarations in chatroom/config.py (see options.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from chatroom import __version__
from chatroom.auth import SecretError
from chatroom.cli import backup, bots, rooms, serve, users
from chatroom.files import private_dir, restrict_new_files

COMMANDS = ("serve", "token", "user", "room", "backup", "bot")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chatroom",
        description="A multi-room WebSocket chat server. With no command, `serve` runs: "
        "the chat protocol at /ws, a web page at /, and a JSON API, all on one port.",
        epilog="Run `python -m chatroom serve --help` for the server's options.",
    )
    parser.add_argument("--version", action="version", version=f"chatroom {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve.add_parser(commands)
    users.add_token_parser(commands)
    backup.add_parser(commands)
    users.add_user_parser(commands)
    rooms.add_parser(commands)
    bots.add_parser(commands)
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    return build_parser().parse_args(with_command(argv))


def with_command(argv: Sequence[str]) -> list[str]:
    """`argv` with the `serve` it may leave out."""
    args = list(argv)
    if not args or (args[0] not in COMMANDS and args[0] not in ("-h", "--help", "--version")):
        args.insert(0, "serve")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.command == "serve" and (wrong := serve.misconfiguration(args)):
        print(wrong, file=sys.stderr)
        return 2
    if args.command == "bot":  # (a client: no data dir)
        return bots.run(args)
    restrict_new_files()
    try:
        private_dir(args.data_dir)
        if args.command == "token":
            return users.print_token(args)
        if args.command == "user":
            return users.user_command(args)
        if args.command == "room":
            return rooms.room_command(args)
        if args.command == "backup":
            return backup.backup(args)
        return serve.run(args, with_command(argv))
    except (SecretError, OSError) as exc:
        print(f"chatroom: {exc}", file=sys.stderr)
        return 1
