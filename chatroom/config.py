"""Server settings: validated once by the CLI, read-only afterwards."""

from __future__ import annotations

from pathlib import Path

import attrs

from chatroom.net.proxy import Network


@attrs.frozen
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("chatroom-data")
    database_url: str | None = None  # None: sqlite in data_dir
    # redis://... shared by the servers of one chat; None: this process alone
    broker_url: str | None = None
    registration_open: bool = True
    registrations_per_hour: int = 20  # per client address (docs/security.md)
    group_commit: bool = True  # off only to measure what it saves
    token_ttl: int = 24 * 3600  # seconds, for tokens from /api/login and /api/register
    # WebSocket
    max_frame_bytes: int = 64 * 1024  # larger client frames close 1009
    inbound_queue: int = 4  # parsed client frames waiting for the reader
    outbound_limit_bytes: int = 1024 * 1024  # past this a member is closed 1013
    hello_timeout: float = 10.0
    ping_interval: float = 30.0
    ping_timeout: float = 20.0
    close_timeout: float = 3.0
    # abuse limits (docs/security.md)
    allowed_origins: tuple[str, ...] = ()  # besides the server's own
    # Host names requests may be addressed to (DNS rebinding); none given:
    # loopback names on a loopback listener, any name otherwise.
    allowed_hosts: tuple[str, ...] = ()
    # Reverse proxies whose X-Forwarded-For / Forwarded name the client (see net/proxy.py).
    trusted_proxies: tuple[Network, ...] = ()
    max_rooms_per_connection: int = 100
    max_rooms_per_user: int = 200  # rooms the store remembers for one user
    room_creations_per_hour: int = 60  # new rooms per user, in bursts of as many
    history_cache_mib: int = 64  # recent messages kept in memory, all rooms together
    # A room stays loaded this long after its last member leaves, so that the
    # next join (a reconnect, a reload) does not read it again.
    room_linger: float = 30.0
    history_kib_per_second: int = 2048  # history one connection may read, bursts of 4x
    storage_kib_per_hour: int = 10240  # message text one user may store, bursts of as many
    invitations_per_hour: int = 60  # one user may send, in bursts of INVITATION_BURST
    max_connections_per_user: int = 32
    max_connections_per_address: int = 1024
    max_unauthenticated: int = 2048  # sockets that have not sent a valid hello
    max_unauthenticated_per_address: int = 128  # of those, from one address
    max_token_ttl: int = 30 * 24 * 3600  # tokens valid for longer are refused
    # PROTOCOL.md promises 20 frames in a burst and 10 per second; these give
    # twice that to `send` frames and four times that to all frames.
    frame_burst: float = 80
    frame_rate: float = 40  # per second
    send_burst: float = 40
    send_rate: float = 20  # per second
    abuse_strikes: float = 20  # refused frames allowed before closing 1008 ...
    abuse_forgiveness: float = 1  # ... forgiven at this many per second
    # HTTP front
    http_timeout: float = 30.0  # per request head/body, and keep-alive idle
    max_http_head_bytes: int = 16 * 1024
    max_http_body_bytes: int = 64 * 1024
    # process
    shutdown_grace: float = 5.0
