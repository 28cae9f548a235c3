"""Command line: `python -m chatroom [serve] ...` and `python -m chatroom token USER`.

Every flag has a CHATROOM_* environment twin; a flag given wins.
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

import psycopg
import trio

from chatroom import __version__
from chatroom.app import serve
from chatroom.auth import SecretError, TokenSigner, load_secret
from chatroom.auth.accounts import AccountError, Accounts
from chatroom.config import Settings
from chatroom.domain import is_valid_user_name
from chatroom.files import private_dir, restrict_new_files
from chatroom.logs import LOG_FORMATS, configure_logging
from chatroom.net.listener import bind_port, http_url, open_listener
from chatroom.net.proxy import Network, parse_network
from chatroom.net.tls import TlsContext
from chatroom.store import (
    NameClash,
    SchemaTooNew,
    Store,
    StoreUnavailable,
    default_database_url,
    open_database,
)
from chatroom.store import users as users_db
from chatroom.store.backends import redacted_url
from chatroom.store.backup import BackupError, BackupFailed, backup_database
from chatroom.supervisor import READY_LINE, RestartPolicy, Supervisor

DEFAULT_TOKEN_TTL = Settings().token_ttl  # as /api/login gives
COMMANDS = ("serve", "token", "user", "backup")

log = logging.getLogger("chatroom")

STOP_MARGIN = 5.0  # seconds a worker may take past its shutdown budget before SIGKILL

# What opening a database and migrating it raise when it cannot be used: a
# bad URL, a server that refuses or is not there, a file that cannot be
# made, a schema this chatroom cannot take.
OPEN_ERRORS = (
    StoreUnavailable, SchemaTooNew, NameClash, ValueError, OSError, psycopg.Error, sqlite3.Error,
)  # fmt: skip
# Where libpq says it failed, before why: the URL shown says where already.
LIBPQ_WHERE = re.compile(r"^(connection failed: )?(connection to server .*? failed: )?(FATAL: +)?")


def _env(name: str, default: str) -> str:
    return os.environ.get(f"CHATROOM_{name}", default)


def _network(text: str) -> Network:
    try:
        return parse_network(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an address or network: {text!r}") from None


def _env_switch(name: str, default: str) -> bool:
    return _env(name, default) not in ("0", "no", "false", "off")


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("a port is 0 to 65535 (0 picks a free one)")
    return port


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return value


def _workers(text: str) -> int:
    if text == "auto":
        return os.cpu_count() or 1
    return _positive_int(text)


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(_env("DATA_DIR", "chatroom-data")),
        help="where state is kept: the token secret, unless CHATROOM_SECRET is set "
        "(env CHATROOM_DATA_DIR; default ./chatroom-data)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chatroom",
        description="A multi-room WebSocket chat server. With no command, `serve` runs: "
        "the chat protocol at /ws, a web page at /, and a JSON API, all on one port.",
        epilog="Run `python -m chatroom serve --help` for the server's options.",
    )
    parser.add_argument("--version", action="version", version=f"chatroom {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve_parser = commands.add_parser(
        "serve",
        help="run the chat server (the default)",
        description="Run the chat server. Every option also reads a CHATROOM_* "
        "environment variable; an option given on the command line wins.",
    )
    serve_parser.add_argument(
        "--host",
        default=_env("HOST", "127.0.0.1"),
        help="address to listen on; 0.0.0.0 for every interface (env CHATROOM_HOST; "
        "default 127.0.0.1)",
    )
    serve_parser.add_argument(
        "--port",
        type=_port,
        default=_env("PORT", "8080"),
        help="TCP port for HTTP and WebSocket (env CHATROOM_PORT; default 8080)",
    )
    _data_dir_option(serve_parser)
    _database_option(serve_parser)
    serve_parser.add_argument(
        "--broker",
        default=os.environ.get("CHATROOM_BROKER") or None,
        metavar="URL",
        help="redis://[USER:PASSWORD@]HOST:PORT/DB (or rediss://) that several servers on one "
        "database share, so that they act as one chat (env CHATROOM_BROKER; default none: "
        "this process alone)",
    )
    serve_parser.add_argument(
        "--workers",
        type=_workers,
        default=_env("WORKERS", "1"),
        metavar="N",
        help="worker processes sharing the port, each on its own core, run by a supervisor "
        "that restarts those that die; `auto`: one per CPU. More than one needs --broker "
        "(env CHATROOM_WORKERS; default 1)",
    )
    serve_parser.add_argument(
        "--registration",
        choices=("open", "closed"),
        default=_env("REGISTRATION", "open"),
        help="whether anyone may sign up with POST /api/register; closed: only "
        "`python -m chatroom user add` makes users (env CHATROOM_REGISTRATION; default open)",
    )
    serve_parser.add_argument(
        "--group-commit",
        action=argparse.BooleanOptionalAction,
        default=_env_switch("GROUP_COMMIT", "yes"),
        help="commit messages that arrive together in one transaction; --no-group-commit "
        "commits each message alone, to measure the difference (env CHATROOM_GROUP_COMMIT)",
    )
    limits = serve_parser.add_argument_group(
        "abuse limits", "what one client may hold or send; see docs/security.md"
    )
    limits.add_argument(
        "--allowed-host",
        action="append",
        default=[h for h in _env("ALLOWED_HOSTS", "").split(",") if h],
        metavar="HOST",
        help="a host name (chat.example.com) clients may address in Host; repeatable "
        "(env CHATROOM_ALLOWED_HOSTS, comma-separated); localhost, 127.0.0.1 and [::1] always "
        "work. Without any, a server listening on a loopback address answers only those, "
        "others answer any name",
    )
    limits.add_argument(
        "--allowed-origin",
        action="append",
        default=[o for o in _env("ALLOWED_ORIGINS", "").split(",") if o],
        metavar="ORIGIN",
        help="a web page origin (https://chat.example.com) whose scripts may open WebSockets, "
        "besides the server's own; repeatable (env CHATROOM_ALLOWED_ORIGINS, comma-separated)",
    )
    serve_parser.add_argument(
        "--tls-cert",
        type=Path,
        default=_env("TLS_CERT", "") or None,
        metavar="FILE",
        help="serve HTTPS and wss:// on the port with this certificate chain (PEM), with "
        "--tls-key; both are read again on SIGHUP (env CHATROOM_TLS_CERT)",
    )
    serve_parser.add_argument(
        "--tls-key",
        type=Path,
        default=_env("TLS_KEY", "") or None,
        metavar="FILE",
        help="the certificate's private key (PEM) (env CHATROOM_TLS_KEY)",
    )
    serve_parser.add_argument(
        "--trusted-proxy",
        action="append",
        type=_network,
        default=[_network(n) for n in _env("TRUSTED_PROXIES", "").split(",") if n.strip()],
        metavar="CIDR",
        help="a reverse proxy (10.0.0.0/8, 192.0.2.7): from its connections, the client's "
        "address is read from X-Forwarded-For or Forwarded, for the per-address caps, the "
        "login throttle and the logs; repeatable (env CHATROOM_TRUSTED_PROXIES, "
        "comma-separated)",
    )
    defaults = Settings()
    for flag, default, what in [
        ("--max-frame", defaults.max_frame_bytes, "bytes in one client frame (close 1009)"),
        ("--max-rooms-per-connection", defaults.max_rooms_per_connection,
         "rooms one connection may join"),
        ("--max-rooms-per-user", defaults.max_rooms_per_user,
         "rooms one user may have (remembered until left)"),
        ("--max-connections-per-user", defaults.max_connections_per_user,
         "WebSocket sessions of one user"),
        ("--max-connections-per-address", defaults.max_connections_per_address,
         "sockets from one client address"),
        ("--max-unauthenticated", defaults.max_unauthenticated,
         "sockets that have not authenticated yet"),
        ("--max-unauthenticated-per-address", defaults.max_unauthenticated_per_address,
         "sockets from one client address that have not authenticated yet"),
        ("--max-token-ttl", defaults.max_token_ttl, "seconds a token may still be valid for"),
        ("--register-rate", defaults.registrations_per_hour,
         "sign-ups per client address per hour, in bursts of as many"),
        ("--room-create-rate", defaults.room_creations_per_hour,
         "new rooms one user may create per hour, in bursts of as many"),
        ("--history-cache-mib", defaults.history_cache_mib,
         "MiB of recent messages kept in memory for all rooms together"),
        ("--history-rate", defaults.history_kib_per_second,
         "KiB of history one connection may read per second (history pages, joins with "
         "since that memory does not cover), in bursts of 4 times that"),
        ("--storage-rate", defaults.storage_kib_per_hour,
         "KiB of message text one user may store per hour, in bursts of as many"),
        ("--send-rate", int(defaults.send_rate),
         "`send` frames per second per connection, in bursts of twice that (10 at least)"),
        ("--frame-rate", int(defaults.frame_rate),
         "frames per second per connection, in bursts of twice that (10 at least)"),
    ]:  # fmt: skip
        _limit_option(limits, flag, default, what)
    serve_parser.add_argument(
        "--log-level",
        default=_env("LOG_LEVEL", "info"),
        choices=("debug", "info", "warning", "error"),
        help="how much to log to stderr (env CHATROOM_LOG_LEVEL; default info)",
    )
    serve_parser.add_argument(
        "--log-format",
        default=_env("LOG_FORMAT", "text"),
        choices=LOG_FORMATS,
        help="text for people, json for log pipelines: one object a line with time, "
        "level, logger, message and the event's fields (env CHATROOM_LOG_FORMAT; "
        "default text)",
    )
    _worker_options(serve_parser)

    token_parser = commands.add_parser(
        "token",
        help="print a token for USER",
        description="Print a token that lets USER connect, signed with the secret of a "
        "server using the same data dir (or CHATROOM_SECRET). Only the token is printed.",
    )
    token_parser.add_argument("user", metavar="USER", help="1-32 characters: A-Z a-z 0-9 _ - .")
    token_parser.add_argument(
        "--ttl",
        type=_positive_int,
        default=_env("TOKEN_TTL", str(DEFAULT_TOKEN_TTL)),
        help="seconds until the token expires (env CHATROOM_TOKEN_TTL; default 86400)",
    )
    _data_dir_option(token_parser)

    backup_parser = commands.add_parser(
        "backup",
        help="copy the SQLite database to FILE, while the server runs",
        description="Write a consistent copy of the SQLite database (the server may be "
        "running) to FILE, which must not exist. Serve from it with --database "
        "sqlite:///FILE. For PostgreSQL, use pg_dump.",
    )
    backup_parser.add_argument("file", metavar="FILE", type=Path, help="the copy to write")
    _data_dir_option(backup_parser)
    _database_option(backup_parser)

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
            action_parser.add_argument(
                "user", metavar="USER", help="1-32 characters: A-Z a-z 0-9 _ - ."
            )
        if action_parser in (add_parser, password_parser):
            action_parser.add_argument(
                "--password-file", type=Path, help="read the password from this file's first line"
            )
        _data_dir_option(action_parser)
        _database_option(action_parser)
    return parser


def _worker_options(parser: argparse.ArgumentParser) -> None:
    workers = parser.add_argument_group(
        "worker processes", "what --workers gives the servers it starts; rarely set by hand"
    )
    workers.add_argument(
        "--reuse-port",
        action=argparse.BooleanOptionalAction,
        default=_env_switch("REUSE_PORT", "no"),
        help="listen with SO_REUSEPORT: other servers of this user may listen on the same "
        "port, and the kernel spreads new connections among them (env CHATROOM_REUSE_PORT)",
    )
    workers.add_argument(
        "--supervisor-fd",
        type=int,
        metavar="FD",
        help="an inherited socket to a supervisor: write a line to it once listening, and "
        "shut down as on SIGTERM when it closes",
    )


def _limit_option(group: argparse._ArgumentGroup, flag: str, default: int, what: str) -> None:
    env = flag.removeprefix("--").replace("-", "_").upper()
    group.add_argument(
        flag,
        type=_at_least_10 if flag in ("--send-rate", "--frame-rate") else _positive_int,
        default=_env(env, str(default)),
        metavar="N",
        help=f"{what} (env CHATROOM_{env}; default {default})",
    )


def _at_least_10(text: str) -> int:
    value = _positive_int(text)
    if value < 10:
        raise argparse.ArgumentTypeError(
            "the protocol promises 10 frames per second; use 10 or more"
        )
    return value


def _database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        default=os.environ.get("CHATROOM_DATABASE"),
        metavar="URL",
        help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB (env CHATROOM_DATABASE; "
        "default sqlite:///DATA_DIR/chatroom.db)",
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    return build_parser().parse_args(_with_command(argv))


def _with_command(argv: Sequence[str]) -> list[str]:
    """`argv` with the `serve` it may leave out."""
    args = list(argv)
    if not args or (args[0] not in COMMANDS and args[0] not in ("-h", "--help", "--version")):
        args.insert(0, "serve")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.command == "serve" and (args.tls_cert is None) != (args.tls_key is None):
        print("chatroom: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if args.command == "serve" and args.workers > 1 and args.broker is None:
        print(
            f"chatroom: --workers {args.workers} needs --broker: workers share messages "
            "through Redis. Run one (apt-get install redis-server, or docker run -p "
            "6379:6379 redis:7) and add --broker redis://127.0.0.1:6379/0",
            file=sys.stderr,
        )
        return 2
    restrict_new_files()
    try:
        private_dir(args.data_dir)
        if args.command == "token":
            return _print_token(args)
        if args.command == "user":
            return _user_command(args)
        if args.command == "backup":
            return _backup(args)
        return _serve(args, argv)
    except (SecretError, OSError) as exc:
        print(f"chatroom: {exc}", file=sys.stderr)
        return 1


def _signer(data_dir: Path) -> TokenSigner:
    return TokenSigner(load_secret(data_dir, os.environ.get("CHATROOM_SECRET")))


def _print_token(args: argparse.Namespace) -> int:
    if not is_valid_user_name(args.user):
        print("chatroom: USER must be 1-32 characters from A-Z a-z 0-9 _ - .", file=sys.stderr)
        return 2
    token = _signer(args.data_dir).issue(args.user, ttl=args.ttl, now=time.time())
    print(token)
    return 0


def _serve(args: argparse.Namespace, argv: Sequence[str]) -> int:
    configure_logging(args.log_level, args.log_format)
    settings = _settings(args)
    if args.workers > 1:
        return _supervise(args.workers, settings, argv, tls=args.tls_cert is not None)
    if failure := _database_failure(_database_url(settings)):
        log.error("%s", failure)
        return 2
    signer = _signer(settings.data_dir)
    tls = None
    if args.tls_cert is not None:
        try:
            tls = TlsContext(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            log.error(
                "cannot use the certificate %s and key %s: %s", args.tls_cert, args.tls_key, exc
            )
            return 1
    try:
        listener = open_listener(settings.host, settings.port, reuse_port=args.reuse_port)
    except OSError as exc:
        log.error("cannot listen on %s port %s: %s", settings.host, settings.port, exc)
        return 1
    try:
        trio.run(_serve_until_signalled, settings, signer, listener, args.supervisor_fd, tls)
    except* (SchemaTooNew, NameClash, ValueError, OSError) as group:
        for error in group.exceptions:
            log.error("cannot serve: %s", error)
        return_code = 1
    else:
        return_code = 0
    return return_code


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        database_url=args.database,
        broker_url=args.broker,
        registration_open=args.registration == "open",
        group_commit=args.group_commit,
        allowed_origins=tuple(args.allowed_origin),
        allowed_hosts=tuple(h.lower() for h in args.allowed_host),
        trusted_proxies=tuple(args.trusted_proxy),
        max_frame_bytes=args.max_frame,
        max_rooms_per_connection=args.max_rooms_per_connection,
        max_rooms_per_user=args.max_rooms_per_user,
        max_connections_per_user=args.max_connections_per_user,
        max_connections_per_address=args.max_connections_per_address,
        max_unauthenticated=args.max_unauthenticated,
        max_unauthenticated_per_address=args.max_unauthenticated_per_address,
        max_token_ttl=args.max_token_ttl,
        registrations_per_hour=args.register_rate,
        room_creations_per_hour=args.room_create_rate,
        history_cache_mib=args.history_cache_mib,
        history_kib_per_second=args.history_rate,
        storage_kib_per_hour=args.storage_rate,
        send_rate=args.send_rate,
        send_burst=2 * args.send_rate,
        frame_rate=args.frame_rate,
        frame_burst=2 * args.frame_rate,
    )


def _supervise(workers: int, settings: Settings, argv: Sequence[str], *, tls: bool) -> int:
    """--workers N: make what the workers share, hold the port, run them."""
    _signer(settings.data_dir)  # made here once, rather than raced for by N workers
    if failure := _database_failure(_database_url(settings)):  # likewise the schema
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
        command = [sys.executable, "-m", "chatroom", *_with_command(argv)]
        command += ["--port", str(port), "--workers", "1", "--reuse-port"]
        supervisor = Supervisor(
            command,
            workers,
            # serve() may take the grace to close clients, and again to flush.
            RestartPolicy(stop_timeout=2 * settings.shutdown_grace + STOP_MARGIN),
            on_ready=lambda: log.info(
                "listening on %s (WebSocket at /ws)", http_url(settings.host, port, tls=tls)
            ),
        )
        return trio.run(supervisor.run)


def _database_url(settings: Settings) -> str:
    return settings.database_url or default_database_url(settings.data_dir)


def _database_failure(url: str) -> str:
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
    async with _running_store(url):
        pass


@contextlib.asynccontextmanager
async def _running_store(url: str) -> AsyncIterator[Store]:
    """A store, migrated and running until the block ends."""
    store = Store(open_database(url))
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        try:
            yield store
        finally:
            nursery.cancel_scope.cancel()


def _backup(args: argparse.Namespace) -> int:
    url = args.database or default_database_url(args.data_dir)
    try:
        pages = backup_database(url, args.file)
    except BackupError as exc:
        print(f"chatroom: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, BackupFailed) else 2
    print(f"chatroom: {pages} pages copied to {args.file}", file=sys.stderr)
    return 0


def _user_command(args: argparse.Namespace) -> int:
    """`user add|password|ban|unban|logout|list`; what was done, on stderr."""
    action = args.user_command
    if action != "list" and not is_valid_user_name(args.user):
        print("chatroom: USER must be 1-32 characters from A-Z a-z 0-9 _ - .", file=sys.stderr)
        return 2
    password = _read_password(args) if action in ("add", "password") else ""
    url = args.database or default_database_url(args.data_dir)
    if failure := _database_failure(url):
        print(f"chatroom: {failure}", file=sys.stderr)
        return 2

    async def run() -> str:
        async with _running_store(url) as store:
            accounts = Accounts(store, _signer(args.data_dir), DEFAULT_TOKEN_TTL)
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
                    print(f"{account.name}\t{created}\t{'banned' if account.banned else '-'}")
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


async def _serve_until_signalled(
    settings: Settings,
    signer: TokenSigner,
    listener: socket.socket,
    supervisor_fd: int | None,
    tls: TlsContext | None,
) -> None:
    shutdown = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:

            async def serve_then_stop(task_status: trio.TaskStatus[int]) -> None:
                await serve(
                    settings, signer, shutdown, listener=listener, tls=tls, task_status=task_status
                )
                nursery.cancel_scope.cancel()  # what waits for a signal or the supervisor

            await nursery.start(serve_then_stop)
            if supervisor_fd is not None:
                nursery.start_soon(_answer_supervisor, supervisor_fd, shutdown)

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
