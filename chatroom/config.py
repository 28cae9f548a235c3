"""Server settings: validated once by the CLI, read-only afterwards.

Each setting is declared once, as a field of `Settings`: its name, type and
default, and, for those a user sets, an `Option` saying how (its flag, help,
parser, CHATROOM_* environment twin). The command line (chatroom/cli/options.py)
is made from these declarations.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs

from chatroom.logs import LOG_FORMATS
from chatroom.net.proxy import Network, parse_network

T = TypeVar("T")

OPTION = "chatroom.option"  # the key of a field's Option in its attrs metadata

# Argument groups of `serve --help`, by title: their descriptions, in order.
LIMITS = "abuse limits"
WORKER_PROCESSES = "worker processes"
GROUPS = {
    LIMITS: "what one client may hold or send; see docs/security.md",
    WORKER_PROCESSES: "what --workers gives the servers it starts; rarely set by hand",
}


@attrs.frozen
class Option:
    """How a setting is given: as `flag`, or as its environment twin, CHATROOM_`env`.

    The kind of option follows from the setting's default: a bool without
    choices is a switch (--x / --no-x), a tuple a repeatable flag (comma-separated in the
    environment), anything else one value.
    """

    # What the setting does. "(env CHATROOM_...; default ...)" is added at the
    # end, or where "{env}" stands.
    help: str
    flag: str = ""  # "": the field's name, as --field-name
    env: str | None = ""  # "": from the flag, as FLAG_NAME; None: no environment twin
    parse: Callable[[str], Any] | None = None  # text to value; its errors are argparse's
    choices: tuple[str, ...] | None = None
    metavar: str | None = None  # None: the flag's name, as FLAG_NAME (or the choices)
    group: str | None = None  # the title of its argument group in GROUPS
    commands: tuple[str, ...] = ("serve",)  # the commands that take it
    # The default as help shows it: None: the default itself, if there is one.
    shown_default: str | None = None
    # Between what the command line gives and the setting, where they differ.
    to_setting: Callable[[Any], Any] | None = None
    from_setting: Callable[[Any], Any] | None = None
    # Other settings that follow from this one's value.
    also: Callable[[Any], dict[str, Any]] | None = None

    def field(self, default: T) -> T:
        """The attrs field of a setting with this option and `default`."""
        made: T = attrs.field(default=default, metadata={OPTION: self})
        return made


# What the options parse with. An error's message, or else the function's
# name ("invalid _port value: 'x'"), is what the user sees.


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


def _at_least_10(text: str) -> int:
    value = _positive_int(text)
    if value < 10:
        raise argparse.ArgumentTypeError(
            "the protocol promises 10 frames per second; use 10 or more"
        )
    return value


def _workers(text: str) -> int:
    if text == "auto":
        return os.cpu_count() or 1
    return _positive_int(text)


def _network(text: str) -> Network:
    try:
        return parse_network(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an address or network: {text!r}") from None


def _is_open(registration: str) -> bool:
    return registration == "open"


def _open_or_closed(registration_open: bool) -> str:
    return "open" if registration_open else "closed"


def _lowercase(hosts: list[str]) -> tuple[str, ...]:
    return tuple(host.lower() for host in hosts)


def _limit(
    what: str,
    flag: str = "",
    parse: Callable[[str], int] = _positive_int,
    also: Callable[[Any], dict[str, Any]] | None = None,
) -> Option:
    """An abuse limit: a positive whole number."""
    return Option(what, flag=flag, parse=parse, metavar="N", group=LIMITS, also=also)


ALL_COMMANDS = ("serve", "token", "backup", "user", "room")
DATABASE_COMMANDS = ("serve", "backup", "user", "room")


@attrs.frozen
class Settings:
    # Those with an Option come first, in the order `serve --help` lists them.
    host: str = Option(
        "address to listen on; 0.0.0.0 for every interface",
    ).field("127.0.0.1")
    port: int = Option("TCP port for HTTP and WebSocket", parse=_port).field(8080)
    # seconds, for tokens from /api/login and /api/register (and `token`)
    token_ttl: int = Option(
        "seconds until the token expires",
        flag="--ttl",
        env="TOKEN_TTL",
        parse=_positive_int,
        commands=("token",),
    ).field(24 * 3600)
    data_dir: Path = Option(  # noqa: RUF009 (.field() makes an attrs field)
        "where state is kept: the token secret, unless CHATROOM_SECRET is set",
        parse=Path,
        commands=ALL_COMMANDS,
        shown_default="./chatroom-data",
    ).field(Path("chatroom-data"))
    database_url: str | None = Option(  # None: sqlite in data_dir
        "sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
        flag="--database",
        metavar="URL",
        commands=DATABASE_COMMANDS,
        shown_default="sqlite:///DATA_DIR/chatroom.db",
    ).field(None)
    # redis://... shared by the servers of one chat; None: this process alone
    broker_url: str | None = Option(
        "redis://[USER:PASSWORD@]HOST:PORT/DB (or rediss://) that several servers on one "
        "database share, so that they act as one chat",
        flag="--broker",
        metavar="URL",
        shown_default="none: this process alone",
    ).field(None)
    workers: int = Option(  # processes, run by a supervisor
        "worker processes sharing the port, each on its own core, run by a supervisor "
        "that restarts those that die; `auto`: one per CPU. More than one needs --broker",
        parse=_workers,
        metavar="N",
    ).field(1)
    registration_open: bool = Option(
        "whether anyone may sign up with POST /api/register; closed: only "
        "`python -m chatroom user add` makes users",
        flag="--registration",
        choices=("open", "closed"),
        to_setting=_is_open,
        from_setting=_open_or_closed,
    ).field(True)
    group_commit: bool = Option(  # off only to measure what it saves
        "commit messages that arrive together in one transaction; --no-group-commit "
        "commits each message alone, to measure the difference",
    ).field(True)
    # Host names requests may be addressed to (DNS rebinding); none given:
    # loopback names on a loopback listener, any name otherwise.
    allowed_hosts: tuple[str, ...] = Option(
        "a host name (chat.example.com) clients may address in Host; {env}; localhost, "
        "127.0.0.1 and [::1] always work. Without any, a server listening on a loopback "
        "address answers only those, others answer any name",
        flag="--allowed-host",
        env="ALLOWED_HOSTS",
        metavar="HOST",
        group=LIMITS,
        to_setting=_lowercase,
    ).field(())
    allowed_origins: tuple[str, ...] = Option(  # besides the server's own
        "a web page origin (https://chat.example.com) whose scripts may open WebSockets, "
        "besides the server's own;",
        flag="--allowed-origin",
        env="ALLOWED_ORIGINS",
        metavar="ORIGIN",
        group=LIMITS,
    ).field(())
    tls_cert: Path | None = Option(  # noqa: RUF009 (.field() makes an attrs field)
        "serve HTTPS and wss:// on the port with this certificate chain (PEM), with "
        "--tls-key; both are read again on SIGHUP",
        parse=Path,
        metavar="FILE",
    ).field(None)
    tls_key: Path | None = Option(  # noqa: RUF009 (.field() makes an attrs field)
        "the certificate's private key (PEM)",
        parse=Path,
        metavar="FILE",
    ).field(None)
    # Reverse proxies whose X-Forwarded-For / Forwarded name the client (see net/proxy.py).
    trusted_proxies: tuple[Network, ...] = Option(
        "a reverse proxy (10.0.0.0/8, 192.0.2.7): from its connections, the client's "
        "address is read from X-Forwarded-For or Forwarded, for the per-address caps, the "
        "login throttle and the logs;",
        flag="--trusted-proxy",
        env="TRUSTED_PROXIES",
        parse=_network,
        metavar="CIDR",
    ).field(())
    # Networks outgoing webhooks may reach although not public (see hooks/addresses.py).
    webhook_allow: tuple[Network, ...] = Option(
        "a network (10.0.0.0/8, 127.0.0.1) that outgoing webhooks may POST to although it is "
        "not public: loopback, private, link-local, multicast and reserved addresses are "
        "refused otherwise;",
        parse=_network,
        metavar="CIDR",
        group=LIMITS,
    ).field(())
    # abuse limits (docs/security.md)
    max_frame_bytes: int = _limit(  # larger client frames close 1009
        "bytes in one client frame (close 1009)", flag="--max-frame"
    ).field(64 * 1024)
    max_rooms_per_connection: int = _limit("rooms one connection may join").field(100)
    max_rooms_per_user: int = _limit(  # rooms the store remembers for one user
        "rooms one user may have (remembered until left)"
    ).field(200)
    max_connections_per_user: int = _limit("WebSocket sessions of one user").field(32)
    max_connections_per_address: int = _limit("sockets from one client address").field(1024)
    max_unauthenticated: int = _limit(  # sockets that have not sent a valid hello
        "sockets that have not authenticated yet"
    ).field(2048)
    max_unauthenticated_per_address: int = _limit(  # of those, from one address
        "sockets from one client address that have not authenticated yet"
    ).field(128)
    max_token_ttl: int = _limit(  # tokens valid for longer are refused
        "seconds a token may still be valid for"
    ).field(30 * 24 * 3600)
    registrations_per_hour: int = _limit(  # per client address (docs/security.md)
        "sign-ups per client address per hour, in bursts of as many", flag="--register-rate"
    ).field(20)
    room_creations_per_hour: int = _limit(  # new rooms per user, in bursts of as many
        "new rooms one user may create per hour, in bursts of as many",
        flag="--room-create-rate",
    ).field(60)
    history_cache_mib: int = _limit(  # recent messages kept in memory, all rooms together
        "MiB of recent messages kept in memory for all rooms together"
    ).field(64)
    history_kib_per_second: int = _limit(  # history one connection may read, bursts of 4x
        "KiB of history one connection may read per second (history pages, joins with "
        "since that memory does not cover), in bursts of 4 times that",
        flag="--history-rate",
    ).field(2048)
    storage_kib_per_hour: int = _limit(  # message text one user may store, bursts of as many
        "KiB of message text one user may store per hour, in bursts of as many",
        flag="--storage-rate",
    ).field(10240)
    max_file_mib: int = _limit(  # larger uploads are refused (413) as they pass it
        "MiB in one uploaded file (413 past it, as soon as it is passed)"
    ).field(25)
    file_mib_per_hour: int = _limit(  # per user and server, in bursts of as many
        "MiB of files one user may upload per hour, in bursts of as many (429 past it)",
        flag="--file-rate",
    ).field(256)
    unattached_file_seconds: int = Option(  # files no message took are removed after it
        "seconds an uploaded file that no message took is kept",
        flag="--unattached-file-ttl",
        parse=_positive_int,
        metavar="SECONDS",
    ).field(24 * 3600)
    # PROTOCOL.md promises 20 frames in a burst and 10 per second; these give
    # twice that to `send` frames and four times that to all frames.
    send_rate: float = _limit(  # per second; the command line makes send_burst twice that
        "`send` frames per second per connection, in bursts of twice that (10 at least)",
        parse=_at_least_10,
        also=lambda rate: {"send_burst": 2 * rate},
    ).field(20)
    frame_rate: float = _limit(  # per second; the command line makes frame_burst twice that
        "frames per second per connection, in bursts of twice that (10 at least)",
        parse=_at_least_10,
        also=lambda rate: {"frame_burst": 2 * rate},
    ).field(40)
    # logging, to stderr
    log_level: str = Option(
        "how much to log to stderr",
        choices=("debug", "info", "warning", "error"),
    ).field("info")
    log_format: str = Option(
        "text for people, json for log pipelines: one object a line with time, "
        "level, logger, message and the event's fields",
        choices=LOG_FORMATS,
    ).field("text")
    # what a supervisor (--workers) gives the servers it starts
    reuse_port: bool = Option(
        "listen with SO_REUSEPORT: other servers of this user may listen on the same "
        "port, and the kernel spreads new connections among them",
        group=WORKER_PROCESSES,
    ).field(False)
    supervisor_fd: int | None = Option(
        "an inherited socket to a supervisor: write a line to it once listening, and "
        "shut down as on SIGTERM when it closes",
        env=None,
        parse=int,
        metavar="FD",
        group=WORKER_PROCESSES,
    ).field(None)

    # Settings no option sets.
    frame_burst: float = 80
    send_burst: float = 40
    # WebSocket
    inbound_queue: int = 4  # parsed client frames waiting for the reader
    outbound_limit_bytes: int = 1024 * 1024  # past this a member is closed 1013
    hello_timeout: float = 10.0
    ping_interval: float = 30.0
    ping_timeout: float = 20.0
    close_timeout: float = 3.0
    # A room stays loaded this long after its last member leaves, so that the
    # next join (a reconnect, a reload) does not read it again.
    room_linger: float = 30.0
    invitations_per_hour: int = 60  # one user may send, in bursts of INVITATION_BURST
    abuse_strikes: float = 20  # refused frames allowed before closing 1008 ...
    abuse_forgiveness: float = 1  # ... forgiven at this many per second
    # HTTP front
    http_timeout: float = 30.0  # per request head/body, and keep-alive idle
    max_http_head_bytes: int = 16 * 1024
    max_http_body_bytes: int = 64 * 1024
    # process
    shutdown_grace: float = 5.0


def options() -> list[tuple[attrs.Attribute[Any], Option]]:
    """Each setting a user may set, with its option, in the order of the fields."""
    return [
        (field, field.metadata[OPTION])
        for field in attrs.fields(Settings)
        if OPTION in field.metadata
    ]
