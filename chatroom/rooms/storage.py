"""What a room writes to the store for its settings and moderation: plain
async steps that the room's task awaits (their results go to the core)."""

from __future__ import annotations

from chatroom.domain import ErrorCode, RoomSettings
from chatroom.domain.rules import Action
from chatroom.protocol import ProtocolError
from chatroom.rooms.requests import ModerateRequest, SettingsRequest
from chatroom.store import RoomList, Store, ownership
from chatroom.store import rooms as rooms_db


async def settings_of(store: Store, room: str) -> RoomSettings | None:
    found: RoomSettings | None = await store.read(rooms_db.room_settings, room)
    return found


async def change_settings(
    store: Store, room: str, request: SettingsRequest, current: RoomSettings
) -> RoomSettings:
    """Set the topic, a user's role, the owner or whether the room is
    archived; the settings as they are now."""
    if request.topic is not None:
        await store.write(rooms_db.set_topic, room, request.topic)
    elif request.owner is not None:
        actor = request.subscriber.user
        if await store.write(ownership.transfer, room, request.owner, actor, True) is None:
            raise ProtocolError(ErrorCode.FORBIDDEN, "only the owner may do that here", request.ref)
    elif request.archived is not None:
        await store.write(ownership.set_archived, room, request.archived)
    else:
        assert request.user is not None
        actor = request.subscriber.user
        moderator = request.moderator
        await store.write(
            rooms_db.set_listed, RoomList.MODERATORS, room, request.user, actor, moderator
        )
    return await settings_of(store, room) or current


async def moderate(
    store: Store, room: str, request: ModerateRequest, current: RoomSettings
) -> tuple[RoomSettings, bool]:
    """Invite, kick, ban or unban; the settings as they are now, and whether
    an invitation was made that was not waiting already."""
    action, target, actor = request.action, request.user, request.subscriber.user
    invited = False
    if action in (Action.BAN, Action.UNBAN):
        banned = action is Action.BAN
        await store.write(rooms_db.set_listed, RoomList.BANS, room, target, actor, banned)
    if action is Action.INVITE:
        invited = await store.write(rooms_db.invite, room, target, actor)
    elif action in (Action.KICK, Action.BAN):
        if current.rules.private:  # an expelled user's invitation is withdrawn
            await store.write(rooms_db.set_listed, RoomList.INVITATIONS, room, target, actor, False)
        # A kick or ban ends a moderator's role (only the owner may do either).
        await store.write(rooms_db.set_listed, RoomList.MODERATORS, room, target, actor, False)
        # No longer among their rooms (nor is a read marker of before).
        store.read_markers.drop(target, room)
        await store.write(rooms_db.forget_room, target, room)
    return await settings_of(store, room) or current, invited
