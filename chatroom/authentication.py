"""Who a WebSocket client is: its `hello` (or the token of its upgrade request),
checked by the TokenGate, its session started in the store, and the `welcome`.

Until it has passed, `Connection.authenticated_user` is None and the
connection reads no other frame; a refusal closes it (4401, or 1008 or 1013).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio

from chatroom import __version__, protocol
from chatroom.auth import TokenGate, TokenRefused
from chatroom.client_session import ClientSession
from chatroom.config import Settings
from chatroom.domain import ErrorCode, UserRoom
from chatroom.metrics import Counters
from chatroom.protocol import (
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHORIZED,
    ProtocolError,
    Ref,
)
from chatroom.store import Store, StoreUnavailable
from chatroom.store import users as users_db


@attrs.define(eq=False, kw_only=True)
class Authentication:
    """The start of one connection's session: its hello, and the welcome."""

    connection: ClientSession
    store: Store
    # Decides on the token of `hello` (or of the upgrade request).
    tokens: TokenGate
    settings: Settings
    # Counts the user's connections; False when the user has too many.
    admit: Callable[[str], bool]
    counters: Counters
    # A bot said hello: its owner (known here before the store is read again).
    learn_bot: Callable[[str, str], None] = lambda bot, owner: None

    async def await_hello(self) -> None:
        """Authenticate with the first frame, which must be a `hello` arriving
        within the hello timeout (looking the user up may take longer)."""
        with trio.move_on_after(self.settings.hello_timeout) as waiting:
            message = await self.connection.next_text()
        if waiting.cancelled_caught:
            self._refuse(f"no hello within {self.settings.hello_timeout:g} s", None)
            return
        if message is None:  # a binary frame: closing already
            return
        try:
            request = protocol.parse_request(message)
        except ProtocolError as error:
            self._refuse(error.message, error.ref)
            return
        if isinstance(request, protocol.Hello):
            await self.authenticate(request.token, request.ref)
        else:
            self._refuse("the first frame must be hello", request.ref)

    async def authenticate(self, token: str, ref: Ref) -> None:
        connection = self.connection
        try:
            claims = self.tokens.check(token)
        except TokenRefused as exc:
            self._refuse(exc.reason, ref)
            return
        # Known before the look-up: a logout meanwhile finds this session too.
        connection.token_id, connection.token_issued = claims.token_id, claims.issued
        try:
            unwritten = self.store.read_markers.unwritten(claims.user)
            start = await self.store.read(
                users_db.start_session, claims.user, claims.token_id, unwritten
            )
        except StoreUnavailable:
            # Without its rooms, a welcome would tell the client it has none.
            connection.reply_error(protocol.unavailable_error(ref))
            connection.request_close(CLOSE_TRY_AGAIN_LATER, "the database is unavailable; retry")
            return
        if start.owner is not None:
            self.learn_bot(start.user, start.owner)
        try:
            self.tokens.check_revocation(start.revoked)  # read as the session started
            # Again: a ban or logout read meanwhile did not find this session yet.
            self.tokens.check_refusal(claims)
        except TokenRefused as exc:
            self._refuse(exc.reason, ref)
            return
        if not self.admit(start.user):
            error = ProtocolError(
                ErrorCode.FORBIDDEN, f"{start.user} has too many connections open", ref
            )
            connection.reply_error(error)
            connection.request_close(CLOSE_POLICY, "too many connections for this user")
            return
        connection.authenticated_user = start.user
        connection.owner = start.owner
        if not start.known:  # once per user: `direct` finds them from now on
            try:
                await self.store.write(users_db.remember_user, start.user)
            except StoreUnavailable:
                pass  # recorded at their next hello
        connection.saved_rooms = {r.name.lower() for r in start.rooms}
        connection.read_markers = {
            r.name.lower(): r.read for r in start.rooms if r.read is not None
        }
        rooms = [UserRoom(r.name, r.unread) for r in start.rooms]
        invitations = [(i.room, i.by) for i in start.invitations]
        welcome = protocol.encode_welcome(
            start.user, connection.session, __version__, rooms, ref, invitations
        )
        connection.reply(welcome)
        self.counters.hello_seconds.observe(trio.current_time() - connection.transport.opened)

    def _refuse(self, message: str, ref: Ref) -> None:
        self.connection.reply_error(ProtocolError(ErrorCode.UNAUTHORIZED, message, ref))
        self.connection.request_close(CLOSE_UNAUTHORIZED, "unauthorized")
