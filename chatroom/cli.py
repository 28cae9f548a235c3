"""Command line: `python -m chatroom [serve] ...`, `token USER`, `user ACTION`, `backup FILE`.

Every option has a CHATROOM_* environment twin; a flag given wins, except a
repeatable flag, which adds to what the environment lists. The options are made
from the settings' declarations in chatroom/config.py.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import socket
import sqlite3
import ssl
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import psycopg
import trio

from chatroom import __version__
from chatroom.app import serve
from chatroom.auth import SecretError, TokenSigner, load_secret
from chatroom.auth.accounts import AccountError, Accounts
from chatroom.config import GROUPS, Option, Settings, options
from chatroom.domain import is_valid_user_name
from chatroom.files import private_dir, restrict_new_files
from chatroom.logs import configure_logging
from chatroom.net.listener import bind_port, http_url, open_listener
from chatroom.net.tls import TlsContext
from chatroom.store import (
    NameClash,
    SchemaTooNew,
    Store,
    StoreUnavailable,
    default_database_url,
    open_database,
)
from chatroom.store.backends import redacted_url
from chatroom.store.backup import BackupError, BackupFailed, backup_database
from chatroom.supervisor import READY_LINE, RestartPolicy, Supervisor

log = logging.getLogger("chatroom")

COMMANDS = ("serve", "token", "user", "backup")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chatroom",
        description="A multi-room WebSocket chat server. With no command, `serve` runs: "
        "the chat protocol at /ws, a web page at /, and a JSON API, all on one port.",
        epilog="Run `python -m chatroom serve --help` for the server's options.",
    )
    parser.add_argument("--version", action="version", version=f"chatroom {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve_parser(commands)
    add_token_parser(commands)
    _add_backup_parser(commands)
    add_user_parser(commands)
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
    if args.command == "serve" and (wrong := misconfiguration(args)):
        print(wrong, file=sys.stderr)
        return 2
    restrict_new_files()
    try:
        private_dir(args.data_dir)
        if args.command == "token":
            return print_token(args)
        if args.command == "user":
            return user_command(args)
        if args.command == "backup":
            return _backup(args)
        return _serve(args, with_command(argv))
    except (SecretError, OSError) as exc:
        print(f"chatroom: {exc}", file=sys.stderr)
        return 1


# What a switch's environment twin says to turn it off; anything else is on.
OFF = ("0", "no", "false", "off")


def add_options(parser: argparse.ArgumentParser, command: str) -> None:
    """The options of the settings `command` takes, each in its group."""
    groups: dict[str | None, Any] = {None: parser}
    for field, option in options():
        if command not in option.commands:
            continue
        if option.group not in groups:
            for title, description in GROUPS.items():  # made in GROUPS' order
                groups.setdefault(title, parser.add_argument_group(title, description))
        _add(groups[option.group], field, option)


def _add(group: Any, field: attrs.Attribute[Any], option: Option) -> None:
    flag = flag_of(field, option)
    how: dict[str, Any] = {"dest": field.name, "help": _help(field, option)}
    if _is_switch(field, option):
        how["action"] = argparse.BooleanOptionalAction
    else:
        how["metavar"] = option.metavar or (
            None if option.choices else flag.removeprefix("--").replace("-", "_").upper()
        )
        how["type"] = option.parse
        how["choices"] = option.choices
        if isinstance(field.default, tuple):
            how["action"] = "append"
    group.add_argument(flag, default=_default(field, option), **how)


def _is_switch(field: attrs.Attribute[Any], option: Option) -> bool:
    """Whether the option is --flag / --no-flag: a yes or no not spelled as choices."""
    return isinstance(field.default, bool) and option.choices is None


def flag_of(field: attrs.Attribute[Any], option: Option) -> str:
    return option.flag or "--" + field.name.replace("_", "-")


def env_of(field: attrs.Attribute[Any], option: Option) -> str | None:
    """The name of the setting's environment variable, if it has one."""
    if option.env is None:
        return None
    name = option.env or flag_of(field, option).removeprefix("--").replace("-", "_").upper()
    return f"CHATROOM_{name}"


def _help(field: attrs.Attribute[Any], option: Option) -> str:
    env = env_of(field, option)
    if env is None:
        return option.help
    if isinstance(field.default, tuple):
        where = f"repeatable (env {env}, comma-separated)"
    else:
        shown = option.shown_default
        if shown is None and field.default is not None and not _is_switch(field, option):
            shown = str(_from_setting(option, field.default))
        where = f"(env {env}; default {shown})" if shown is not None else f"(env {env})"
    if "{env}" in option.help:
        return option.help.replace("{env}", where)
    return f"{option.help} {where}"


def _default(field: attrs.Attribute[Any], option: Option) -> Any:
    """The option's default: its environment variable's value (text, which
    argparse parses as it would the flag's), or else the setting's default."""
    env = env_of(field, option)
    text = None if env is None else os.environ.get(env)
    if isinstance(field.default, tuple):
        # Read once, here: a bad entry fails before the command line is read.
        items = [] if text is None else text.split(",")
        if option.parse is None:
            return [item for item in items if item]
        return [option.parse(item) for item in items if item.strip()]
    if text is None:
        return _from_setting(option, field.default)
    if _is_switch(field, option):
        return text not in OFF
    if field.default is None:
        return text or None  # set but empty: unset
    return text


def _from_setting(option: Option, value: Any) -> Any:
    return value if option.from_setting is None else option.from_setting(value)


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings that `serve`'s `args` give."""
    values: dict[str, Any] = {}
    for field, option in options():
        if "serve" not in option.commands:
            continue
        value = getattr(args, field.name)
        if option.to_setting is not None:
            value = option.to_setting(value)
        elif isinstance(field.default, tuple):
            value = tuple(value)
        values[field.name] = value
        if option.also is not None:
            values.update(option.also(value))
    return Settings(**values)


STOP_MARGIN = 5.0  # seconds a worker may take past its shutdown budget before SIGKILL


def _add_serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the chat server (the default)",
        description="Run the chat server. Every option also reads a CHATROOM_* "
        "environment variable; an option given on the command line wins.",
    )
    add_options(parser, "serve")


def misconfiguration(args: argparse.Namespace) -> str:
    """What is wrong with options that are each right alone; "" if nothing."""
    if (args.tls_cert is None) != (args.tls_key is None):
        return "chatroom: --tls-cert and --tls-key go together"
    if args.workers > 1 and args.broker_url is None:
        return (
            f"chatroom: --workers {args.workers} needs --broker: workers share messages "
            "through Redis. Run one (apt-get install redis-server, or docker run -p "
            "6379:6379 redis:7) and add --broker redis://127.0.0.1:6379/0"
        )
    return ""


def _serve(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Serve as `args` say; `argv` (the command line, with its command) is
    what a supervisor starts its workers with."""
    settings = settings_from(args)
    configure_logging(settings.log_level, settings.log_format)
    if settings.workers > 1:
        return _supervise(settings, argv)
    if failure := database_failure(database_url(settings.database_url, settings.data_dir)):
        log.error("%s", failure)
        return 2
    token_signer = signer(settings.data_dir)
    tls = None
    if settings.tls_cert is not None and settings.tls_key is not None:
        try:
            tls = TlsContext(settings.tls_cert, settings.tls_key)
        except (OSError, ssl.SSLError) as exc:
            log.error(
                "cannot use the certificate %s and key %s: %s",
                settings.tls_cert,
                settings.tls_key,
                exc,
            )
            return 1
    try:
        listener = open_listener(settings.host, settings.port, reuse_port=settings.reuse_port)
    except OSError as exc:
        log.error("cannot listen on %s port %s: %s", settings.host, settings.port, exc)
        return 1
    try:
        trio.run(_serve_until_signalled, settings, token_signer, listener, tls)
    except* (SchemaTooNew, NameClash, ValueError, OSError) as group:
        for error in group.exceptions:
            log.error("cannot serve: %s", error)
        return_code = 1
    else:
        return_code = 0
    return return_code


def _supervise(settings: Settings, argv: Sequence[str]) -> int:
    """--workers N: make what the workers share, hold the port, run them."""
    signer(settings.data_dir)  # made here once, rather than raced for by N workers
    url = database_url(settings.database_url, settings.data_dir)
    if failure := database_failure(url):  # likewise the schema
        log.error("%s", failure)
        return 2
    try:
        # Bound, never listening: it gets no connections, but keeps the port
        # (and the one port 0 picked) for the workers, across their restarts.
        held = bind_port(settings.host, settings.port, reuse_port=True)
    except OSError as exc:
        log.error("cannot listen on %s port %s: %s", settings.host, settings.port, exc)
        return 1
    with held:
        port = held.getsockname()[1]
        command = [sys.executable, "-m", "chatroom", *argv]
        command += ["--port", str(port), "--workers", "1", "--reuse-port"]
        tls = settings.tls_cert is not None
        supervisor = Supervisor(
            command,
            settings.workers,
            # serve() may take the grace to close clients, and again to flush.
            RestartPolicy(stop_timeout=2 * settings.shutdown_grace + STOP_MARGIN),
            on_ready=lambda: log.info(
                "listening on %s (WebSocket at /ws)", http_url(settings.host, port, tls=tls)
            ),
        )
        return trio.run(supervisor.run)


async def _serve_until_signalled(
    settings: Settings,
    token_signer: TokenSigner,
    listener: socket.socket,
    tls: TlsContext | None,
) -> None:
    shutdown = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:

            async def serve_then_stop(task_status: trio.TaskStatus[int]) -> None:
                await serve(
                    settings,
                    token_signer,
                    shutdown,
                    listener=listener,
                    tls=tls,
                    task_status=task_status,
                )
                nursery.cancel_scope.cancel()  # what waits for a signal or the supervisor

            await nursery.start(serve_then_stop)
            if settings.supervisor_fd is not None:
                nursery.start_soon(_answer_supervisor, settings.supervisor_fd, shutdown)

            async def wait_for_signal() -> None:
                async for signum in signals:
                    log.info("received %s", signal.Signals(signum).name)
                    if signum == signal.SIGHUP:
                        _reload_certificate(tls)
                        continue
                    shutdown.set()
                    return

            nursery.start_soon(wait_for_signal)


def _reload_certificate(tls: TlsContext | None) -> None:
    """SIGHUP: new connections get the certificate now in the files."""
    if tls is None:
        return
    try:
        tls.reload()
    except (OSError, ssl.SSLError) as exc:
        log.error("kept the certificate in use: reading %s failed: %s", tls.cert, exc)
    else:
        log.info("certificate reloaded from %s", tls.cert)


async def _answer_supervisor(fd: int, shutdown: trio.Event) -> None:
    """Tell the supervisor (--workers) this worker listens; when the supervisor
    is gone (even SIGKILLed), stop as on SIGTERM rather than serve on unwatched."""
    async with trio.lowlevel.FdStream(fd) as stream:
        try:
            await stream.send_all(READY_LINE)
            while await stream.receive_some():
                pass
        except trio.BrokenResourceError:
            pass
    log.warning("the supervisor is gone: shutting down")
    shutdown.set()


DEFAULT_TOKEN_TTL = Settings().token_ttl  # as /api/login gives
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
        help="create a user",
        description="Create a user who can log in with a password, read from standard "
        "input (one line) or from --password-file.",
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
    password = _read_password(args) if action in ("add", "password") else ""
    url = database_url(args.database_url, args.data_dir)
    if failure := database_failure(url):
        print(f"chatroom: {failure}", file=sys.stderr)
        return 2

    async def run() -> str:
        async with running_store(url) as store:
            accounts = Accounts(store, signer(args.data_dir), DEFAULT_TOKEN_TTL)
            if action == "add":
                return (
                    f"added user {await accounts.add_user(args.user, password, adopt_known=True)}"
                )
            if action == "password":
                await accounts.set_password(args.user, password)
                return f"new password for {args.user}"
            if action == "list":
                for account in await store.accounts():
                    created = time.strftime(
                        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(account.created_ms / 1000)
                    )
                    print(f"{account.name}\t{created}\t{'banned' if account.banned else '-'}")
                return ""
            banned = {"ban": True, "unban": False}.get(action)
            await store.control_user(args.user, banned=banned, logout=action == "logout")
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


def _add_backup_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "backup",
        help="copy the SQLite database to FILE, while the server runs",
        description="Write a consistent copy of the SQLite database (the server may be "
        "running) to FILE, which must not exist. Serve from it with --database "
        "sqlite:///FILE. For PostgreSQL, use pg_dump.",
    )
    parser.add_argument("file", metavar="FILE", type=Path, help="the copy to write")
    add_options(parser, "backup")


def _backup(args: argparse.Namespace) -> int:
    url = database_url(args.database_url, args.data_dir)
    try:
        pages = backup_database(url, args.file)
    except BackupError as exc:
        print(f"chatroom: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, BackupFailed) else 2
    print(f"chatroom: {pages} pages copied to {args.file}", file=sys.stderr)
    return 0


# What opening a database and migrating it raise when it cannot be used: a
# bad URL, a server that refuses or is not there, a file that cannot be
# made, a schema this chatroom cannot take.
OPEN_ERRORS = (
    StoreUnavailable, SchemaTooNew, NameClash, ValueError, OSError, psycopg.Error, sqlite3.Error,
)  # fmt: skip
# Where libpq says it failed, before why: the URL shown says where already.
LIBPQ_WHERE = re.compile(r"^(connection failed: )?(connection to server .*? failed: )?(FATAL: +)?")


def signer(data_dir: Path) -> TokenSigner:
    return TokenSigner(load_secret(data_dir, os.environ.get("CHATROOM_SECRET")))


def database_url(url: str | None, data_dir: Path) -> str:
    """`url`, or else the SQLite database in `data_dir`."""
    return url or default_database_url(data_dir)


def database_failure(url: str) -> str:
    """Why the database at `url` cannot be used, in one line; "" once it is
    open and its schema current."""
    error: BaseException | None = None
    try:
        trio.run(_migrate, url)
    except* OPEN_ERRORS as group:
        error = group
        while isinstance(error, BaseExceptionGroup):
            error = error.exceptions[0]
    if error is None:
        return ""
    lines = str(error).strip().splitlines()
    reason = LIBPQ_WHERE.sub("", lines[0]) if lines else type(error).__name__
    return f"cannot open database {redacted_url(url)}: {reason}"


async def _migrate(url: str) -> None:
    async with running_store(url):
        pass


@contextlib.asynccontextmanager
async def running_store(url: str) -> AsyncIterator[Store]:
    """A store, migrated and running until the block ends."""
    store = Store(open_database(url))
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        try:
            yield store
        finally:
            nursery.cancel_scope.cancel()
