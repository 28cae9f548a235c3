"""The user directory (1.2 `users`): every account and every user known
from a hello, by name without case, with whether they are online now on
any server (see `online` in app.py)."""

from __future__ import annotations

from collections.abc import Callable

from chatroom import protocol
from chatroom.store import Store
from chatroom.store import users as users_db

# Directory pages one connection may ask for (the `@` list asks as a name
# is typed), in bursts of LOOKUP_BURST; past it, `rate_limited`.
LOOKUPS_PER_SECOND = 5
LOOKUP_BURST = 20


class Directory:
    def __init__(self, *, store: Store, online: Callable[[str], bool]) -> None:
        self._store = store
        self._online = online

    async def page(self, request: protocol.Users) -> str:
        """The `users` frame answering `request`."""
        limit = request.limit
        found = await self._store.read(users_db.directory, request.prefix, request.after, limit + 1)
        entries = [
            protocol.DirectoryEntry(name, bot, self._online(name)) for name, bot in found[:limit]
        ]
        return protocol.encode_users(entries, len(found) > limit, request.ref)
