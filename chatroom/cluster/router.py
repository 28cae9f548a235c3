"""One path for what happens on one server and matters on others.

Rooms, connections and the HTTP API publish typed events (events.py); the
broker, when there is one, carries them to the other servers and hands what
it receives to on_event(). The router delivers each event by its class: a
RoomEvent to the room's task here (through the room registry), one with
TO_USERS to the user's sessions here, one TO_COMMANDS to the commands
here. An event a room published is not handed back to that room: it has
applied it already; nor are the commands' own handed back to them. The
messages a room here committed also go to `committed` (outgoing webhooks),
on this server alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from chatroom.cluster.events import Event, MessagesEvent, RoomEvent


class Rooms(Protocol):
    def on_event(self, event: RoomEvent) -> None: ...


class Users(Protocol):
    def on_event(self, event: Event) -> None: ...

    async def reconnected(self) -> None: ...


class Broker(Protocol):
    def publish(self, event: Event) -> None: ...


class Commands(Protocol):
    def on_event(self, event: Event) -> None: ...


class ClusterRouter:
    def __init__(
        self,
        *,
        rooms: Rooms,
        users: Users,
        broker: Broker | None,
        commands: Commands | None = None,
        committed: Callable[[MessagesEvent], None] = lambda event: None,
    ) -> None:
        self._rooms = rooms
        self._users = users
        self._broker = broker
        self._commands = commands
        self._committed = committed

    def publish(self, event: Event) -> None:
        """From a connection or the API: for this server's rooms and
        sessions, and the other servers'."""
        if isinstance(event, RoomEvent):
            self._rooms.on_event(event)
        self.publish_from_room(event)

    def publish_from_room(self, event: Event) -> None:
        """From a room, which has applied it: for this server's sessions,
        and the other servers'."""
        if isinstance(event, MessagesEvent):
            self._committed(event)
        if event.TO_USERS:
            self._users.on_event(event)
        if self._broker is not None:
            self._broker.publish(event)

    def on_event(self, event: Event) -> None:
        """From another server, through the broker."""
        if isinstance(event, RoomEvent):
            self._rooms.on_event(event)
        if event.TO_USERS:
            self._users.on_event(event)
        if event.TO_COMMANDS and self._commands is not None:
            self._commands.on_event(event)

    async def reconnected(self) -> None:
        """The broker was away: what other servers published meanwhile was
        missed (rooms catch up by their gap check; sessions ask the store)."""
        await self._users.reconnected()
