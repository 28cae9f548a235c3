"""What a client hears from the server, as typed events (attrs classes),
made from the protocol's frames by `event_of` (no I/O)."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class File:
    """A file a message carries: GET /api/files/{id} with the token."""

    id: str
    name: str
    size: int
    type: str


@attrs.frozen
class Message:
    """A message in a room, delivered once, in id order."""

    room: str
    id: int
    user: str
    text: str
    ts: int
    bot: bool = False
    cid: str | None = None
    files: tuple[File, ...] = ()
    reply_to: int | None = None  # the message of the room it answers
    mentions: tuple[str, ...] = ()  # the users it names with @


@attrs.frozen
class Edited:
    room: str
    id: int
    text: str
    edited: int


@attrs.frozen
class Deleted:
    room: str
    id: int


@attrs.frozen
class Reactions:
    """Message `id`'s reactions now: each emoji with who reacted with it."""

    room: str
    id: int
    reactions: dict[str, tuple[str, ...]]


@attrs.frozen
class Mention:
    """`by` named this user in message `id` of `room`."""

    room: str
    id: int
    by: str


@attrs.frozen
class Presence:
    """`user` became a member of `room` (`joined`), or stopped being one."""

    room: str
    user: str
    joined: bool


@attrs.frozen
class Command:
    """A member invoked a command this bot holds; answer with respond()."""

    id: str
    room: str
    user: str
    name: str
    args: str


@attrs.frozen
class Ephemeral:
    """Text for this user's eyes only, from a bot (or the server about one)."""

    room: str
    bot: str
    text: str


@attrs.frozen
class Invitation:
    room: str
    by: str


@attrs.frozen
class Typing:
    room: str
    user: str


Event = (
    Message
    | Edited
    | Deleted
    | Reactions
    | Mention
    | Presence
    | Command
    | Ephemeral
    | Invitation
    | Typing
)


def message_of(frame: dict[str, Any]) -> Message:
    return Message(
        frame["room"],
        frame["id"],
        frame["user"],
        frame.get("text", ""),
        frame["ts"],
        frame.get("bot", False),
        frame.get("cid"),
        tuple(File(str(f["id"]), f["name"], f["size"], f["type"]) for f in frame.get("files", ())),
        frame.get("reply_to"),
        tuple(frame.get("mentions", ())),
    )


def event_of(frame: dict[str, Any]) -> Event | None:
    """The event a server frame tells of (messages aside: they are ordered
    by the client first); None for the frames that are not events."""
    match frame.get("type"):
        case "edited":
            return Edited(frame["room"], frame["id"], frame["text"], frame.get("edited") or 0)
        case "deleted":
            return Deleted(frame["room"], frame["id"])
        case "reactions":
            reactions = {e: tuple(users) for e, users in frame["reactions"].items()}
            return Reactions(frame["room"], frame["id"], reactions)
        case "mention":
            return Mention(frame["room"], frame["id"], frame["by"])
        case "presence":
            return Presence(frame["room"], frame["user"], frame["event"] == "join")
        case "command":
            return Command(frame["id"], frame["room"], frame["user"], frame["name"], frame["args"])
        case "ephemeral":
            return Ephemeral(frame["room"], frame["bot"], frame["text"])
        case "invitation":
            return Invitation(frame["room"], frame["by"])
        case "typing":
            return Typing(frame["room"], frame["user"])
    return None
