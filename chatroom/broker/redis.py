"""The servers of one chat, joined through Redis (coredis, on Trio).

One channel carries every event (broker/events.py) to every server. Each
server (a node) also keeps in Redis:

    chatroom:node:ID       its heartbeat, expiring NODE_TTL after the last one
    chatroom:presence:ID   hash "ROOM USER" -> since: its members, same expiry
    chatroom:nodes         set of node ids, pruned when heartbeats stop
    chatroom:secret-id     a hash of the token secret, set by the first node

Messages are committed to the shared database before they are published,
with ids the database allocates, so Redis only carries them faster: a room
that sees an id beyond the next one reads the missing ones from the
database, and every few seconds each room checks the database for what
Redis lost (rooms/registry.py). Presence lives in Redis: a node rewrites all
of its members whenever it connects, and a node whose heartbeat expires has
its members removed by the others.

Nothing here blocks a room: events wait in a bounded queue for the one task
that writes to Redis; when it is full, or Redis is down, they are dropped and
counted (messages come from the database instead; presence is rewritten).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import secrets
import socket
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import attrs
import coredis
import trio

from chatroom.broker.events import (
    BadEvent,
    BrokerEvent,
    MessagesEvent,
    NodeEvent,
    PresenceEvent,
    RevokedEvent,
    decode_event,
    encode_event,
    sender_prefix,
)
from chatroom.broker.presence import RemotePresence, RoomUser, rooms_of
from chatroom.protocol import ChatMessage

log = logging.getLogger(__name__)

PREFIX = "chatroom:"
EVENTS = PREFIX + "events"
NODES = PREFIX + "nodes"
SECRET_ID = PREFIX + "secret-id"

HEARTBEAT = 2.0  # seconds between a node's heartbeats
NODE_TTL = 10  # seconds without one before the others drop its members
OUTGOING_LIMIT = 10_000  # events waiting for Redis; past it they are dropped
PIPELINE_LIMIT = 512  # events written to Redis in one round trip
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0
RETRY_MIN = 0.1  # seconds before reconnecting, doubling up to RETRY_MAX
RETRY_MAX = 5.0
HEALTHY_AFTER = 30.0  # a connection that lasted this long starts the backoff over

CONNECTING, CONNECTED, UNAVAILABLE = "connecting", "connected", "unavailable"


class BrokerListener(Protocol):
    """What the broker tells this server about the others."""

    def remote_messages(self, room: str, messages: list[ChatMessage]) -> None: ...

    def presence_changed(self, names: Mapping[str, str], changed: Mapping[str, list[str]]) -> None:
        """Members of rooms (key -> users whose membership may differ)."""

    def token_revoked(self, token_id: str) -> None: ...


def secret_id(secret: bytes) -> str:
    """Names the token secret without revealing it."""
    return hashlib.sha256(b"chatroom secret id\0" + secret).hexdigest()[:16]


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@attrs.frozen
class _Publish:
    data: bytes


@attrs.frozen
class _Presence:
    room: str
    user: str
    since: int | None


@attrs.frozen
class _Rewrite:
    """Rewrite all of this node's members (its entry in Redis expired)."""


_Outgoing = _Publish | _Presence | _Rewrite


class RedisBroker:
    """Implements rooms' ClusterLink; run() keeps it connected until cancelled."""

    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        heartbeat: float = HEARTBEAT,
        node_ttl: int = NODE_TTL,
    ) -> None:
        self.url = url
        self.node = secrets.token_hex(8)
        self._own_events = sender_prefix(self.node)
        self.state = CONNECTING
        self.secret_mismatch = False
        self.dropped = 0  # events not published (queue full or Redis down)
        self.remote = RemotePresence()
        self._secret_id = secret_id(secret)
        self._heartbeat = heartbeat
        self._node_ttl = node_ttl
        self._local: dict[str, dict[str, int]] = {}  # room -> user -> since, on this node
        self._outgoing_sender, self._outgoing = trio.open_memory_channel[_Outgoing](OUTGOING_LIMIT)
        self._rewrite = False  # a presence change was dropped: rewrite them all
        self._connected_at = 0.0
        self._listener: BrokerListener | None = None
        self._info = json.dumps({"host": socket.gethostname(), "pid": os.getpid()})

    # -- ClusterLink: called by rooms, never blocks ----------------------------------

    def published(self, room: str, messages: list[ChatMessage]) -> None:
        self._offer(_Publish(encode_event(MessagesEvent(self.node, room, tuple(messages)))))

    def member_changed(self, room: str, user: str, since: int | None) -> None:
        members = self._local.setdefault(room, {})
        if since is None:
            members.pop(user, None)
            if not members:
                del self._local[room]
        else:
            members[user] = since
        self._offer(_Presence(room, user, since))

    def elsewhere(self, key: str) -> Mapping[str, int]:
        return self.remote.users(key)

    def is_elsewhere(self, key: str, user: str) -> bool:
        return self.remote.has(key, user)

    def token_revoked(self, token_id: str) -> None:
        self._offer(_Publish(encode_event(RevokedEvent(self.node, token_id))))

    def _offer(self, event: _Outgoing) -> None:
        if self.state != CONNECTED:
            return  # connecting rewrites presence; rooms read missed messages
        try:
            self._outgoing_sender.send_nowait(event)
        except trio.WouldBlock:
            self.dropped += 1
            if not isinstance(event, _Publish):
                self._rewrite = True

    # -- the connection ---------------------------------------------------------------

    async def run(
        self,
        listener: BrokerListener,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Stay connected, reconnecting with backoff; never raises but Cancelled.
        Started once the first attempt connected or failed: clients that come
        right after start-up see the other servers' members."""
        self._listener = listener
        first = True

        def ready() -> None:
            nonlocal first
            if first:
                first = False
                task_status.started()

        delay = RETRY_MIN
        while True:
            started = trio.current_time()
            try:
                await self._session(ready)
            except Exception as exc:  # any failure means: reconnect
                self._lost(exc)
            except BaseExceptionGroup as group:
                # Cancelled: coredis's clean-up may fail too, on a connection
                # already closed; that is not an error of ours to report.
                cancelled, _ = group.split(trio.Cancelled)
                if cancelled is None:
                    raise
                raise cancelled from None
            ready()
            if trio.current_time() - started > HEALTHY_AFTER:
                delay = RETRY_MIN
            await trio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, RETRY_MAX)

    def _lost(self, exc: Exception) -> None:
        if self.state != UNAVAILABLE:
            log.warning(
                "broker %s unavailable (%s): serving this server's clients alone, "
                "other servers' messages read from the database; reconnecting",
                redacted(self.url),
                _cause(exc),
            )
        self.state = UNAVAILABLE
        self._drop_waiting()  # superseded by the next connection's rewrite

    async def _session(self, ready: Callable[[], None]) -> None:
        client = coredis.Redis.from_url(
            self.url,
            decode_responses=False,
            connect_timeout=CONNECT_TIMEOUT,
            stream_timeout=COMMAND_TIMEOUT,
        )
        async with client, client.pubsub(retry_policy=None, ignore_subscribe_messages=True) as sub:
            await sub.subscribe(EVENTS)
            await self._check_secret(client)
            await self._read_nodes(client)
            was = self.state
            # Changes from here on queue up behind the members _register writes.
            self.state = CONNECTED
            self._rewrite = False
            await self._register(client)
            if was == UNAVAILABLE:
                log.warning("broker %s reachable again", redacted(self.url))
            else:
                log.info("broker %s: this server is node %s", redacted(self.url), self.node)
            self._connected_at = trio.current_time()
            ready()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write_loop, client)
                nursery.start_soon(self._heartbeat_loop, client)
                async for message in sub:
                    data = message["data"]
                    if message["type"] == "message" and isinstance(data, bytes):
                        await self._dispatch(client, data)
                raise ConnectionError("the subscription ended")

    async def _check_secret(self, client: coredis.Redis[bytes]) -> None:
        await client.set(SECRET_ID, self._secret_id, condition=coredis.PureToken.NX)
        cluster_id = await client.get(SECRET_ID)
        mismatch = cluster_id is not None and cluster_id.decode() != self._secret_id
        if mismatch and not self.secret_mismatch:
            log.error(
                "this server's token secret differs from the other servers' on broker %s: "
                "tokens one issues are refused by the other. Give every server the same "
                "CHATROOM_SECRET (or data dir)",
                redacted(self.url),
            )
        self.secret_mismatch = mismatch

    async def _read_nodes(self, client: coredis.Redis[bytes]) -> None:
        """Every live node's members, replacing what we knew of it."""
        nodes = {n.decode() for n in await client.smembers(NODES)} - {self.node}
        for node in nodes:
            async with client.pipeline(transaction=False) as pipe:
                alive = pipe.exists([_node_key(node)])
                members = pipe.hgetall(_presence_key(node))
            if await alive:
                self._replace_node(node, await members)

    async def _register(self, client: coredis.Redis[bytes]) -> None:
        """(Re)write this node's heartbeat and all its members; tell the others."""
        members = {
            f"{room} {user}": since
            for room, users in self._local.items()
            for user, since in users.items()
        }
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(_node_key(self.node), self._info, ex=self._node_ttl)
            pipe.delete([_presence_key(self.node)])
            if members:
                pipe.hset(_presence_key(self.node), members)
                pipe.expire(_presence_key(self.node), self._node_ttl)
            pipe.sadd(NODES, [self.node])
            pipe.publish(EVENTS, encode_event(NodeEvent(self.node)))

    async def _write_loop(self, client: coredis.Redis[bytes]) -> None:
        """The one writer of this node's events and presence, in order."""
        while True:
            batch = [await self._outgoing.receive()]
            while len(batch) < PIPELINE_LIMIT:
                try:
                    batch.append(self._outgoing.receive_nowait())
                except trio.WouldBlock:
                    break
            if self._rewrite or any(isinstance(e, _Rewrite) for e in batch):
                # After a dropped change or an expiry: all of them, as they are now.
                self._drop_waiting()
                self._rewrite = False
                await self._register(client)
                continue
            async with client.pipeline(transaction=False) as pipe:
                for event in batch:
                    if isinstance(event, _Publish):
                        pipe.publish(EVENTS, event.data)
                        continue
                    assert isinstance(event, _Presence)
                    field = f"{event.room} {event.user}"
                    if event.since is None:
                        pipe.hdel(_presence_key(self.node), [field])
                    else:
                        pipe.hset(_presence_key(self.node), {field: event.since})
                    presence = PresenceEvent(self.node, event.room, event.user, event.since)
                    pipe.publish(EVENTS, encode_event(presence))

    def _drop_waiting(self) -> None:
        while True:
            try:
                self._outgoing.receive_nowait()
            except trio.WouldBlock:
                return
            self.dropped += 1

    async def _heartbeat_loop(self, client: coredis.Redis[bytes]) -> None:
        """Keep this node alive in Redis; drop the members of nodes that are not."""
        while True:
            await trio.sleep(self._heartbeat)
            async with client.pipeline(transaction=False) as pipe:
                alive = pipe.exists([_node_key(self.node)])
                pipe.set(_node_key(self.node), self._info, ex=self._node_ttl)
                pipe.expire(_presence_key(self.node), self._node_ttl)
                pipe.sadd(NODES, [self.node])
                listed = pipe.smembers(NODES)
            if not await alive:
                # This node was silent too long (a stalled process): the others
                # dropped its members, and Redis may have too.
                log.warning("this node's heartbeat had expired: rewriting its members")
                self._offer(_Rewrite())
            nodes = ({n.decode() for n in await listed} | set(self.remote.nodes)) - {self.node}
            if not nodes:
                continue
            ordered = sorted(nodes)
            async with client.pipeline(transaction=False) as pipe:
                checks = [pipe.exists([_node_key(node)]) for node in ordered]
            dead = [node for node, check in zip(ordered, checks, strict=True) if not await check]
            # Just after (re)connecting, live nodes may not have rewritten
            # theirs yet (a restarted Redis starts empty): wait one TTL.
            if dead and trio.current_time() - self._connected_at >= self._node_ttl:
                for node in dead:
                    changed = self.remote.drop_node(node)
                    if changed:
                        log.info("node %s stopped sending heartbeats: its members left", node)
                    self._notify(changed)
                async with client.pipeline(transaction=False) as pipe:
                    pipe.srem(NODES, dead)
                    pipe.delete([_presence_key(node) for node in dead])

    async def depart(self) -> None:
        """On shutdown: this node's members leave everywhere at once, rather
        than when its heartbeat expires."""
        if self.state != CONNECTED:
            return
        client = coredis.Redis.from_url(
            self.url, decode_responses=False, connect_timeout=CONNECT_TIMEOUT
        )
        async with client, client.pipeline(transaction=False) as pipe:
            pipe.delete([_node_key(self.node), _presence_key(self.node)])
            pipe.srem(NODES, [self.node])
            pipe.publish(EVENTS, encode_event(NodeEvent(self.node)))

    # -- from the others --------------------------------------------------------------

    async def _dispatch(self, client: coredis.Redis[bytes], data: bytes) -> None:
        if data.startswith(self._own_events):
            return  # delivered here before it was published
        try:
            event: BrokerEvent = decode_event(data)
        except BadEvent as exc:
            log.warning("skipped an event on %s: %s", EVENTS, exc)
            return
        if event.node == self.node or self._listener is None:
            return
        match event:
            case MessagesEvent(_node, room, messages):
                self._listener.remote_messages(room, list(messages))
            case PresenceEvent(node, room, user, since):
                if since is None:
                    self._notify({self.remote.leave(node, room, user)})
                else:
                    self._notify({self.remote.join(node, room, user, since)})
            case NodeEvent(node):
                # Read here, in event order: changes published after it come after.
                self._replace_node(node, await client.hgetall(_presence_key(node)))
            case RevokedEvent(_node, token_id):
                self._listener.token_revoked(token_id)

    def _replace_node(self, node: str, stored: Mapping[bytes, bytes]) -> None:
        members: dict[tuple[str, str], int] = {}
        for field, since in stored.items():
            room, _, user = field.decode().partition(" ")
            members[room, user] = int(since)
        self._notify(self.remote.replace_node(node, members))

    def _notify(self, changed: set[RoomUser]) -> None:
        if not changed or self._listener is None:
            return
        grouped = rooms_of(changed)
        names = {key: self.remote.name(key) or key for key in grouped}
        self._listener.presence_changed(names, grouped)


def _node_key(node: str) -> str:
    return f"{PREFIX}node:{node}"


def _presence_key(node: str) -> str:
    return f"{PREFIX}presence:{node}"


def _cause(exc: BaseException) -> str:
    """The first leaf of an exception group, as text."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return str(exc) or type(exc).__name__
