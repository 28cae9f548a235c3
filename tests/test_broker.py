"""Two brokers (two nodes' worth) in one Trio run against a real redis-server:
presence, messages, a node's death and Redis going away, with short
heartbeats so that expiry takes seconds."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio

from chatroom.broker import RedisBroker
from chatroom.cluster.events import (
    ChangedEvent,
    Event,
    MembersChanged,
    MessagesEvent,
    PresenceEvent,
    RevokedEvent,
)
from chatroom.domain import ChatMessage
from tests.redis import RedisServer

SECRET = b"broker-test-secret-of-32-bytes-or-more"
WAIT = 10


@attrs.define
class Recorder:
    """A node's view of what the other nodes did."""

    messages: list[ChatMessage] = attrs.field(factory=list)
    changed: list[tuple[str, str]] = attrs.field(factory=list)
    revoked: list[str] = attrs.field(factory=list)
    reconnections: int = 0
    _event: trio.Event = attrs.field(factory=trio.Event)

    def on_event(self, event: Event) -> None:
        match event:
            case MessagesEvent(_room, messages):
                self.messages.extend(messages)
            case ChangedEvent(_room, message):
                self.messages.append(message)
            case MembersChanged(room, users):
                self.changed.extend((room.lower(), user) for user in users)
            case RevokedEvent(token_id):
                self.revoked.append(token_id)
        self._poke()

    async def reconnected(self) -> None:
        self.reconnections += 1

    def _poke(self) -> None:
        self._event.set()
        self._event = trio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        with trio.fail_after(WAIT):
            while not condition():
                await self._event.wait()


async def start_node(
    nursery: trio.Nursery, url: str, *, node_ttl: int = 2
) -> tuple[RedisBroker, Recorder, trio.CancelScope]:
    broker = RedisBroker(url, SECRET, heartbeat=0.2, node_ttl=node_ttl)
    recorder = Recorder()
    scope = trio.CancelScope()

    async def run(task_status: trio.TaskStatus[None]) -> None:
        with scope:
            await broker.run(recorder, task_status=task_status)

    await nursery.start(run)
    return broker, recorder, scope


async def test_members_messages_and_revocations_reach_the_other_node(
    nursery: trio.Nursery, redis: RedisServer
) -> None:
    first, _, _ = await start_node(nursery, redis.url)
    second, seen, _ = await start_node(nursery, redis.url)
    first.publish(PresenceEvent("Lobby", "ann", 100))
    await seen.until(lambda: second.remote.users("lobby") == {"ann": 100})
    message = ChatMessage("Lobby", 1, "ann", "hi", 100)
    first.publish(MessagesEvent("Lobby", (message,)))
    first.publish(RevokedEvent("token-1"))
    await seen.until(lambda: seen.revoked == ["token-1"])
    assert seen.messages == [message]
    first.publish(PresenceEvent("Lobby", "ann", None))
    await seen.until(lambda: not second.remote.has("lobby", "ann"))
    assert first.remote.users("lobby") == {}  # a node does not count itself


async def test_a_node_that_stops_sending_heartbeats_loses_its_members(
    nursery: trio.Nursery, redis: RedisServer
) -> None:
    doomed, _, doomed_scope = await start_node(nursery, redis.url)
    survivor, seen, _ = await start_node(nursery, redis.url)
    doomed.publish(PresenceEvent("Lobby", "ann", 100))
    await seen.until(lambda: survivor.remote.has("lobby", "ann"))
    doomed_scope.cancel()  # dies without a word
    started = trio.current_time()
    await seen.until(lambda: not survivor.remote.has("lobby", "ann"))
    assert trio.current_time() - started >= 1  # expired, not announced
    # A node that starts later never sees the dead one's members.
    late, _, _ = await start_node(nursery, redis.url)
    assert not late.remote.has("lobby", "ann")


async def test_members_survive_a_redis_restart(nursery: trio.Nursery, redis: RedisServer) -> None:
    first, _, _ = await start_node(nursery, redis.url, node_ttl=3)
    second, seen, _ = await start_node(nursery, redis.url, node_ttl=3)
    first.publish(PresenceEvent("Lobby", "ann", 100))
    await seen.until(lambda: second.remote.has("lobby", "ann"))
    await trio.to_thread.run_sync(redis.stop)
    with trio.fail_after(WAIT):
        # The broker has no event for its state: poll it.
        while first.state != "unavailable" or second.state != "unavailable":  # noqa: ASYNC110
            await trio.sleep(0.05)
    first.publish(PresenceEvent("Lobby", "bob", 200))  # while Redis is down
    await trio.to_thread.run_sync(redis.start)  # empty: nothing was saved
    await seen.until(lambda: second.remote.users("lobby") == {"ann": 100, "bob": 200})
    await trio.sleep(4)  # longer than a node's TTL: nobody is dropped meanwhile
    assert second.remote.users("lobby") == {"ann": 100, "bob": 200}
    assert seen.reconnections == 2


async def test_another_secret_is_noticed(nursery: trio.Nursery, redis: RedisServer) -> None:
    first, _, _ = await start_node(nursery, redis.url)
    other = RedisBroker(redis.url, b"another-secret-of-32-bytes-or-more-!!")
    await nursery.start(other.run, Recorder())
    assert other.secret_mismatch and not first.secret_mismatch
