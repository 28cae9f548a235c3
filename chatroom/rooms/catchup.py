"""A room in step with the other servers sharing its store (no I/O of its
own: it reads the store for what the broker did not bring).

Every member gets every message once, in id order: messages other servers
committed come from the broker, and any the broker lost, or that a later id
overtook, are read from the store before what follows them.
"""

from __future__ import annotations

import logging
from typing import TypeVar

import attrs
import trio

from chatroom.cluster.events import (
    ChangedEvent,
    ForgottenEvent,
    InvitationEvent,
    MembersChanged,
    MessagesEvent,
    RoomEvent,
    SettingsEvent,
    TypingEvent,
)
from chatroom.domain import ChatMessage
from chatroom.metrics import Counters
from chatroom.rooms import storage
from chatroom.rooms.core import RoomCore
from chatroom.rooms.timeline import MAX_REMOTE_WAITING
from chatroom.store import Store, StoreUnavailable
from chatroom.store import messages as messages_db

log = logging.getLogger("chatroom.rooms.room")

T = TypeVar("T")

CATCH_UP_PAGE = 200  # messages of another server's read at a time
# How long a room waits for ids another server committed to come through the
# broker, as they do within a millisecond or so, before reading them from the
# store. After a wait in vain (no broker, or it lost them), the room reads at
# once for a while.
BROKER_GRACE = 0.05
NO_GRACE_AFTER_MISS = 5.0


@attrs.define
class Waiting:
    """What other servers did here, kept for the room's task: edits and
    deletes, kicks (and kinds without a place of their own), users whose
    presence changed, and typing. Each list holds at most MAX_REMOTE_WAITING;
    past that, what comes is dropped (an edit is then read by the next join's
    `changes`; typing matters least)."""

    changes: list[ChangedEvent] = attrs.field(factory=list)
    events: list[RoomEvent] = attrs.field(factory=list)
    presence: set[str] = attrs.field(factory=set)
    typing: list[TypingEvent] = attrs.field(factory=list)

    def keep(self, event: RoomEvent) -> None:
        match event:
            case MembersChanged(_room, users):
                self.presence.update(users)
            case ChangedEvent():
                _bounded(self.changes, event)
            case TypingEvent():
                _bounded(self.typing, event)
            case SettingsEvent() | InvitationEvent() | MessagesEvent():
                pass  # (a flag of the core's, and the timeline's)
            case _:
                _bounded(self.events, event)


def _bounded(waiting: list[T], event: T) -> None:
    if len(waiting) < MAX_REMOTE_WAITING:
        waiting.append(event)


class CatchUp:
    def __init__(self, *, core: RoomCore, store: Store, counters: Counters) -> None:
        self._core = core
        self._store = store
        self._counters = counters
        self._arrival: trio.Event | None = None
        self._no_grace_until = float("-inf")

    def arrived(self) -> None:
        """Messages came from other servers."""
        if self._arrival is not None:
            self._arrival.set()

    async def fill_gap_before(self, next_id: int) -> bool:
        """Fan out every message before `next_id`: those the broker brought
        first, then the store's. False if the store could not be read."""
        await self.remote_messages(before=next_id)
        if self._core.timeline.last_id + 1 < next_id and await self._broker_brings(next_id):
            await self.remote_messages(before=next_id)
        return await self.catch_up(next_id)

    async def _broker_brings(self, next_id: int) -> bool:
        """Whether every id before `next_id` came from the broker, waiting
        up to BROKER_GRACE for them: a read from the store costs the room
        more, and the event that brings them would be decoded for nothing."""
        timeline = self._core.timeline
        if timeline.remote_through(next_id):
            return True
        now = trio.current_time()
        if now < self._no_grace_until:
            return False
        with trio.move_on_after(BROKER_GRACE):
            while not timeline.remote_through(next_id):
                self._arrival = trio.Event()
                await self._arrival.wait()
            self._arrival = None
            return True
        self._arrival = None
        self._no_grace_until = now + NO_GRACE_AFTER_MISS
        return False

    async def catch_up(self, next_id: int) -> bool:
        """Another server using the same database committed messages here
        (ids below `next_id` that this room has not seen): read and fan them
        out first, so that every member still gets every message, in order.
        Rare with one server: this read runs in the room's task."""
        timeline = self._core.timeline
        while timeline.last_id + 1 < next_id:
            try:
                missed = await self._store.read(
                    messages_db.between, self._core.name, timeline.last_id, next_id, CATCH_UP_PAGE
                )
            except StoreUnavailable:
                log.warning(
                    "room %s: messages %d..%d not read",
                    self._core.name,
                    timeline.last_id + 1,
                    next_id - 1,
                )
                return False
            if not missed:
                return True  # (the store has none: rolled back, or never there)
            self._counters.messages_read_back += len(missed)
            self._core.fan_out(missed)
        return True

    async def remote_messages(self, before: int | None = None) -> None:
        """Fan out what other servers committed (before id `before`), in id
        order, each message once: what the broker did not bring (lost, or
        overtaken by a later id) is read from the store first."""
        timeline = self._core.timeline
        run: list[ChatMessage] = []  # (fanned out together: one encode each, one accept)
        while (message := timeline.next_remote(before)) is not None:
            if message.id > (run[-1].id if run else timeline.last_id) + 1:
                if run:
                    self._core.fan_out(run)
                    run = []
                if await self._broker_brings(message.id):
                    continue  # (the earliest waiting is another message now)
                if not await self.catch_up(message.id):
                    break  # the store is down: the gap check tries again
            if (new := timeline.pop_remote(after=run[-1].id if run else None)) is not None:
                run.append(new)
        if run:
            self._core.fan_out(run)

    async def from_other_servers(self, waiting: Waiting) -> None:
        """What other servers did here, in this order: messages, edits and
        deletes, the settings read again, kicks, presence, typing."""
        core = self._core
        await self.remote_messages()
        if core.timeline.behind > core.timeline.last_id:
            await self.catch_up(core.timeline.behind + 1)
        now = trio.current_time()
        for change in waiting.changes:
            if change.message.id > core.timeline.last_id:
                await self.catch_up(change.message.id + 1)  # (the read has it as it is now)
            core.take(change, now)
        if core.settings_stale:
            try:
                settings = await storage.settings_of(self._store, core.name)
            except StoreUnavailable:
                pass  # the next wake tries again
            else:
                if settings is None:  # the operator deleted the room
                    send_away(core)
                else:
                    core.reread(settings)
        for event in waiting.events:
            core.take(event, now)
        if waiting.presence:
            core.take(MembersChanged(core.name, tuple(waiting.presence)), now)
        for typing in waiting.typing:
            core.take(typing, now)


def send_away(core: RoomCore) -> None:
    """The room is gone from the store (the operator deleted it): every
    member is sent away, and memory forgotten (a join makes the room anew)."""
    core.settings_stale = False
    core.settings_read = False
    for user in {s.user for s in core.members.subscribers}:
        core.expel(user, "operator", "this room was deleted")
        core.effects.append(ForgottenEvent(core.name, user))  # (no longer among their rooms)
    core.timeline.forget()
