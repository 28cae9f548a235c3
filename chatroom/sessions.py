"""The live WebSocket sessions of this server, by user; and what reaches a
user's sessions whatever rooms they joined (events with TO_USERS, from this
server's rooms and connections or from other servers)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio

from chatroom import protocol
from chatroom.auth import TOKEN_REVOKED
from chatroom.auth.controls import UserControls
from chatroom.cluster.events import (
    ONLINE,
    EphemeralEvent,
    Event,
    ExpelledEvent,
    ForgottenEvent,
    InvitationEvent,
    MessagesEvent,
    PresenceEvent,
    ReadEvent,
    RevokedEvent,
)
from chatroom.connection import Connection
from chatroom.domain import ChatMessage, direct_room_users
from chatroom.net.wsframe import text_frame
from chatroom.protocol import CLOSE_GOING_AWAY, CLOSE_UNAUTHORIZED
from chatroom.rooms.mentioned import Notify
from chatroom.store import Store, UserControl
from chatroom.store import tokens as tokens_db

log = logging.getLogger("chatroom.app")


class Sessions:
    def __init__(
        self,
        *,
        store: Store,
        controls: UserControls,
        publish: Callable[[Event], None] = lambda event: None,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._store = store
        self._controls = controls
        # Who is connected here, for the other servers (see PresenceEvent).
        self._publish = publish
        self._clock_ms = clock_ms
        self.all: set[Connection] = set()
        self._by_user: dict[str, set[Connection]] = {}  # user key -> their sessions here
        self.closing = False
        self._changed = trio.Event()

    def __len__(self) -> int:
        return len(self.all)

    def add(self, connection: Connection) -> None:
        self.all.add(connection)
        if self.closing:
            connection.request_close(CLOSE_GOING_AWAY, "server shutting down")

    def authenticated(self, connection: Connection, user: str) -> None:
        connections = self._by_user.setdefault(user.lower(), set())
        if not connections:
            self._publish(PresenceEvent(ONLINE, user.lower(), self._clock_ms()))
        connections.add(connection)

    def remove(self, connection: Connection) -> None:
        self.all.discard(connection)
        if connection.authenticated_user is not None:
            key = connection.authenticated_user.lower()
            self._by_user[key].discard(connection)
            if not self._by_user[key]:
                del self._by_user[key]
                self._publish(PresenceEvent(ONLINE, key, None))
        self._changed.set()

    def of(self, user: str) -> list[Connection]:
        return list(self._by_user.get(user.lower(), ()))

    async def close_all(self) -> None:
        """Close every WebSocket with 1001 and wait until they are gone."""
        self.closing = True
        for connection in list(self.all):
            connection.request_close(CLOSE_GOING_AWAY, "server shutting down")
        while self.all:
            self._changed = trio.Event()
            await self._changed.wait()

    def on_event(self, event: Event) -> None:
        """What the user's sessions here hear of, wherever it happened."""
        match event:
            case MessagesEvent(room, messages, notify):
                self._direct_messages(room, messages)
                self._mentions(room, messages, notify)
            case ExpelledEvent(room, user) | ForgottenEvent(room, user):
                self._forget_saved_room(user, room.lower())
            case InvitationEvent(room, user, by):
                invitation = text_frame(protocol.encode_invitation(room, by))
                for connection in self.of(user):
                    connection.deliver(invitation)
            case ReadEvent(room, user, message_id):
                frame = text_frame(protocol.encode_read(room, message_id))
                for connection in self.of(user):
                    if connection.marker_moved(room, message_id):
                        connection.deliver(frame)
            case EphemeralEvent(user, room, bot, text):
                ephemeral = text_frame(protocol.encode_ephemeral(room, bot, text))
                for connection in self.of(user):
                    connection.deliver(ephemeral)
            case RevokedEvent(token_id):
                for connection in list(self.all):
                    if connection.token_id == token_id:
                        connection.request_close(CLOSE_UNAUTHORIZED, TOKEN_REVOKED)

    def _direct_messages(self, room: str, messages: tuple[ChatMessage, ...]) -> None:
        """Committed in a direct room: its two users' connections that have
        not joined it get them too (members have them from the room)."""
        users = direct_room_users(room)
        if users is None:
            return
        key = room.lower()
        frames = b"".join(text_frame(protocol.encode_message(m)) for m in messages)
        for user in users:
            for connection in self.of(user):
                if key not in connection.rooms:
                    connection.deliver(frames)

    def _mentions(self, room: str, messages: tuple[ChatMessage, ...], notify: Notify) -> None:
        """Each mentioned member's connections here that have not joined the
        room are told (its members, after the message, by the room)."""
        authors = {m.id: m.user for m in messages}
        for message_id, users in notify:
            by = authors.get(message_id)
            if by is None:
                continue
            frame = text_frame(protocol.encode_mention(room, message_id, by))
            key = room.lower()
            for user in users:
                for connection in self.of(user):
                    if key not in connection.rooms:
                        connection.deliver(frame)

    def _forget_saved_room(self, user: str, key: str) -> None:
        """The room `key` is no longer among `user`'s rooms: none of their
        connections here keeps it (a later join remembers it again)."""
        for connection in self.of(user):
            connection.saved_rooms.discard(key)
            connection.read_markers.pop(key, None)

    def user_control_changed(self, control: UserControl) -> None:
        """A ban or logout read from the store: the sessions it refuses end
        (a banned owner's bots' too)."""
        users = [control.name, *self._controls.bots_of(control.name)]
        for connection in [c for user in users for c in self.of(user)]:
            reason = self._controls.refusal(connection.user, connection.token_issued)
            if reason is not None:
                connection.request_close(CLOSE_UNAUTHORIZED, reason)

    async def reconnected(self) -> None:
        """Revocations other servers published while this one was cut off
        from the broker were missed: ask the database about every live
        session's token."""
        by_token = {c.token_id: c for c in self.all if c.token_id is not None}
        try:
            revoked = await self._store.read(tokens_db.revoked_among, list(by_token))
        except Exception as exc:  # the gap check and later hellos still hold
            log.warning("could not check revoked tokens after reconnecting: %s", exc)
            return
        for token_id in revoked:
            self.on_event(RevokedEvent(token_id))
