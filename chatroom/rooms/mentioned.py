"""The members messages about to go out mention (no I/O): each is told
with a `mention` frame right after the message, in its place in the
member's stream (sessions.py tells the user's connections outside the room)."""

from __future__ import annotations

import collections
from collections.abc import Iterable

from chatroom import protocol
from chatroom.domain import ChatMessage
from chatroom.net.wsframe import text_frame
from chatroom.rooms.outbox import Outbox
from chatroom.rooms.requests import Subscriber

# For each new message (by id), the members it mentions.
Notify = tuple[tuple[int, tuple[str, ...]], ...]

# Messages whose mentions wait to go out; past it, the oldest are dropped
# (those mentions then reach only the connections outside the room).
MAX_WAITING = 4096


class Mentioned:
    def __init__(self) -> None:
        self._by_id: collections.OrderedDict[int, tuple[str, ...]] = collections.OrderedDict()

    def expect(self, notify: Notify) -> None:
        """Messages committed (here or elsewhere) that mention these members."""
        self._by_id.update(notify)
        while len(self._by_id) > MAX_WAITING:
            self._by_id.popitem(last=False)

    def tell(
        self, message: ChatMessage, members: Iterable[Subscriber], outbox: Outbox[Subscriber]
    ) -> None:
        """`message` just went into the outbox: the members it mentions are told."""
        users = self._by_id.pop(message.id, None)
        if not users:
            return
        keys = {user.lower() for user in users}
        frame = text_frame(protocol.encode_mention(message.room, message.id, message.user))
        for subscriber in members:
            if subscriber.user.lower() in keys:
                outbox.send_to(subscriber, frame)
