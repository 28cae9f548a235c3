"""A hook's secrets, and Standard Webhooks' signatures (standardwebhooks.com):
what a receiver checks to know a delivery came from this server, unaltered."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SIGNING_PREFIX = "whsec_"


def new_hook_id() -> str:
    return secrets.token_urlsafe(9)  # 12 characters


def new_url_secret() -> str:
    """The secret in a hook's URL (/hooks/ID/SECRET): only its hash is stored."""
    return secrets.token_urlsafe(24)


def secret_hash(secret: str) -> str:
    """What is stored of a URL's secret. A fast hash is enough: the secret
    is 192 random bits, not a password anyone could guess."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_secret_of(secret: str, stored_hash: str) -> bool:
    """Whether `secret` is the one whose hash was stored (in constant time)."""
    return hmac.compare_digest(secret_hash(secret).encode(), stored_hash.encode())


def new_signing_secret() -> str:
    return SIGNING_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_webhook_id() -> str:
    """A delivery's `webhook-id`, the same in each of its attempts."""
    return "msg_" + secrets.token_urlsafe(18)


def signature(signing_secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` of a delivery: `v1,` and the base64 of the
    HMAC-SHA256, keyed by the secret's bytes, of `id.timestamp.body`."""
    key = base64.b64decode(signing_secret.removeprefix(SIGNING_PREFIX))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(
    signing_secret: str, webhook_id: str, timestamp: int, body: bytes
) -> list[tuple[str, str]]:
    return [
        ("webhook-id", webhook_id),
        ("webhook-timestamp", str(timestamp)),
        ("webhook-signature", signature(signing_secret, webhook_id, timestamp, body)),
    ]
