"""A Python client for chatroom servers: `Client` (Trio), `Bot` (commands
declared with a decorator), and `connect()` for scripts without Trio.
See docs/bots.md."""

from chatroom.client._bot import Bot, Context
from chatroom.client._client import ChatError, Client, Disconnected, Unauthorized
from chatroom.client._events import (
    Command,
    Deleted,
    Edited,
    Ephemeral,
    Event,
    File,
    Invitation,
    Mention,
    Message,
    Presence,
    Reactions,
    Typing,
)
from chatroom.client._sync import SyncClient, connect

__all__ = [
    "Bot",
    "ChatError",
    "Client",
    "Command",
    "Context",
    "Deleted",
    "Disconnected",
    "Edited",
    "Ephemeral",
    "Event",
    "File",
    "Invitation",
    "Mention",
    "Message",
    "Presence",
    "Reactions",
    "SyncClient",
    "Typing",
    "Unauthorized",
    "connect",
]
