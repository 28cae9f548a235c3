"""Which rooms one connection is in: `join`, `direct`, `create` and `leave`.

A join is checked here first (direct rooms, the room's rules when it is
loaded, the caps on rooms), remembered among the user's rooms in the store,
given the history the room's memory does not reach, and then decided by the
room's task (`JoinRequest`), which may still refuse it (`Connection.not_in`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs

from chatroom import protocol
from chatroom.client_session import ClientSession
from chatroom.cluster.events import Event, ForgottenEvent
from chatroom.config import Settings
from chatroom.domain import ErrorCode, direct_room_name, direct_room_users
from chatroom.domain.rules import BANNED, NOT_INVITED, NOT_YOUR_DIRECT_ROOM
from chatroom.protocol import ProtocolError, Ref
from chatroom.rooms.actor import Room
from chatroom.rooms.inbox import RoomClosed
from chatroom.rooms.registry import RoomRegistry
from chatroom.rooms.requests import (
    ChangeRequest,
    JoinRequest,
    LeaveRequest,
    MembersRequest,
    ModerateRequest,
    PublishRequest,
    SettingsRequest,
    TypingRequest,
)
from chatroom.rooms.timeline import JOIN_HISTORY, MAX_CHANGES, SINCE_LIMIT
from chatroom.store import Store, StoreUnavailable
from chatroom.store import messages as messages_db
from chatroom.store import rooms as rooms_db
from chatroom.store import users as users_db

T = TypeVar("T")


async def stored(read: Awaitable[T], ref: Ref) -> T:
    """`read` (or write) in the store; `unavailable` when it cannot be reached."""
    try:
        return await read
    except StoreUnavailable:
        raise protocol.unavailable_error(ref) from None


async def submit(
    connection: ClientSession,
    room: Room,
    request: PublishRequest
    | LeaveRequest
    | MembersRequest
    | ChangeRequest
    | SettingsRequest
    | ModerateRequest
    | TypingRequest,
) -> None:
    """Hand `request` to the room's task; `not_member` if the room has closed."""
    try:
        await room.submit(request)
    except RoomClosed:
        connection.rooms.pop(room.key, None)
        raise protocol.not_member_error(room.name, request.ref) from None


@attrs.define(eq=False, kw_only=True)
class Joining:
    """Joins, direct rooms, new rooms and leaves, for one connection."""

    connection: ClientSession
    registry: RoomRegistry
    store: Store
    settings: Settings
    # What this connection tells the user's other sessions and the rooms.
    publish: Callable[[Event], None]

    @property
    def user(self) -> str:
        return self.connection.user

    @property
    def rooms(self) -> dict[str, Room]:
        return self.connection.rooms

    @property
    def saved_rooms(self) -> set[str]:
        return self.connection.saved_rooms

    async def create(self, name: str, private: bool, topic: str, ref: Ref) -> None:
        """Make a room owned by the user, and join it."""
        exists = ProtocolError(ErrorCode.CONFLICT, f"a room named {name} exists; join it", ref)
        if self.registry.stored_name(name) is not None:
            raise exists
        self._check_room_caps(name, ref)
        counted = [key for key in self.saved_rooms if not key.startswith("@")]  # (direct: not)
        if len(counted) >= self.settings.max_rooms_per_user:
            raise self._too_many_rooms(ref)
        made = self.store.write(rooms_db.make_room, name, self.user, private=private, topic=topic)
        if not await stored(made, ref):
            raise exists  # made meanwhile, here or on another server
        self.registry.created(name, private=private)
        await self.join(name, None, ref)

    async def direct(self, user: str, since: int | None, ref: Ref) -> None:
        """Join the direct room of the user and `user`."""
        if user.lower() == self.user.lower():
            raise ProtocolError(ErrorCode.BAD_REQUEST, "direct needs another user", ref)
        await self.join(direct_room_name(self.user, user), since, ref)

    async def _open_direct(self, users: tuple[str, str], ref: Ref) -> str:
        """Make the direct room of `users` (this user and a known one), or
        find it made; its name as first spelled."""
        other = users[1] if users[0].lower() == self.user.lower() else users[0]
        known = await stored(self.store.read(users_db.known_user, other), ref)
        if known is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no user {other} is known here", ref)
        name = direct_room_name(self.user, known)
        made = self.store.write(rooms_db.make_direct_room, name, [self.user, known])
        spelled = await stored(made, ref)
        self.registry.created(spelled, private=True)
        self.saved_rooms.add(spelled.lower())  # (of both users, outside the cap)
        return spelled

    def _check_room_caps(self, name: str, ref: Ref) -> None:
        """The connection's cap on rooms, and the user's on new rooms."""
        key = name.lower()
        if key not in self.rooms and len(self.rooms) >= self.settings.max_rooms_per_connection:
            raise ProtocolError(
                ErrorCode.FORBIDDEN,
                f"a connection may join {self.settings.max_rooms_per_connection} rooms at most",
                ref,
            )
        if wait := self.registry.creation_wait(name, self.user):
            raise protocol.rate_limited_error(
                f"at most {self.settings.room_creations_per_hour} new rooms an hour; "
                "join an existing room, or wait",
                wait,
                ref,
            )

    def _too_many_rooms(self, ref: Ref) -> ProtocolError:
        cap = self.settings.max_rooms_per_user
        return ProtocolError(
            ErrorCode.FORBIDDEN, f"a user may have {cap} rooms at most; leave one first", ref
        )

    async def join(self, name: str, since: int | None, ref: Ref) -> None:
        key = name.lower()
        users = direct_room_users(name)
        if users is not None and self.user.lower() not in (users[0].lower(), users[1].lower()):
            # Said alike whether the room exists or not: nobody learns who talks.
            raise self._join_refused(NOT_YOUR_DIRECT_ROOM, ref)
        loaded = self.registry.get(name)
        if loaded is not None and (why := loaded.join_refusal(self.user)):
            raise self._join_refused(why, ref)  # before any database work
        self._check_room_caps(name, ref)
        if users is not None and self.registry.stored_name(name) is None:
            name = await self._open_direct(users, ref)
        if key not in self.saved_rooms:
            # Counted in the database: the user's other connections add rooms too.
            cap = self.settings.max_rooms_per_user
            remember = self.store.write(rooms_db.remember_room, self.user, name, cap)
            remembered = await stored(remember, ref)
            if remembered == "full":
                raise self._too_many_rooms(ref)
            if remembered != "remembered":  # the stored rules refuse it, as the room would
                raise self._join_refused(BANNED if remembered == "banned" else NOT_INVITED, ref)
            self.saved_rooms.add(key)
        # A room that empties between open() and submit() is closed; the
        # registry makes a fresh one on the next open().
        while True:
            room = self.registry.open(name)
            prefetched, changes, counted = None, None, room.changes_made
            # Read here, not in the room's task, which everyone there waits on.
            if room.covers(since) is False:
                count = JOIN_HISTORY if since is None else SINCE_LIMIT
                read = self.store.read(
                    messages_db.history_page, room.name, None, count, after=since or 0
                )
                prefetched = await stored(read, ref)
                self.connection.charge_history(prefetched.messages)
            if since is not None and room.join_refusal(self.user) is None:
                changes = await stored(
                    self.store.read(messages_db.changes_since, room.name, since, MAX_CHANGES), ref
                )
                self.connection.charge_history(changes)
            # In before the room decides: its refusal (not_in) takes it out again.
            earlier, self.rooms[key] = self.rooms.get(key), room
            try:
                marker = self.connection.read_markers.get(key)
                await room.submit(
                    JoinRequest(self.connection, ref, since, prefetched, marker, changes, counted)
                )
            except RoomClosed:
                if earlier is None:
                    self.rooms.pop(key, None)
                continue
            return

    def _join_refused(self, why: str, ref: Ref) -> ProtocolError:
        """`forbidden` for a join the room's rules refuse; repeated, it is abuse."""
        self.connection.strike("refused again and again")
        return ProtocolError(ErrorCode.FORBIDDEN, why, ref)

    async def leave(self, name: str, ref: Ref) -> None:
        """Leave the room here, and forget it among the user's rooms: a room
        not joined on this connection can be left too (a leave queued offline)."""
        key = name.lower()
        room = self.rooms.get(key)
        # Asked of the store: the user's other connections may have added it.
        self.store.read_markers.drop(self.user, name)
        if await stored(self.store.write(rooms_db.forget_room, self.user, name), ref):
            self.publish(ForgottenEvent(name, self.user))
        elif room is None:
            raise protocol.not_member_error(name, ref)
        if room is None:
            self.connection.reply(
                protocol.encode_left(self.registry.stored_name(name) or name, ref)
            )
            return
        await submit(self.connection, room, LeaveRequest(self.connection, ref, as_sent=name))
        # Only now: if the submit is cancelled, Connection._leave_all still leaves.
        self.rooms.pop(key, None)
