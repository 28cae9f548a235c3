"""The servers of one chat, joined through Redis (coredis, on Trio; the
event channel is read by broker/channel.py).

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

import json
import logging
import os
import secrets
import socket
from collections.abc import Callable, Mapping
from typing import Protocol

import coredis
import trio

from chatroom.broker.channel import Where, subscribed
from chatroom.broker.keys import SECRET_ID, Keys, redacted, secret_id
from chatroom.broker.outgoing import (
    Outgoing,
    OutgoingQueue,
    Presence,
    Publish,
    Revoked,
    Rewrite,
)
from chatroom.broker.presence import RemotePresence, RoomUser, rooms_of
from chatroom.broker.reconnect import cancelled_quietly, cause, keep_connected
from chatroom.cluster.events import (
    ONLINE,
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

HEARTBEAT = 2.0  # seconds between a node's heartbeats
NODE_TTL = 10  # seconds without one before the others drop its members
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0

CONNECTING, CONNECTED, UNAVAILABLE = "connecting", "connected", "unavailable"


class BrokerListener(Protocol):
    """What the broker tells this server about the others."""

    def on_event(self, event: Event) -> None:
        """Every event another node published, and MembersChanged."""

    async def reconnected(self) -> None:
        """Events published while this node was cut off were missed."""


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
        self.remote = RemotePresence()
        self._secret_id = secret_id(secret)
        self._keys = Keys(f"chatroom:{self._secret_id}:")
        self._heartbeat = heartbeat
        self._node_ttl = node_ttl
        self._local: dict[str, dict[str, int]] = {}  # room -> user -> since, on this node
        self._out = OutgoingQueue()
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
                self._offer(Presence(room, user, since))
            case RevokedEvent(token_id):
                self._offer(Revoked(token_id))
            case _:
                self._offer(Publish(encode_event(event, self.node)))

    @property
    def dropped(self) -> int:
        """Events not published (queue full or Redis down)."""
        return self._out.dropped

    def _offer(self, item: Outgoing) -> None:
        self._out.offer(item, connected=self.state == CONNECTED)

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
        await keep_connected(self._session, self._lost, task_status=task_status)

    def _lost(self, exc: Exception) -> None:
        if self.state != UNAVAILABLE:
            log.warning(
                "broker %s unavailable (%s): serving this server's clients alone, "
                "other servers' messages read from the database; reconnecting",
                redacted(self.url),
                cause(exc),
            )
        self.state = UNAVAILABLE
        self._out.drop_waiting()

    async def _session(self, ready: Callable[[], None]) -> None:
        client = coredis.Redis.from_url(
            self.url,
            decode_responses=False,
            connect_timeout=CONNECT_TIMEOUT,
            stream_timeout=COMMAND_TIMEOUT,
        )
        pool = client.connection_pool
        where = Where.of_pool(pool.location, dict(pool.connection_kwargs))
        channel = subscribed(where, self._keys.events, connect_timeout=CONNECT_TIMEOUT)
        async with client, channel as events:
            await self._check_secret(client)
            await self._read_nodes(client)
            was = self.state
            # Changes from here on queue up behind the members _register writes.
            self.state = CONNECTED
            self._out.rewrite = False
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
                async for data in events.messages():
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
        revocations = self._out.take_revocations()
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
            self._out.give_back_revocations(revocations)
            raise

    async def _write_loop(self, client: coredis.Redis[bytes]) -> None:
        """The one writer of this node's events and presence, in order."""
        while True:
            batch = await self._out.next_batch()
            if self._out.rewrite or any(isinstance(e, Rewrite) for e in batch):
                # After a dropped change or an expiry: all of them, as they are now.
                for item in batch:
                    self._out.lost(item)
                self._out.drop_waiting()
                self._out.rewrite = False
                await self._register(client)
                continue
            try:
                await self._write(client, batch)
            except BaseException:
                for item in batch:
                    self._out.lost(item)
                raise

    async def _write(self, client: coredis.Redis[bytes], batch: list[Outgoing]) -> None:
        keys = self._keys
        async with client.pipeline(transaction=False) as pipe:
            for event in batch:
                if isinstance(event, Publish):
                    pipe.publish(keys.events, event.data)
                elif isinstance(event, Revoked):
                    revoked = RevokedEvent(event.token_id)
                    pipe.publish(keys.events, encode_event(revoked, self.node))
                elif isinstance(event, Presence):
                    field = f"{event.room} {event.user}"
                    if event.since is None:
                        pipe.hdel(keys.presence(self.node), [field])
                    else:
                        pipe.hset(keys.presence(self.node), {field: event.since})
                        pipe.expire(keys.presence(self.node), self._node_ttl)
                    presence = PresenceEvent(event.room, event.user, event.since)
                    pipe.publish(keys.events, encode_event(presence, self.node))

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
                self._offer(Rewrite())
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
            with cancelled_quietly():
                async with client, client.pipeline(transaction=True) as pipe:
                    pipe.delete([keys.node(self.node), keys.presence(self.node)])
                    pipe.srem(keys.nodes, [self.node])
                    pipe.publish(keys.events, encode_event(NodeEvent(), self.node))
        except Exception as exc:  # its heartbeat expires anyway
            log.warning("could not tell the other servers this one stops: %s", cause(exc))

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
        # (who is connected where, the room ONLINE, is no room's business)
        for key, users in rooms_of(pair for pair in changed if pair[0] != ONLINE).items():
            room = self.remote.name(key) or key
            self._listener.on_event(MembersChanged(room, tuple(users), node=self.node))
