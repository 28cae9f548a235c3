"""Webhooks (protocol 1.2): a room's hooks as its owner and moderators see
them, and the bounds on them."""

from __future__ import annotations

import re
from typing import Any

import attrs

MAX_HOOKS_PER_ROOM = 20
MAX_TARGET_CHARS = 2000  # an outgoing hook's URL
_HOOK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_valid_hook_id(hook_id: str) -> bool:
    return _HOOK_ID.fullmatch(hook_id) is not None


@attrs.frozen
class Hook:
    """One hook of a room: its messages come from user `name` (a bot's, as
    the protocol marks them); an outgoing one also sends every new message
    of the room to `target`."""

    id: str
    room: str  # as first spelled
    name: str
    target: str | None  # None: incoming only
    created_by: str
    created_ms: int
    disabled: bool = False  # an outgoing hook whose target answered 410 Gone

    @property
    def outgoing(self) -> bool:
        return self.target is not None

    def as_json(self) -> dict[str, Any]:
        """As `hooks` lists it: never a secret."""
        listed: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "kind": "outgoing" if self.outgoing else "incoming",
        }
        if self.target is not None:
            listed["target"] = self.target
            listed["disabled"] = self.disabled
        listed["by"] = self.created_by
        listed["created"] = self.created_ms
        return listed
