"""Where one chat keeps things in Redis, and how it names itself in logs."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

import attrs

SECRET_ID = "chatroom:secret-id"


def secret_id(secret: bytes) -> str:
    """Names the token secret without revealing it."""
    return hashlib.sha256(b"chatroom secret id\0" + secret).hexdigest()[:16]


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@attrs.frozen
class Keys:
    """Where one chat (one token secret) keeps things in Redis."""

    namespace: str

    @property
    def events(self) -> str:
        return self.namespace + "events"

    @property
    def nodes(self) -> str:
        return self.namespace + "nodes"

    def node(self, node: str) -> str:
        return f"{self.namespace}node:{node}"

    def presence(self, node: str) -> str:
        return f"{self.namespace}presence:{node}"
