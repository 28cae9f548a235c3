"""The servers of one chat, joined through Redis (coredis, on Trio).

One channel carries every event (cluster/events.py) to every server. Each
server (a node) also keeps in Redis, under chatroom:SID: (SID: a hash of the
token secret, so that servers with another secret are another chat):

    events            the channel
    node:ID           its heartbeat, expiring NODE_TTL after the last one
    presence:ID       hash "ROOM USER" -> since: its members, same expiry
    nodes             set of node ids, pruned when heartbeats stop

and chatroom:secret-id, the SID of the first server, so that one with
another secret can say so.

Messages are committed to the shared database before they are published,
with ids the database allocates, so Redis only carries them faster: a room
that sees an id beyond the next one reads the missing ones from the
database, and every few seconds each room checks the database for what
Redis lost (rooms/registry.py). Presence lives in Redis: a node rewrites all
of its members whenever it connects, and a node whose heartbeat expires has
its members removed by the others.

Nothing here blocks a room: events wait in a bounded queue for the one task
that writes to Redis; when it is full, or Redis is down, they are dropped and
counted (messages come from the database instead; presence is rewritten;
revocations are kept and published on reconnecting, and a reconnecting node
checks its own sessions' tokens in the database).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import secrets
import socket
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import attrs
import coredis
import trio

from chatroom.broker.presence import RemotePresence, RoomUser, rooms_of
from chatroom.cluster.events import (
    BadEvent,
    Event,
    MembersChanged,
    NodeEvent,
    PresenceEvent,
    RevokedEvent,
    decode_event,
    encode_event,
    sender_prefix,
)

log = logging.getLogger(__name__)

SECRET_ID = "chatroom:secret-id"

HEARTBEAT = 2.0  # seconds between a node's heartbeats
NODE_TTL = 10  # seconds without one before the others drop its members
OUTGOING_LIMIT = 10_000  # events waiting for Redis; past it they are dropped
UNSENT_REVOCATIONS_LIMIT = 1000  # kept while Redis is down; the oldest go first
PIPELINE_LIMIT = 512  # events written to Redis in one round trip
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0
RETRY_MIN = 0.1  # seconds before reconnecting, doubling up to RETRY_MAX
RETRY_MAX = 5.0
HEALTHY_AFTER = 30.0  # a connection that lasted this long starts the backoff over

CONNECTING, CONNECTED, UNAVAILABLE = "connecting", "connected", "unavailable"


class BrokerListener(Protocol):
    """What the broker tells this server about the others."""

    def on_event(self, event: Event) -> None:
        """Every event another node published, and MembersChanged."""

    async def reconnected(self) -> None:
        """Events published while this node was cut off were missed."""


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
class Keys:
    """Where one chat (one token secret) keeps things in Redis."""

    namespace: str

    @property
    def events(self) -> str:
        return self.namespace + "events"

    @property
    def nodes(self) -> str:
        return self.namespace + "nodes"

    def node(self, node: str) -> str:
        return f"{self.namespace}node:{node}"

    def presence(self, node: str) -> str:
        return f"{self.namespace}presence:{node}"


@attrs.frozen
class _Publish:
    data: bytes


@attrs.frozen
class _Revoked:
    token_id: str


@attrs.frozen
class _Presence:
    room: str
    user: str
    since: int | None


@attrs.frozen
class _Rewrite:
    """Rewrite all of this node's members (its entry in Redis expired)."""


_Outgoing = _Publish | _Revoked | _Presence | _Rewrite


class RedisBroker:
    """Carries events between the nodes; run() keeps it connected until cancelled."""

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
        self._keys = Keys(f"chatroom:{self._secret_id}:")
        self._heartbeat = heartbeat
        self._node_ttl = node_ttl
        self._local: dict[str, dict[str, int]] = {}  # room -> user -> since, on this node
        self._outgoing_sender, self._outgoing = trio.open_memory_channel[_Outgoing](OUTGOING_LIMIT)
        self._rewrite = False  # a presence change was dropped: rewrite them all
        self._unsent_revocations: list[str] = []
        # Per node, how many times it rewrote its members: a node that did so
        # while we were deciding it was dead is not dead.
        self._rewrites_seen: dict[str, int] = {}
        self._connected_at = 0.0
        self._listener: BrokerListener | None = None
        self._info = json.dumps({"host": socket.gethostname(), "pid": os.getpid()})

    # -- from this node: never blocks ----------------------------------------------

    def publish(self, event: Event) -> None:
        """Send `event` to the other nodes. Presence is also kept in Redis
        (and rewritten if dropped); revocations wait while Redis is away."""
        match event:
            case PresenceEvent(room, user, since):
                members = self._local.setdefault(room, {})
                if since is None:
                    members.pop(user, None)
                    if not members:
                        del self._local[room]
                else:
                    members[user] = since
                self._offer(_Presence(room, user, since))
            case RevokedEvent(token_id):
                self._offer(_Revoked(token_id))
            case _:
                self._offer(_Publish(encode_event(event, self.node)))

    def _offer(self, event: _Outgoing) -> None:
        if self.state == CONNECTED:
            try:
                self._outgoing_sender.send_nowait(event)
                return
            except trio.WouldBlock:
                pass
        self.dropped += 1
        self._dropped(event)

    def _dropped(self, event: _Outgoing) -> None:
        """Rooms read missed messages; presence is rewritten; revocations wait."""
        if isinstance(event, _Revoked):
            self._unsent_revocations.append(event.token_id)
            del self._unsent_revocations[:-UNSENT_REVOCATIONS_LIMIT]
        elif not isinstance(event, _Publish):
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
                with _cancelled_quietly():
                    await self._session(ready)
            except Exception as exc:  # any failure means: reconnect
                self._lost(exc)
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
        self._drop_waiting()

    async def _session(self, ready: Callable[[], None]) -> None:
        client = coredis.Redis.from_url(
            self.url,
            decode_responses=False,
            connect_timeout=CONNECT_TIMEOUT,
            stream_timeout=COMMAND_TIMEOUT,
        )
        async with client, client.pubsub(retry_policy=None, ignore_subscribe_messages=True) as sub:
            await sub.subscribe(self._keys.events)
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
            if self._listener is not None:
                await self._listener.reconnected()
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
        nodes = {n.decode() for n in await client.smembers(self._keys.nodes)} - {self.node}
        for node in nodes:
            async with client.pipeline(transaction=False) as pipe:
                alive = pipe.exists([self._keys.node(node)])
                members = pipe.hgetall(self._keys.presence(node))
            if await alive:
                self._replace_node(node, await members)

    async def _register(self, client: coredis.Redis[bytes]) -> None:
        """(Re)write this node's heartbeat and all its members at once (no
        reader sees them half written); tell the others; publish the
        revocations that waited."""
        keys = self._keys
        members = {
            f"{room} {user}": since
            for room, users in self._local.items()
            for user, since in users.items()
        }
        revocations, self._unsent_revocations = self._unsent_revocations, []
        try:
            async with client.pipeline(transaction=True) as pipe:
                pipe.set(keys.node(self.node), self._info, ex=self._node_ttl)
                pipe.delete([keys.presence(self.node)])
                if members:
                    pipe.hset(keys.presence(self.node), members)
                    pipe.expire(keys.presence(self.node), self._node_ttl)
                pipe.sadd(keys.nodes, [self.node])
                pipe.publish(keys.events, encode_event(NodeEvent(), self.node))
                for token_id in revocations:
                    pipe.publish(keys.events, encode_event(RevokedEvent(token_id), self.node))
        except BaseException:
            self._unsent_revocations[:0] = revocations
            raise

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
                for event in batch:
                    self._dropped(event)
                self._drop_waiting()
                self._rewrite = False
                await self._register(client)
                continue
            try:
                await self._write(client, batch)
            except BaseException:
                for event in batch:
                    self._dropped(event)
                raise

    async def _write(self, client: coredis.Redis[bytes], batch: list[_Outgoing]) -> None:
        keys = self._keys
        async with client.pipeline(transaction=False) as pipe:
            for event in batch:
                if isinstance(event, _Publish):
                    pipe.publish(keys.events, event.data)
                elif isinstance(event, _Revoked):
                    revoked = RevokedEvent(event.token_id)
                    pipe.publish(keys.events, encode_event(revoked, self.node))
                elif isinstance(event, _Presence):
                    field = f"{event.room} {event.user}"
                    if event.since is None:
                        pipe.hdel(keys.presence(self.node), [field])
                    else:
                        pipe.hset(keys.presence(self.node), {field: event.since})
                        pipe.expire(keys.presence(self.node), self._node_ttl)
                    presence = PresenceEvent(event.room, event.user, event.since)
                    pipe.publish(keys.events, encode_event(presence, self.node))

    def _drop_waiting(self) -> None:
        """What waited is superseded by a rewrite of presence (revocations wait on)."""
        while True:
            try:
                event = self._outgoing.receive_nowait()
            except trio.WouldBlock:
                return
            self.dropped += 1
            self._dropped(event)

    async def _heartbeat_loop(self, client: coredis.Redis[bytes]) -> None:
        """Keep this node alive in Redis; drop the members of nodes that are not."""
        while True:
            await trio.sleep(self._heartbeat)
            keys = self._keys
            async with client.pipeline(transaction=False) as pipe:
                alive = pipe.exists([keys.node(self.node)])
                pipe.set(keys.node(self.node), self._info, ex=self._node_ttl)
                kept = pipe.expire(keys.presence(self.node), self._node_ttl)
                pipe.sadd(keys.nodes, [self.node])
                listed = pipe.smembers(keys.nodes)
            if not await alive or (self._local and not await kept):
                # This node was silent too long (a stalled process), or Redis
                # lost its members: the others dropped them.
                log.warning("this node's entry in the broker had expired: rewriting it")
                self._offer(_Rewrite())
            nodes = ({n.decode() for n in await listed} | set(self.remote.nodes)) - {self.node}
            if not nodes:
                continue
            ordered = sorted(nodes)
            rewrites = {node: self._rewrites_seen.get(node, 0) for node in ordered}
            async with client.pipeline(transaction=False) as pipe:
                checks = [pipe.exists([keys.node(node)]) for node in ordered]
            dead = [node for node, check in zip(ordered, checks, strict=True) if not await check]
            # Just after (re)connecting, live nodes may not have rewritten
            # theirs yet (a restarted Redis starts empty): wait one TTL.
            if not dead or trio.current_time() - self._connected_at < self._node_ttl:
                continue
            for node in dead:
                if self._rewrites_seen.get(node, 0) != rewrites[node]:
                    continue  # it came back meanwhile
                self._rewrites_seen.pop(node, None)
                changed = self.remote.drop_node(node)
                if changed:
                    log.info("node %s stopped sending heartbeats: its members left", node)
                self._notify(changed)
            # Its presence hash expires by itself (a node that comes back
            # rewrites it and adds itself again).
            await client.srem(keys.nodes, dead)

    async def depart(self) -> None:
        """On shutdown: this node's members leave everywhere at once, rather
        than when its heartbeat expires."""
        if self.state != CONNECTED:
            return
        keys = self._keys
        client = coredis.Redis.from_url(
            self.url, decode_responses=False, connect_timeout=CONNECT_TIMEOUT
        )
        try:
            with _cancelled_quietly():
                async with client, client.pipeline(transaction=True) as pipe:
                    pipe.delete([keys.node(self.node), keys.presence(self.node)])
                    pipe.srem(keys.nodes, [self.node])
                    pipe.publish(keys.events, encode_event(NodeEvent(), self.node))
        except Exception as exc:  # its heartbeat expires anyway
            log.warning("could not tell the other servers this one stops: %s", _cause(exc))

    # -- from the others --------------------------------------------------------------

    async def _dispatch(self, client: coredis.Redis[bytes], data: bytes) -> None:
        if data.startswith(self._own_events):
            return  # delivered here before it was published
        try:
            event = decode_event(data)
        except BadEvent as exc:
            log.warning("skipped an event from the broker: %s", exc)
            return
        if event.node == self.node or self._listener is None:
            return
        match event:
            case PresenceEvent(room, user, since, node=node):
                if since is None:
                    self._notify({self.remote.leave(node, room, user)})
                else:
                    self._notify({self.remote.join(node, room, user, since)})
            case NodeEvent(node=node):
                self._rewrites_seen[node] = self._rewrites_seen.get(node, 0) + 1
                # Read here, in event order: changes published after it come after.
                self._replace_node(node, await client.hgetall(self._keys.presence(node)))
            case _:
                self._listener.on_event(event)

    def _replace_node(self, node: str, stored: Mapping[bytes, bytes]) -> None:
        members: dict[tuple[str, str], int] = {}
        for field, since in stored.items():
            room, _, user = field.decode().partition(" ")
            members[room, user] = int(since)
        self._notify(self.remote.replace_node(node, members))

    def _notify(self, changed: set[RoomUser]) -> None:
        if not changed or self._listener is None:
            return
        for key, users in rooms_of(changed).items():
            room = self.remote.name(key) or key
            self._listener.on_event(MembersChanged(room, tuple(users), node=self.node))


@contextlib.contextmanager
def _cancelled_quietly() -> Iterator[None]:
    """When cancelled, coredis's clean-up may fail too, on a connection
    already closed: not an error of ours to report, so only Cancelled goes on."""
    try:
        yield
    except BaseExceptionGroup as group:
        cancelled, _ = group.split(trio.Cancelled)
        if cancelled is None:
            raise
        raise cancelled from None


def _cause(exc: BaseException) -> str:
    """The first leaf of an exception group, as text."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return str(exc) or type(exc).__name__
