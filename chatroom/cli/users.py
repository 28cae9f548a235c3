"""`python -m chatroom token USER` and `python -m chatroom user ACTION USER`:
tokens and accounts, without a server."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import trio

from chatroom.auth.accounts import AccountError, Accounts
from chatroom.cli.options import add_options
from chatroom.cli.state import database_failure, database_url, running_store, signer
from chatroom.config import Settings
from chatroom.domain import ErrorCode, is_valid_user_name
from chatroom.store import NameClash, SchemaTooNew, StoreUnavailable
from chatroom.store import users as users_db

DEFAULT_TOKEN_TTL = Settings().token_ttl  # as /api/login gives
BOT_TOKEN_TTL = Settings().max_token_ttl  # the longest a server takes by default
USER_HELP = "1-32 characters: A-Z a-z 0-9 _ - ."
BAD_USER = "chatroom: USER must be 1-32 characters from A-Z a-z 0-9 _ - ."


def add_token_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "token",
        help="print a token for USER",
        description="Print a token that lets USER connect, signed with the secret of a "
        "server using the same data dir (or CHATROOM_SECRET). Only the token is printed.",
    )
    parser.add_argument("user", metavar="USER", help=USER_HELP)
    add_options(parser, "token")


def add_user_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user_parser = commands.add_parser("user", help="manage user accounts")
    user_commands = user_parser.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add_parser = user_commands.add_parser(
        "add",
        help="create a user (or, with --bot, a bot)",
        description="Create a user who can log in with a password, read from standard "
        "input (one line) or from --password-file. With --bot --owner USER: a bot account "
        "(no password), and a token for it on the last line of the output.",
    )
    add_parser.add_argument(
        "--bot", action="store_true", help="a bot: no password, connects with a token"
    )
    add_parser.add_argument(
        "--owner", metavar="USER", help="the account that answers for the bot (required with --bot)"
    )
    token_parser = user_commands.add_parser(
        "token",
        help="print a new token for an account (a bot's, say)",
        description="Print a new token for the account USER on standard output.",
    )
    password_parser = user_commands.add_parser(
        "password",
        help="give a user a new password",
        description="Set a user's password, read from standard input (one line) or from "
        "--password-file. Tokens already issued stay valid (see logout).",
    )
    for action, what in (
        ("ban", "refuse the user everywhere: live sessions close with 4401 within 5 s, "
         "and their tokens are refused at hello and over HTTP until unban"),
        ("unban", "let a banned user in again"),
        ("logout", "refuse every token of the user issued until now (live sessions close "
         "with 4401 within 5 s); tokens issued later work"),
    ):  # fmt: skip
        user_commands.add_parser(action, help=what, description=what[0].upper() + what[1:] + ".")
    list_parser = user_commands.add_parser(
        "list", help="list the accounts", description="Print each account: name, created, banned."
    )
    for action_parser in user_commands.choices.values():
        if action_parser is not list_parser:
            action_parser.add_argument("user", metavar="USER", help=USER_HELP)
        if action_parser in (add_parser, password_parser):
            action_parser.add_argument(
                "--password-file", type=Path, help="read the password from this file's first line"
            )
        if action_parser in (add_parser, token_parser):
            action_parser.add_argument(
                "--token-ttl",
                type=int,
                default=BOT_TOKEN_TTL,
                metavar="SECONDS",
                help="how long the token printed is valid (default: %(default)s, 30 days)",
            )
        add_options(action_parser, "user")


def print_token(args: argparse.Namespace) -> int:
    if not is_valid_user_name(args.user):
        print(BAD_USER, file=sys.stderr)
        return 2
    token = signer(args.data_dir).issue(args.user, ttl=args.token_ttl, now=time.time())
    print(token)
    return 0


def user_command(args: argparse.Namespace) -> int:
    """`user add|password|ban|unban|logout|list`; what was done, on stderr."""
    action = args.user_command
    if action != "list" and not is_valid_user_name(args.user):
        print(BAD_USER, file=sys.stderr)
        return 2
    bot = action == "add" and args.bot
    if bot and not (args.owner and is_valid_user_name(args.owner)):
        print("chatroom: a bot needs --owner USER, an account", file=sys.stderr)
        return 2
    password = _read_password(args) if action in ("add", "password") and not bot else ""
    url = database_url(args.database_url, args.data_dir)
    if failure := database_failure(url):
        print(f"chatroom: {failure}", file=sys.stderr)
        return 2

    async def run() -> str:
        async with running_store(url) as store:
            ttl = getattr(args, "token_ttl", DEFAULT_TOKEN_TTL)
            accounts = Accounts(store, signer(args.data_dir), ttl)
            if bot:
                owner = await accounts.add_bot(args.user, args.owner)
                print(accounts.token_for(args.user).token)
                return f"added bot {args.user}, owned by {owner}; its token is above"
            if action == "token":
                found = await store.read(users_db.password_hash, args.user)
                if found is None:
                    raise AccountError(404, ErrorCode.NOT_FOUND, f"there is no user {args.user!r}")
                print(accounts.token_for(found[0]).token)
                return ""
            if action == "add":
                return (
                    f"added user {await accounts.add_user(args.user, password, adopt_known=True)}"
                )
            if action == "password":
                await accounts.set_password(args.user, password)
                return f"new password for {args.user}"
            if action == "list":
                for account in await store.read(users_db.accounts):
                    created = time.strftime(
                        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(account.created_ms / 1000)
                    )
                    state = "banned" if account.banned else "-"
                    owned = f"\tbot of {account.owner}" if account.owner else ""
                    print(f"{account.name}\t{created}\t{state}{owned}")
                return ""
            banned = {"ban": True, "unban": False}.get(action)
            await store.write(
                users_db.control_user, args.user, banned=banned, logout=action == "logout"
            )
            if action == "unban":
                return f"unbanned {args.user}; servers let them in again within 5 s"
            done = {"ban": "banned", "logout": "logged out"}[action]
            return f"{done} {args.user}; servers close their sessions within 5 s"

    failure = ""
    try:
        said = trio.run(run)
    except* AccountError as group:
        failure = str(group.exceptions[0])
    except* (StoreUnavailable, SchemaTooNew, NameClash, ValueError) as group:
        failure = f"cannot open the database: {group.exceptions[0]}"
    if failure:
        print(f"chatroom: {failure}", file=sys.stderr)
        return 1
    if said:
        print(said, file=sys.stderr)
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        lines = args.password_file.read_text(encoding="utf-8").splitlines()
    else:
        lines = sys.stdin.read().splitlines()
    return lines[0] if lines else ""
