"""What the handlers of a session's frames (authentication.py,
requests_handler.py, joining.py) need of the session (connection.py), so
that they need not import it."""

from __future__ import annotations

from typing import Protocol

from chatroom.domain import ChatMessage
from chatroom.net.transport import SocketTransport
from chatroom.protocol import ProtocolError
from chatroom.rooms.actor import Room
from chatroom.rooms.requests import Subscriber


class ClientSession(Subscriber, Protocol):
    transport: SocketTransport
    session: str
    authenticated_user: str | None
    owner: str | None  # a bot's owner: the session is a bot's
    token_id: str | None
    token_issued: int | None
    rooms: dict[str, Room]  # joined here, by key
    saved_rooms: set[str]  # keys of the user's rooms, kept by the store
    read_markers: dict[str, int]  # room key -> how far the user has read

    def reply(self, text: str) -> None: ...

    def reply_error(self, error: ProtocolError) -> None: ...

    def request_close(self, code: int | None, reason: str = "") -> None: ...

    def strike(self, reason: str) -> None: ...

    async def next_text(self) -> str | None: ...

    def marker_moved(self, room: str, marker: int) -> bool: ...

    def charge_history(self, messages: list[ChatMessage]) -> None: ...
