"""serve(): the top of the task tree, and build_server(): the parts a
server is made of, built and connected in one place.

serve
├── the store's writer task                     (store/engine.py)
├── rooms nursery: one task per room            (rooms/registry.py, rooms/actor.py)
│   ├── outgoing webhooks: queued, delivered    (hooks/deliveries.py)
│   ├── files no message took, removed          (attachments/service.py)
│   └── with --broker: the Redis connection,    (broker/redis.py)
│       and each room's check for missed ids    (rooms/registry.py)
└── clients nursery
    ├── accept loop                             (net/listener.py)
    └── one task per socket: HTTP front         (front.py, net/http.py)
        └── after an upgrade: a Connection      (connection.py)
"""

from __future__ import annotations

import functools
import gc
import logging
import socket

import attrs
import trio

from chatroom.api import Api
from chatroom.attachments.service import Attachments
from chatroom.auth import TokenGate, TokenSigner
from chatroom.auth.accounts import Accounts
from chatroom.auth.controls import UserControls
from chatroom.broker import RedisBroker
from chatroom.cluster.router import ClusterRouter
from chatroom.commands.service import Commands
from chatroom.config import Settings
from chatroom.connection import Connection
from chatroom.directory import Directory
from chatroom.domain.reactions import REACTION_BURST, REACTIONS_PER_MINUTE
from chatroom.front import ChatServer
from chatroom.health import Health
from chatroom.hooks.deliveries import Deliveries
from chatroom.hooks.service import Hooks
from chatroom.net.admission import Admission
from chatroom.net.listener import accept_loop, http_url, open_listener
from chatroom.net.tls import TlsContext
from chatroom.ratelimit import BucketsByKey
from chatroom.rooms.registry import RoomRegistry
from chatroom.sessions import Sessions
from chatroom.store import Store, StoreUnavailable, default_database_url, open_database

log = logging.getLogger(__name__)

GC_YOUNG_THRESHOLD = 50_000  # allocations between young collections (Python: 700)
BROKER_DEPART_TIMEOUT = 1.0
INVITATION_BURST = 20  # invitations one user may send at once (then invitations_per_hour)


@attrs.frozen
class Parts:
    """What serve() runs and stops."""

    front: ChatServer
    registry: RoomRegistry
    sessions: Sessions
    router: ClusterRouter
    controls: UserControls
    commands: Commands
    deliveries: Deliveries
    attachments: Attachments


def build_server(
    rooms_nursery: trio.Nursery,
    *,
    settings: Settings,
    signer: TokenSigner,
    store: Store,
    broker: RedisBroker | None = None,
    tls: TlsContext | None = None,
) -> Parts:
    """Every part, given what each needs; room tasks run in `rooms_nursery`."""
    counters = store.counters  # one set, counted by the store, the rooms and the sessions
    controls = UserControls()
    sessions = Sessions(
        store=store,
        controls=controls,
        # (the router below exists by the time anyone connects)
        publish=lambda event: router.publish(event),
    )
    registry = RoomRegistry(
        rooms_nursery,
        store,
        counters=counters,
        # (the router below exists by the time a room publishes anything)
        publish=lambda event: router.publish_from_room(event),
        elsewhere=broker.remote if broker is not None else None,
        creations_per_hour=settings.room_creations_per_hour,
        cache_bytes=settings.history_cache_mib * 1024 * 1024,
        linger=settings.room_linger,
        is_bot=controls.is_bot,
    )
    commands = Commands(
        node=broker.node if broker is not None else "",
        registry=registry,
        publish=lambda event: router.publish(event),
    )
    deliveries = Deliveries(store=store, allowed=settings.webhook_allow)
    hooks = Hooks(
        store=store, registry=registry, deliveries=deliveries, allowed=settings.webhook_allow
    )
    router = ClusterRouter(
        rooms=registry,
        users=sessions,
        broker=broker,
        commands=commands,
        committed=deliveries.committed,
    )
    # One decision on tokens, for hello and for HTTP bearer tokens.
    tokens = TokenGate(signer=signer, max_ttl=settings.max_token_ttl, refusal=controls.refusal)
    admission = Admission(
        max_per_address=settings.max_connections_per_address,
        max_per_user=settings.max_connections_per_user,
        max_unauthenticated=settings.max_unauthenticated,
        max_unauthenticated_per_address=settings.max_unauthenticated_per_address,
    )
    health = Health(
        store=store, registry=registry, sessions=sessions, admission=admission, broker=broker
    )
    history_rate = settings.history_kib_per_second * 1024
    file_rate = settings.file_mib_per_hour * 1024 * 1024
    attachments = Attachments(
        store=store,
        max_bytes=settings.max_file_mib * 1024 * 1024,
        storage=BucketsByKey(file_rate, file_rate / 3600),
        unattached_seconds=settings.unattached_file_seconds,
    )
    api = Api(
        registry=registry,
        tokens=tokens,
        store=store,
        accounts=Accounts(
            store,
            signer,
            settings.token_ttl,
            registration_open=settings.registration_open,
            registrations_per_hour=settings.registrations_per_hour,
            banned=controls.banned,
        ),
        gauges=health.gauges,
        counters=counters,
        publish=router.publish,
        history_reads=BucketsByKey(4 * history_rate, history_rate),
        health=health.health,
        hooks=hooks,
        attachments=attachments,
    )
    remote = broker.remote if broker is not None else None

    def online(user: str) -> bool:
        """Connected here or on another server."""
        return bool(sessions.of(user)) or (remote is not None and remote.online(user))

    storage_per_hour = settings.storage_kib_per_hour * 1024
    new_connection = functools.partial(
        Connection,
        registry=registry,
        store=store,
        tokens=tokens,
        settings=settings,
        counters=counters,
        storage=BucketsByKey(storage_per_hour, storage_per_hour / 3600),
        invitations=BucketsByKey(
            INVITATION_BURST, settings.invitations_per_hour / 3600, max_keys=10_000
        ),
        publish=router.publish,
        learn_bot=controls.learn_bot,
        commands=commands,
        hooks=hooks,
        attachments=attachments,
        directory=Directory(store=store, online=online),
        reactions=BucketsByKey(REACTION_BURST, REACTIONS_PER_MINUTE / 60, max_keys=10_000),
    )
    front = ChatServer(
        settings=settings,
        api=api,
        admission=admission,
        sessions=sessions,
        counters=counters,
        new_connection=new_connection,
        tls=tls,
    )
    return Parts(front, registry, sessions, router, controls, commands, deliveries, attachments)


async def serve(
    settings: Settings,
    signer: TokenSigner,
    shutdown: trio.Event,
    *,
    listener: socket.socket | None = None,
    tls: TlsContext | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until `shutdown` is set, then close every client and return.

    Reports the bound port to `nursery.start()` once it accepts connections.
    Takes an already bound `listener`, or binds settings.host:settings.port.
    """
    if listener is None:
        listener = open_listener(settings.host, settings.port)
    port: int = listener.getsockname()[1]
    tune_garbage_collector()
    database_url = settings.database_url or default_database_url(settings.data_dir)
    store = Store(open_database(database_url), group_commit=settings.group_commit)
    async with trio.open_nursery() as top:
        await top.start(store.run)
        log.info("database: %s", store.database.description)
        broker = None
        if settings.broker_url is not None:
            broker = RedisBroker(settings.broker_url, signer.secret)
        await _serve_clients(
            settings, signer, store, broker, tls, listener, port, shutdown, task_status
        )
        # What the rooms queued last (where their members got to) is written too.
        with trio.move_on_after(settings.shutdown_grace):
            try:
                await store.flush()
            except StoreUnavailable:
                log.warning("stopping without the last unread positions: database unavailable")
        top.cancel_scope.cancel()
    log.info("stopped")


async def _serve_clients(
    settings: Settings,
    signer: TokenSigner,
    store: Store,
    broker: RedisBroker | None,
    tls: TlsContext | None,
    listener: socket.socket,
    port: int,
    shutdown: trio.Event,
    task_status: trio.TaskStatus[int],
) -> None:
    async with trio.open_nursery() as rooms_nursery:
        parts = build_server(
            rooms_nursery, settings=settings, signer=signer, store=store, broker=broker, tls=tls
        )
        server, registry, sessions = parts.front, parts.registry, parts.sessions
        await registry.load()
        await rooms_nursery.start(parts.controls.watch, store, sessions.user_control_changed)
        await rooms_nursery.start(parts.commands.run)
        await rooms_nursery.start(parts.deliveries.run)
        await rooms_nursery.start(parts.attachments.run)
        rooms_nursery.start_soon(registry.follow_operations)
        broker_scope = trio.CancelScope()
        if broker is not None:

            async def run_broker(task_status: trio.TaskStatus[None]) -> None:
                with broker_scope:
                    await broker.run(parts.router, task_status=task_status)

            await rooms_nursery.start(run_broker)
            rooms_nursery.start_soon(registry.check_gaps)
        async with trio.open_nursery() as clients:
            accepting = trio.CancelScope()

            async def accept() -> None:
                with accepting:
                    try:
                        await accept_loop(listener, server.handle_socket, clients)
                    finally:
                        trio.lowlevel.notify_closing(listener)
                        listener.close()

            clients.start_soon(accept)
            url = http_url(settings.host, port, tls=tls is not None)
            log.info("listening on %s (WebSocket at /ws)", url)
            task_status.started(port)
            await shutdown.wait()
            log.info("shutting down: closing %d WebSocket sessions", len(sessions))
            accepting.cancel()
            with trio.move_on_after(settings.shutdown_grace):
                await sessions.close_all()
            clients.cancel_scope.cancel()
        if broker is not None:
            broker_scope.cancel()  # no heartbeat after it departs
            with trio.move_on_after(BROKER_DEPART_TIMEOUT):
                await broker.depart()
        rooms_nursery.cancel_scope.cancel()


def tune_garbage_collector() -> None:
    """Most of a busy server's heap is long-lived connection state: a full
    collection walks all of it (seconds, at 20,000 connections) and frees
    next to nothing. Freeze what start-up made, and run the oldest generation
    rarely; reference counting still frees everything that is not a cycle."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 50, 100)
