"""What each request frame of an authenticated client does.

Most go to the room's task (send, edit, delete, topic, role, moderate,
typing, members); the rest are answered here from the store and the room
registry (rooms, history, search, read markers, declined invitations,
ping). Joins, direct rooms, new rooms and leaves are `Joining`'s
(joining.py); bots' commands `Commands`' (commands/service.py), webhooks
`Hooks`' (hooks/service.py).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio

from chatroom import protocol
from chatroom.attachments.service import Attachments
from chatroom.client_session import ClientSession
from chatroom.cluster.events import Event, ReadEvent, SettingsEvent
from chatroom.commands.service import Commands
from chatroom.config import Settings
from chatroom.directory import LOOKUP_BURST, LOOKUPS_PER_SECOND, Directory
from chatroom.domain import ErrorCode, FileInfo
from chatroom.domain.reactions import REACTIONS_PER_MINUTE
from chatroom.domain.rules import Action
from chatroom.domain.search import SEARCH_BURST, SEARCHES_PER_SECOND
from chatroom.hooks.service import Hooks
from chatroom.joining import Joining, stored, submit
from chatroom.protocol import ProtocolError, Ref
from chatroom.ratelimit import BucketsByKey, TokenBucket
from chatroom.rooms.actor import Room
from chatroom.rooms.registry import RoomRegistry
from chatroom.rooms.requests import (
    ChangeRequest,
    MembersRequest,
    ModerateRequest,
    PublishRequest,
    SettingsRequest,
    TypingRequest,
)
from chatroom.store import Store
from chatroom.store import markers as markers_db
from chatroom.store import messages as messages_db
from chatroom.store import rooms as rooms_db
from chatroom.store import search as search_db
from chatroom.store import users as users_db


@attrs.define(eq=False, kw_only=True)
class RequestHandler:
    """Acts on one connection's requests, one at a time (see `handle`)."""

    connection: ClientSession
    registry: RoomRegistry
    store: Store
    settings: Settings
    # What this connection tells the user's other sessions and the rooms.
    publish: Callable[[Event], None]
    # Bytes of message text each user may store, shared by their connections.
    storage: BucketsByKey | None = None
    # Invitations each user may send, shared by their connections.
    invitations: BucketsByKey | None = None
    commands: Commands | None = None
    hooks: Hooks | None = None
    attachments: Attachments | None = None
    directory: Directory | None = None  # (None: none, as in some tests)
    # Searches and directory pages this connection may ask for.
    searches: TokenBucket = attrs.field(
        factory=lambda: TokenBucket(SEARCH_BURST, SEARCHES_PER_SECOND)
    )
    lookups: TokenBucket = attrs.field(
        factory=lambda: TokenBucket(LOOKUP_BURST, LOOKUPS_PER_SECOND)
    )
    # Reactions each user may send, shared by their connections.
    reactions: BucketsByKey | None = None
    joining: Joining = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.joining = Joining(
            connection=self.connection,
            registry=self.registry,
            store=self.store,
            settings=self.settings,
            publish=self.publish,
        )

    @property
    def user(self) -> str:
        return self.connection.user

    @property
    def rooms(self) -> dict[str, Room]:
        return self.connection.rooms

    async def handle(self, request: protocol.Request) -> None:
        """Act on `request`; a ProtocolError raised is the client's error frame."""
        connection = self.connection
        match request:
            case protocol.Send(room, text, ref, cid, file_ids, reply_to):
                joined = self._joined_room(room, ref)
                self._charge_storage(text, ref)
                files = await self._files(file_ids, joined, cid, ref) if file_ids else ()
                received = trio.current_time()
                sent = PublishRequest(
                    connection, text, ref, cid, received=received, files=files, reply_to=reply_to
                )
                await self._submit(joined, sent)
            case protocol.React(room, message_id, emoji, on, ref):
                joined = self._joined_room(room, ref)
                if self.reactions and (wait := self.reactions.take(self.user.lower())):
                    why = f"at most {REACTIONS_PER_MINUTE} reactions a minute; wait"
                    raise protocol.rate_limited_error(why, wait, ref)
                react = ChangeRequest(connection, message_id, None, ref, emoji, on)
                await self._submit(joined, react)
            case protocol.Transfer(room, user, ref):
                joined = self._joined_room(room, ref)
                owner = await self._known(user, ref)
                await self._submit(joined, SettingsRequest(connection, owner=owner, ref=ref))
            case protocol.Archive(room, archived, ref):
                joined = self._joined_room(room, ref)
                await self._submit(joined, SettingsRequest(connection, archived=archived, ref=ref))
            case protocol.Users():
                if self.directory is None:
                    raise ProtocolError(ErrorCode.NOT_FOUND, "no user directory here", request.ref)
                if wait := self.lookups.take(trio.current_time()):
                    why = f"at most {LOOKUPS_PER_SECOND} directory pages a second; wait"
                    raise protocol.rate_limited_error(why, wait, request.ref)
                connection.reply(await stored(self.directory.page(request), request.ref))
            case protocol.Edit(room, message_id, text, ref):
                joined = self._joined_room(room, ref)
                self._charge_storage(text, ref)
                await self._submit(joined, ChangeRequest(connection, message_id, text, ref))
            case protocol.Delete(room, message_id, ref):
                joined = self._joined_room(room, ref)
                await self._submit(joined, ChangeRequest(connection, message_id, None, ref))
            case protocol.Topic(room, topic, ref):
                joined = self._joined_room(room, ref)
                await self._submit(joined, SettingsRequest(connection, topic=topic, ref=ref))
            case protocol.SetRole(room, user, role, ref):
                joined = self._joined_room(room, ref)
                if role == "moderator":  # (a name nobody has yet would pass the role on)
                    user = await self._known(user, ref)
                change = SettingsRequest(
                    connection, user=user, moderator=role == "moderator", ref=ref
                )
                await self._submit(joined, change)
            case protocol.Moderate(action, room, user, reason, ref):
                joined = self._joined_room(room, ref)
                if action == "invite":
                    user = await self._invitable(user, ref)
                moderate = ModerateRequest(connection, Action(action), user, reason, ref)
                await self._submit(joined, moderate)
            case protocol.Decline(room, ref):
                if not await stored(self.store.write(rooms_db.decline, room, self.user), ref):
                    raise ProtocolError(ErrorCode.NOT_FOUND, f"no invitation to {room}", ref)
                self.publish(SettingsEvent(room))  # (its rules changed)
                connection.reply(protocol.encode_done(ref))
            case protocol.Join(room, since, ref):
                await self.joining.join(room, since, ref)
            case protocol.Direct(user, since, ref):
                await self.joining.direct(user, since, ref)
            case protocol.Create(room, private, topic, ref):
                await self.joining.create(room, private, topic, ref)
            case protocol.Leave(room, ref):
                await self.joining.leave(room, ref)
            case protocol.Typing(room, ref):
                await self._submit(self._joined_room(room, ref), TypingRequest(connection, ref))
            case protocol.Read(room, message_id, ref):
                self._read_up_to(self._member_of(room, ref), message_id, ref)
            case protocol.Members(room, ref):
                await self._submit(self._joined_room(room, ref), MembersRequest(connection, ref))
            case protocol.Rooms(ref, prefix, after, limit):
                # The user's part is asked of the store, which every server shares.
                unwritten = self.store.read_markers.unwritten(self.user)
                view = await stored(
                    self.store.read(markers_db.user_view, self.user, unwritten), ref
                )
                listing = self.registry.page(prefix, after, limit, view)
                connection.reply(protocol.encode_rooms(listing, ref))
            case protocol.History(room, before, limit, ref):
                name = self._member_of(room, ref).name
                page = await stored(
                    self.store.read(messages_db.history_page, name, before, limit), ref
                )
                connection.charge_history(page.messages)
                connection.reply(protocol.encode_history(name, page, ref))
            case protocol.Search():
                await self._search(request)
            case protocol.Ping(ref):
                connection.reply(protocol.encode_pong(ref))
            case (
                protocol.Register()
                | protocol.ListCommands()
                | protocol.Invoke()
                | protocol.Respond()
                | protocol.Defer()
            ):
                await self._command(request)
            case protocol.AddHook() | protocol.ListHooks() | protocol.RemoveHook():
                if self.hooks is None:
                    raise ProtocolError(ErrorCode.NOT_FOUND, "no webhooks here", request.ref)
                connection.reply(await self.hooks.handle(self.user, request))
            case protocol.Hello(_token, ref):
                raise ProtocolError(ErrorCode.BAD_REQUEST, "already authenticated", ref)

    async def _command(self, request: protocol.BotRequest) -> None:
        """Bots' commands: registered, listed, invoked and answered."""
        connection, commands = self.connection, self.commands
        if commands is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no commands here", request.ref)
        match request:
            case protocol.Register(specs, ref):
                if connection.owner is None:
                    raise ProtocolError(ErrorCode.FORBIDDEN, "only bots register commands", ref)
                commands.register(connection, specs, ref)
            case protocol.ListCommands(ref):
                connection.reply(protocol.encode_commands(commands.listing(), ref))
                return
            case protocol.Invoke(room, name, args, ref):
                joined = self._member_of(room, ref)
                commands.invoke(self.user, joined.name, name, args, ref)
            case protocol.Respond(invocation, text, ephemeral, ref):
                if not ephemeral:
                    self._charge_storage(text, ref)
                await commands.respond(connection, invocation, text, ephemeral, ref)
            case protocol.Defer(invocation, ref):
                commands.defer(connection, invocation, ref)
        connection.reply(protocol.encode_done(request.ref))

    async def _search(self, request: protocol.Search) -> None:
        """Matches in the rooms the user may read, as the store decides."""
        ref = request.ref
        if wait := self.searches.take(trio.current_time()):
            raise protocol.rate_limited_error(
                f"at most {SEARCH_BURST} searches at once and "
                f"{SEARCHES_PER_SECOND:g} a second; wait",
                wait,
                ref,
            )
        search = self.store.read(
            search_db.search,
            self.user,
            request.query,
            room=request.room,
            before=request.before,
            limit=request.limit,
        )
        try:
            found = await stored(search, ref)
        except search_db.SearchTooCostly:
            raise ProtocolError(ErrorCode.TOO_LARGE, search_db.TOO_COSTLY, ref) from None
        self.connection.charge_history(found.messages)
        self.connection.reply(protocol.encode_results(found.messages, found.more, ref))

    def _joined_room(self, name: str, ref: Ref) -> Room:
        """The room joined here called `name`: requests go to its task, which
        refuses them if the join it has not handled yet is refused."""
        room = self.rooms.get(name.lower())
        if room is None:
            raise protocol.not_member_error(name, ref)
        return room

    def _member_of(self, name: str, ref: Ref) -> Room:
        """For what is answered here, not by the room's task (history, read
        markers): the room must have let this connection in already."""
        room = self._joined_room(name, ref)
        if not room.has_subscriber(self.connection):
            raise protocol.not_member_error(name, ref)
        return room

    async def _known(self, user: str, ref: Ref) -> str:
        """The spelling of `user`, known to the server (an account or a past
        hello); not_found otherwise: whoever registered the name first would
        get what it was given."""
        known = await stored(self.store.read(users_db.known_user, user), ref)
        if known is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no user named {user} is known here", ref)
        return known

    async def _invitable(self, user: str, ref: Ref) -> str:
        """`user`, to be invited by this user: known, and within this user's
        invitation rate (a flood of them would reach the invitee)."""
        wait = self.invitations.take(self.user.lower()) if self.invitations else 0.0
        if wait:
            per_hour = self.settings.invitations_per_hour
            raise protocol.rate_limited_error(
                f"at most {per_hour} invitations an hour; wait", wait, ref
            )
        return await self._known(user, ref)

    def _read_up_to(self, room: Room, message_id: int, ref: Ref) -> None:
        """Move the user's read marker in `room` forward (never past its last
        message, never back); every connection of theirs is told."""
        connection = self.connection
        marker = min(message_id, room.last_id)
        if connection.marker_moved(room.name, marker):
            self.store.read_markers.mark(self.user, room.name, marker)
            self.publish(ReadEvent(room.name, self.user, marker))
        connection.reply(
            protocol.encode_read(room.name, connection.read_markers.get(room.key, 0), ref)
        )

    async def _files(
        self, ids: tuple[str, ...], room: Room, cid: str | None, ref: Ref
    ) -> tuple[FileInfo, ...]:
        """The files a `send` carries: the sender's uploads to the room that
        no message took yet (the room attaches them as it stores the message)."""
        if self.attachments is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no files here", ref)
        return await self.attachments.attachable(ids, room.name, self.user, cid, ref)

    def _charge_storage(self, text: str, ref: Ref) -> None:
        """Count `text` against the user's storage rate; rate_limited past it."""
        if self.storage is None:
            return
        wait = self.storage.take(self.user.lower(), len(text.encode()))
        if wait:
            kib = self.settings.storage_kib_per_hour
            raise protocol.rate_limited_error(
                f"at most {kib} KiB of messages an hour; wait", wait, ref
            )

    async def _submit(
        self,
        room: Room,
        request: PublishRequest
        | MembersRequest
        | ChangeRequest
        | SettingsRequest
        | ModerateRequest
        | TypingRequest,
    ) -> None:
        await submit(self.connection, room, request)
