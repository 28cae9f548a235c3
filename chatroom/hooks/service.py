"""A room's webhooks: made, listed and removed by its owner and moderators
(frames), and incoming ones posted to (`POST /hooks/ID/SECRET`), each post
a message of the hook's name, marked as a bot's, in its room."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from chatroom import protocol
from chatroom.domain import ErrorCode, RoomSettings
from chatroom.domain.hooks import MAX_HOOKS_PER_ROOM, Hook, is_valid_hook_id
from chatroom.domain.rules import ARCHIVED, Role
from chatroom.hooks.addresses import AddressRefused, Network, resolve
from chatroom.hooks.deliveries import Deliveries
from chatroom.hooks.signing import (
    is_secret_of,
    new_hook_id,
    new_signing_secret,
    new_url_secret,
    secret_hash,
)
from chatroom.net.messages import HttpRequest, Response, error_response
from chatroom.protocol import ProtocolError, Ref
from chatroom.ratelimit import BucketsByKey
from chatroom.rooms import storage
from chatroom.rooms.inbox import RoomClosed
from chatroom.rooms.registry import RoomRegistry, wall_clock_ms
from chatroom.rooms.requests import Poster, PublishRequest
from chatroom.store import Store, StoredHook, StoreUnavailable
from chatroom.store import hooks as hooks_db

T = TypeVar("T")

POSTS_PER_MINUTE = 60  # to one incoming hook, in bursts of POST_BURST
POST_BURST = 10
RESOLVE_WITHIN = 10.0  # seconds to resolve a new outgoing hook's target
NOT_FOUND = "no such hook (or not that secret)"


class Hooks:
    def __init__(
        self,
        *,
        store: Store,
        registry: RoomRegistry,
        deliveries: Deliveries,
        allowed: tuple[Network, ...] = (),
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self._store = store
        self._registry = registry
        self._deliveries = deliveries
        self._allowed = allowed  # networks outgoing hooks may reach though not public
        self._clock_ms = clock_ms
        self._posts = BucketsByKey(POST_BURST, POSTS_PER_MINUTE / 60, max_keys=10_000)

    # -- frames ------------------------------------------------------------------------

    async def handle(self, user: str, request: protocol.HookRequest) -> str:
        """The reply to `user`'s request; ProtocolError if refused."""
        ref = request.ref
        room = await self._managed_by(user, request.room, ref)
        match request:
            case protocol.AddHook(_, name, target):
                return await self._add(user, room, name, target, ref)
            case protocol.ListHooks():
                hooks = await self._stored(self._store.read(hooks_db.room_hooks, room), ref)
                return protocol.encode_hooks(room, hooks, ref)
        assert isinstance(request, protocol.RemoveHook)
        write = self._store.write(hooks_db.remove_hook, room, request.id)
        if not await self._stored(write, ref):
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no hook {request.id} in {room}", ref)
        return protocol.encode_done(ref)

    async def _managed_by(self, user: str, room: str, ref: Ref) -> str:
        """The room's spelling, if `user` is its owner or one of its
        moderators: they alone manage its hooks."""
        read = storage.settings_of(self._store, room)
        settings: RoomSettings | None = await self._stored(read, ref)
        if settings is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no room {room!r}", ref)
        rules = settings.rules
        if rules.direct or rules.role_of(user) is Role.MEMBER:
            raise ProtocolError(
                ErrorCode.FORBIDDEN, "only the room's owner and moderators manage its hooks", ref
            )
        return self._registry.stored_name(room) or room

    async def _add(self, user: str, room: str, name: str, target: str | None, ref: Ref) -> str:
        if target is not None:
            await self._check_target(target, ref)
        hook = Hook(new_hook_id(), room, name, target, user, self._clock_ms())
        secret = new_url_secret()
        signing_secret = new_signing_secret() if target is not None else None
        stored = StoredHook(hook, secret_hash(secret), signing_secret)
        write = self._store.write(hooks_db.add_hook, stored, MAX_HOOKS_PER_ROOM)
        if not await self._stored(write, ref):
            raise ProtocolError(
                ErrorCode.BAD_REQUEST, f"a room has at most {MAX_HOOKS_PER_ROOM} hooks", ref
            )
        if target is not None:
            self._deliveries.hook_made(room)
        return protocol.encode_hook(hook, f"/hooks/{hook.id}/{secret}", signing_secret, ref)

    async def _check_target(self, target: str, ref: Ref) -> None:
        """A target whose name resolves to an address webhooks may not reach
        is refused now, as each delivery would be."""
        _tls, host, port, _host_header, _path = protocol.url_parts(target)
        with trio.move_on_after(RESOLVE_WITHIN):
            try:
                await resolve(host, port, self._allowed)
            except AddressRefused as exc:
                if exc.refused:  # (which address, the owner need not learn)
                    raise ProtocolError(
                        ErrorCode.FORBIDDEN,
                        "the target is not a public address; webhooks may not reach it",
                        ref,
                    ) from None
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"bad target: {exc}", ref) from None
            return
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"bad target: {host} did not resolve", ref)

    async def _stored(self, step: Awaitable[T], ref: Ref) -> T:
        try:
            return await step
        except StoreUnavailable:
            raise protocol.unavailable_error(ref) from None

    # -- incoming ----------------------------------------------------------------------

    async def incoming(self, request: HttpRequest, hook_id: str, secret: str) -> Response:
        """A POST to /hooks/ID/SECRET: the body's text, as a message in the
        hook's room from the hook's name (204); 404 for anything but a hook
        and its secret."""
        found = None
        if is_valid_hook_id(hook_id):
            found = await self._store.read(hooks_db.hook_by_id, hook_id)
        if found is None or not is_secret_of(secret, found.secret_hash):
            return error_response(ErrorCode.NOT_FOUND, NOT_FOUND)
        hook = found.hook
        if wait := self._posts.take(hook.id):
            return error_response(
                ErrorCode.RATE_LIMITED,
                f"at most {POSTS_PER_MINUTE} posts a minute to one hook; wait",
                ("Retry-After", str(math.ceil(wait))),
            )
        try:
            text = protocol.hook_text(request.body, request.media_type)
        except ProtocolError as exc:
            return error_response(ErrorCode.BAD_REQUEST, exc.message)
        if await self._registry.archived(hook.room):  # (the room would drop it without a word)
            return error_response(ErrorCode.FORBIDDEN, ARCHIVED)
        post = PublishRequest(Poster(hook.name), text, posted=True)
        try:
            await self._registry.open(hook.room).submit(post)
        except RoomClosed:  # (it ended just now: a new task reads the store)
            await self._registry.open(hook.room).submit(post)
        return Response(204, b"", "application/json", (("Cache-Control", "no-store"),))
