"""What servers tell each other through the broker, as bytes: pure functions.

Every event names the node that sent it (a node ignores its own); the node is
stamped by the broker as it publishes. Room events carry the room's key and
spelling, so that a node learns rooms another node created.

A new kind of event is one class here (an Event with a KIND), carrying its
own body() and from_body(); nodes skip kinds they do not know, so a cluster
can be upgraded one node at a time. Where an event goes is said by its class:
a RoomEvent to the room's task here (rooms/), one with TO_USERS to the
user's sessions here (sessions.py).
"""

from __future__ import annotations

import itertools
import json
from typing import Any, ClassVar

import attrs

from chatroom.cluster.fields import BadEvent as BadEvent
from chatroom.cluster.fields import is_int as _is_int
from chatroom.cluster.fields import message_from_row as _message
from chatroom.cluster.fields import message_row as _row
from chatroom.cluster.fields import room_of as _room
from chatroom.cluster.fields import user_of as _user
from chatroom.domain import ChatMessage

VERSION = 1


class Event:
    """What every event is: its kind on the wire, where it goes, its body."""

    KIND: ClassVar[str] = ""
    TO_USERS: ClassVar[bool] = False  # to the user's sessions here (sessions.py)
    TO_COMMANDS: ClassVar[bool] = False  # to the bots' commands here (commands/)
    node: str  # (each event class declares it last, keyword-only)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.KIND:  # (attrs makes each class twice: the last one stays)
            _KINDS[cls.KIND] = cls

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> Event:
        raise NotImplementedError


class RoomEvent(Event):
    """An event for the room's task here (rooms/), if the room has one."""

    room: str  # as first spelled (each event class declares it first)


_KINDS: dict[str, type[Event]] = {}


def _node() -> Any:
    return attrs.field(default="", kw_only=True)


@attrs.frozen
class MessagesEvent(RoomEvent):
    """Messages a node committed in a room, in id order (users: direct
    rooms, and the mentioned members to `notify`, by message id)."""

    KIND = "messages"
    TO_USERS = True

    room: str  # as first spelled
    messages: tuple[ChatMessage, ...]
    notify: tuple[tuple[int, tuple[str, ...]], ...] = ()
    node: str = _node()

    def body(self) -> dict[str, Any]:
        # With each message's frame text: the other servers need not encode
        # it again (a 1.0 server ignores "texts").
        texts = [m.frame_text for m in self.messages]
        rows = [_row(m) for m in self.messages]
        body = {"room": self.room, "messages": rows, "texts": texts}
        return {**body, "notify": [[i, list(u)] for i, u in self.notify]} if self.notify else body

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> MessagesEvent:
        room = _room(body)
        rows, texts = body["messages"], body.get("texts")
        if not (isinstance(texts, list) and len(texts) == len(rows)):
            texts = [None] * len(rows)
        messages = tuple(_message(room, row, text) for row, text in zip(rows, texts, strict=True))
        if not messages or any(b.id != a.id + 1 for a, b in itertools.pairwise(messages)):
            raise BadEvent("messages are contiguous and not empty")
        notify = tuple(
            (message_id, tuple(_user(u) for u in users))
            for message_id, users in body.get("notify", [])
        )
        if not all(_is_int(message_id) for message_id, _users in notify):
            raise BadEvent("notify is [[id, [user...]]...]")
        return cls(room, messages, notify, node=node)


@attrs.frozen
class ChangedEvent(RoomEvent):
    """A message a node edited, deleted or (`reacted`) reacted to, as it is now."""

    KIND = "changed"

    room: str
    message: ChatMessage
    reacted: bool = False
    node: str = _node()

    def body(self) -> dict[str, Any]:
        body = {"room": self.room, "message": _row(self.message)}
        return {**body, "reacted": True} if self.reacted else body

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> ChangedEvent:
        room = _room(body)
        return cls(room, _message(room, body["message"]), body.get("reacted") is True, node=node)


@attrs.frozen
class SettingsEvent(RoomEvent):
    """A node changed a room's topic, roles or lists: read them again."""

    KIND = "settings"

    room: str
    node: str = _node()

    def body(self) -> dict[str, Any]:
        return {"room": self.room}

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> SettingsEvent:
        return cls(_room(body), node=node)


@attrs.frozen
class ExpelledEvent(RoomEvent):
    """`user` was kicked or banned from `room`: their connections leave it everywhere."""

    KIND = "expelled"
    TO_USERS = True

    room: str
    user: str
    by: str
    reason: str | None
    node: str = _node()

    def body(self) -> dict[str, Any]:
        return {"room": self.room, "user": self.user, "by": self.by, "reason": self.reason}

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> ExpelledEvent:
        reason = body["reason"]
        if reason is not None and not isinstance(reason, str):
            raise BadEvent("reason is a string or null")
        return cls(_room(body), _user(body["user"]), _user(body["by"]), reason, node=node)


@attrs.frozen
class InvitationEvent(RoomEvent):
    """`by` invited `user` to the private `room`: their connections everywhere
    hear of it, and the room's rules are stale until its settings are read."""

    KIND = "invitation"
    TO_USERS = True

    room: str
    user: str
    by: str
    node: str = _node()

    def body(self) -> dict[str, Any]:
        return {"room": self.room, "user": self.user, "by": self.by}

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> InvitationEvent:
        return cls(_room(body), _user(body["user"]), _user(body["by"]), node=node)


@attrs.frozen
class TypingEvent(RoomEvent):
    """`user` is typing in `room` (already throttled by the sending node)."""

    KIND = "typing"

    room: str
    user: str
    node: str = _node()

    def body(self) -> dict[str, Any]:
        return {"room": self.room, "user": self.user}

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> TypingEvent:
        return cls(_room(body), _user(body["user"]), node=node)


@attrs.frozen
class ReadEvent(Event):
    """`user` has read `room` up to `message_id`: their connections everywhere hear of it."""

    KIND = "read"
    TO_USERS = True

    room: str
    user: str
    message_id: int
    node: str = _node()

    def body(self) -> dict[str, Any]:
        return {"room": self.room, "user": self.user, "id": self.message_id}

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> ReadEvent:
        message_id = body["id"]
        if not _is_int(message_id) or message_id < 0:
            raise BadEvent("id is a non-negative integer")
        return cls(_room(body), _user(body["user"]), message_id, node=node)


@attrs.frozen
class ForgottenEvent(Event):
    """`room` is no longer among `user`'s rooms (they left it, or a join was
    refused by its rules)."""

    KIND = "forgotten"
    TO_USERS = True

    room: str
    user: str
    node: str = _node()

    def body(self) -> dict[str, Any]:
        return {"room": self.room, "user": self.user}

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> ForgottenEvent:
        return cls(_room(body), _user(body["user"]), node=node)


# Not a room name: `PresenceEvent(ONLINE, user, ...)` says that `user` (in
# lower case) has a connection on the sending node from `since`, or no more.
ONLINE = ""


@attrs.frozen
class PresenceEvent(Event):
    """`user` became a member of `room` on the sending node at `since` (ms),
    or stopped being one there (`since` None). The broker keeps these."""

    KIND = "presence"

    room: str
    user: str
    since: int | None
    node: str = _node()

    def body(self) -> dict[str, Any]:
        return {"room": self.room, "user": self.user, "since": self.since}

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> PresenceEvent:
        since = body["since"]
        if since is not None and not _is_int(since):
            raise BadEvent("since is an integer or null")
        room = ONLINE if body["room"] == ONLINE else _room(body)
        return cls(room, _user(body["user"]), since, node=node)


@attrs.frozen
class NodeEvent(Event):
    """The sending node (re)wrote all its members to the broker: read them again."""

    KIND = "node"

    node: str = _node()

    def body(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> NodeEvent:
        return cls(node=node)


@attrs.frozen
class RevokedEvent(Event):
    """A token was revoked: its sessions end on every node."""

    KIND = "revoked"
    TO_USERS = True

    token_id: str
    node: str = _node()

    def body(self) -> dict[str, Any]:
        return {"token": self.token_id}

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> RevokedEvent:
        token_id = body["token"]
        if not isinstance(token_id, str):
            raise BadEvent("token is a string")
        return cls(token_id, node=node)


@attrs.frozen
class CommandsEvent(Event):
    """Every command the sending node's bots hold now, each (name, bot,
    description, usage, since ms); sent again every few seconds, so that a
    node that dies takes its commands along."""

    KIND = "commands"
    TO_COMMANDS = True

    commands: tuple[tuple[str, str, str, str, int], ...]
    node: str = _node()

    def body(self) -> dict[str, Any]:
        return {"commands": [list(command) for command in self.commands]}

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> CommandsEvent:
        commands = []
        for name, bot, description, usage, since in body["commands"]:
            if not all(isinstance(t, str) for t in (name, description, usage)):
                raise BadEvent("a command's name, description and usage are strings")
            if not _is_int(since):
                raise BadEvent("since is an integer")
            commands.append((name, _user(bot), description, usage, since))
        return cls(tuple(commands), node=node)


@attrs.frozen
class InvokeEvent(Event):
    """`user` invoked the command `name` in `room`: for the bot holding it on
    node `to` (the invoker's node awaits its answer as `invocation`)."""

    KIND = "invoke"
    TO_COMMANDS = True

    to: str
    invocation: str
    room: str
    user: str
    bot: str
    name: str
    args: str
    node: str = _node()

    def body(self) -> dict[str, Any]:
        return {"to": self.to, "id": self.invocation, "room": self.room, "user": self.user,
                "bot": self.bot, "name": self.name, "args": self.args}  # fmt: skip

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> InvokeEvent:
        to, invocation, name, args = (body[k] for k in ("to", "id", "name", "args"))
        if not all(isinstance(t, str) for t in (to, invocation, name, args)):
            raise BadEvent("to, id, name and args are strings")
        user, bot = _user(body["user"]), _user(body["bot"])
        return cls(to, invocation, _room(body), user, bot, name, args, node=node)


@attrs.frozen
class AnsweredEvent(Event):
    """The bot answered (or deferred) `invocation`, made on node `to`."""

    KIND = "answered"
    TO_COMMANDS = True

    to: str
    invocation: str
    node: str = _node()

    def body(self) -> dict[str, Any]:
        return {"to": self.to, "id": self.invocation}

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> AnsweredEvent:
        to, invocation = body["to"], body["id"]
        if not isinstance(to, str) or not isinstance(invocation, str):
            raise BadEvent("to and id are strings")
        return cls(to, invocation, node=node)


@attrs.frozen
class EphemeralEvent(Event):
    """Text for `user`'s eyes only, in `room`, from `bot` (or the server about
    it): their connections everywhere show it; nothing stores it."""

    KIND = "ephemeral"
    TO_USERS = True

    user: str
    room: str
    bot: str
    text: str
    node: str = _node()

    def body(self) -> dict[str, Any]:
        return {"user": self.user, "room": self.room, "bot": self.bot, "text": self.text}

    @classmethod
    def from_body(cls, node: str, body: dict[str, Any]) -> EphemeralEvent:
        text = body["text"]
        if not isinstance(text, str):
            raise BadEvent("text is a string")
        return cls(_user(body["user"]), _room(body), _user(body["bot"]), text, node=node)


@attrs.frozen
class MembersChanged(RoomEvent):
    """(Made here from PresenceEvent and NodeEvent, never sent.) Whether
    `users` are members of `room` on other servers may have changed."""

    room: str
    users: tuple[str, ...]
    node: str = _node()


@attrs.frozen
class UnknownEvent(Event):
    """A kind a newer node sends; skipped."""

    kind: str
    node: str = _node()

    def body(self) -> dict[str, Any]:
        raise ValueError("unknown events are not sent")


def sender_prefix(node: str) -> bytes:
    """How every event `node` sends begins: a node skips its own unparsed."""
    return b'{"node":' + json.dumps(node).encode() + b","


def encode_event(event: Event, node: str) -> bytes:
    """`event` as `node` sends it."""
    body: dict[str, Any] = {"node": node, "v": VERSION, "kind": event.KIND, **event.body()}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def decode_event(data: bytes) -> Event:
    try:
        body = json.loads(data)
        node = body["node"]
        name = body["kind"]
        if not isinstance(node, str) or not isinstance(name, str):
            raise BadEvent("node and kind are strings")
        event_class = _KINDS.get(name)
        if event_class is None:
            return UnknownEvent(name, node=node)
        return event_class.from_body(node, body)
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, BadEvent):
            raise
        raise BadEvent(f"not an event: {exc!r}") from None
