"""A room: one task that owns its members and orders everything said in it.

Joins, leaves, sends and member queries arrive through one bounded channel,
so every member sees the same order. The task drains what is waiting before
fanning out: under load, one write per member carries many messages. Fan-out
never blocks: a member that cannot keep up is dropped from the room at once
and closed (1013) by its own connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import attrs
import trio

from chatroom import protocol
from chatroom.protocol import ChatMessage, ErrorCode, Member, ProtocolError, Ref
from chatroom.wsframe import text_frame

MAX_BATCH = 512
# A flush costs a write per member. In a large room, the room lets the
# connections' readers run more scheduler rounds while requests keep coming,
# so that each write carries more messages: a round costs microseconds, a
# flush to a thousand members milliseconds. Idle, it costs two rounds.
COALESCE_MIN_MEMBERS = 64
COALESCE_MAX_ROUNDS = 16
COALESCE_QUIET_ROUNDS = 2


class Subscriber(Protocol):
    """What a room needs of a connection."""

    @property
    def user(self) -> str: ...

    def deliver(self, data: bytes) -> bool:
        """Queue whole frames for the client without blocking; False if refused."""


@attrs.frozen(eq=False)
class JoinRequest:
    subscriber: Subscriber
    ref: Ref = None


@attrs.frozen(eq=False)
class LeaveRequest:
    subscriber: Subscriber
    ref: Ref = None
    reply: bool = True


@attrs.frozen(eq=False)
class PublishRequest:
    subscriber: Subscriber
    text: str
    ref: Ref = None


@attrs.frozen(eq=False)
class MembersRequest:
    subscriber: Subscriber
    ref: Ref = None


RoomRequest = JoinRequest | LeaveRequest | PublishRequest | MembersRequest


class RoomClosed(Exception):
    """The room's task has ended; open the room again from the registry."""


@attrs.define
class _Membership:
    since: int
    connections: int = 0


class Room:
    def __init__(
        self,
        name: str,
        *,
        inbound_size: int,
        clock_ms: Callable[[], int],
        on_empty: Callable[[Room], None],
    ) -> None:
        self.name = name
        self._sender, self._receiver = trio.open_memory_channel[RoomRequest](inbound_size)
        self._clock_ms = clock_ms
        self._on_empty = on_empty
        # connection -> its bound deliver(), called once per member per flush
        self._subscribers: dict[Subscriber, Callable[[bytes], bool]] = {}
        self._members: dict[str, _Membership] = {}
        self._last_id = 0
        self._frames: list[bytes] = []
        self._own_copies: dict[Subscriber, dict[int, bytes]] = {}

    @property
    def member_count(self) -> int:
        return len(self._members)

    def members(self) -> list[Member]:
        """Users in the room, in the order they became members."""
        return [Member(user, m.since) for user, m in self._members.items()]

    async def submit(self, request: RoomRequest) -> None:
        """Queue a request; waits while the room's inbound channel is full."""
        try:
            await self._sender.send(request)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise RoomClosed(self.name) from None

    async def run(self) -> None:
        """Serve requests until the room is empty and nothing is waiting."""
        async with self._receiver:
            batch = [await self._receiver.receive()]
            while True:
                self._drain_into(batch)
                for request in batch:
                    self._apply(request)
                self._flush()
                if not self._subscribers:
                    batch = []
                    self._drain_into(batch)
                    if not batch:
                        # No await between this check and closing the
                        # channel: a join either got in or gets RoomClosed.
                        self._on_empty(self)
                        return
                    continue
                batch = [await self._receiver.receive()]
                if len(self._subscribers) >= COALESCE_MIN_MEMBERS:
                    await self._coalesce()

    async def _coalesce(self) -> None:
        """Yield while more requests keep arriving (see COALESCE_MAX_ROUNDS)."""
        quiet = 0
        waiting = self._receiver.statistics().current_buffer_used
        for _ in range(COALESCE_MAX_ROUNDS):
            await trio.lowlevel.checkpoint()
            now_waiting = self._receiver.statistics().current_buffer_used
            if now_waiting >= MAX_BATCH:
                return
            quiet = quiet + 1 if now_waiting == waiting else 0
            if quiet >= COALESCE_QUIET_ROUNDS:
                return
            waiting = now_waiting

    def _drain_into(self, batch: list[RoomRequest]) -> None:
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._receiver.receive_nowait())
            except trio.WouldBlock:
                return

    def _apply(self, request: RoomRequest) -> None:
        match request:
            case PublishRequest(subscriber, text, ref):
                if subscriber in self._subscribers:
                    self._publish(subscriber, text, ref)
                else:
                    self._reply(subscriber, _not_member(self.name, ref))
            case JoinRequest(subscriber, ref):
                self._join(subscriber, ref)
            case LeaveRequest(subscriber, ref, reply):
                self._leave(subscriber, ref, reply)
            case MembersRequest(subscriber, ref):
                if subscriber in self._subscribers:
                    self._reply(subscriber, protocol.encode_members(self.name, self.members(), ref))
                else:
                    self._reply(subscriber, _not_member(self.name, ref))

    def _publish(self, subscriber: Subscriber, text: str, ref: Ref) -> None:
        self._last_id += 1
        message = ChatMessage(
            room=self.name, id=self._last_id, user=subscriber.user, text=text, ts=self._clock_ms()
        )
        self._frames.append(text_frame(protocol.encode_message(message)))
        if ref is not None:
            own = text_frame(protocol.encode_message(message, ref))
            self._own_copies.setdefault(subscriber, {})[len(self._frames) - 1] = own

    def _join(self, subscriber: Subscriber, ref: Ref) -> None:
        # Messages already accepted belong before the join, not after it.
        self._flush()
        user = subscriber.user
        is_new_member = user not in self._members
        if subscriber not in self._subscribers:
            self._subscribers[subscriber] = subscriber.deliver
            if is_new_member:
                self._members[user] = _Membership(since=self._clock_ms())
            self._members[user].connections += 1
        joined = protocol.encode_joined(self.name, self.members(), [], ref)
        subscriber.deliver(text_frame(joined))
        if is_new_member:
            self._frames.append(text_frame(protocol.encode_presence(self.name, "join", user)))

    def _leave(self, subscriber: Subscriber, ref: Ref, reply: bool) -> None:
        self._flush()
        self._remove(subscriber)
        if reply:
            subscriber.deliver(text_frame(protocol.encode_left(self.name, ref)))

    def _remove(self, subscriber: Subscriber) -> None:
        if self._subscribers.pop(subscriber, None) is None:
            return
        user = subscriber.user
        membership = self._members[user]
        membership.connections -= 1
        if membership.connections == 0:
            del self._members[user]
            self._frames.append(text_frame(protocol.encode_presence(self.name, "leave", user)))

    def _reply(self, subscriber: Subscriber, text: str) -> None:
        self._flush()
        subscriber.deliver(text_frame(text))

    def _flush(self) -> None:
        """Send what the batch produced so far to every current member.

        A member whose transport refuses the bytes (closed, or its outbound
        queue full) stops being one at once; the others see it leave.
        """
        while self._frames:
            frames, own_copies = self._frames, self._own_copies
            self._frames, self._own_copies = [], {}
            shared = frames[0] if len(frames) == 1 else b"".join(frames)
            if not own_copies:
                failed = [s for s, deliver in self._subscribers.items() if not deliver(shared)]
            else:
                failed = []
                for subscriber, deliver in self._subscribers.items():
                    own = own_copies.get(subscriber)
                    if own is not None:
                        data = b"".join(own.get(i, frame) for i, frame in enumerate(frames))
                    else:
                        data = shared
                    if not deliver(data):
                        failed.append(subscriber)
            for subscriber in failed:
                self._remove(subscriber)


def _not_member(room: str, ref: Ref) -> str:
    error = ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of room {room!r}", ref)
    return protocol.encode_error(error)
