"""HS256 JSON Web Tokens naming one user (`sub`) until `exp`, with an id (`jti`)
by which a token can be revoked before then.

Only what chatroom needs of RFC 7519: the header must say HS256, the
signature is checked in constant time before the payload is read, and the
only reasons given for a refusal are "invalid" and "expired".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

import attrs

from chatroom.protocol import is_valid_user_name

MAX_TOKEN_CHARS = 4096
_HEADER = {"alg": "HS256", "typ": "JWT"}


class InvalidToken(Exception):
    """A token that does not authenticate anybody; `reason` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@attrs.frozen
class TokenClaims:
    user: str
    expires: int
    # `jti`, by which a token can be revoked; None in tokens minted elsewhere
    token_id: str | None = None


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json_part(obj: dict[str, Any]) -> str:
    return _b64encode(json.dumps(obj, separators=(",", ":")).encode())


@attrs.frozen
class TokenSigner:
    secret: bytes = attrs.field(repr=False)

    def _sign(self, signing_input: str) -> str:
        digest = hmac.new(self.secret, signing_input.encode("ascii"), hashlib.sha256)
        return _b64encode(digest.digest())

    def issue(self, user: str, *, ttl: int, now: float) -> str:
        if not is_valid_user_name(user):
            raise ValueError(f"invalid user name: {user!r}")
        issued = int(now)
        payload = {
            "sub": user,
            "iat": issued,
            "exp": issued + ttl,
            "jti": secrets.token_urlsafe(12),
        }
        signing_input = f"{_json_part(_HEADER)}.{_json_part(payload)}"
        return f"{signing_input}.{self._sign(signing_input)}"

    def verify(self, token: str, *, now: float, max_ttl: int | None = None) -> TokenClaims:
        """The claims of a valid token; `max_ttl` refuses tokens that would
        stay valid longer than that from now (minted elsewhere, too generous)."""
        invalid = InvalidToken("invalid")
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            raise invalid
        parts = token.split(".")
        if len(parts) != 3:
            raise invalid
        header_part, payload_part, signature = parts
        if not hmac.compare_digest(self._sign(f"{header_part}.{payload_part}"), signature):
            raise invalid
        try:
            header = json.loads(_b64decode(header_part))
            payload = json.loads(_b64decode(payload_part))
        except ValueError:
            raise invalid from None
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise invalid
        if not isinstance(payload, dict):
            raise invalid
        user, expires, token_id = payload.get("sub"), payload.get("exp"), payload.get("jti")
        if not is_valid_user_name(user):
            raise invalid
        if not isinstance(expires, int) or isinstance(expires, bool):
            raise invalid
        if token_id is not None and (not isinstance(token_id, str) or len(token_id) > 64):
            raise invalid
        if now >= expires:
            raise InvalidToken("expired")
        if max_ttl is not None and expires - now > max_ttl:
            raise invalid
        assert isinstance(user, str)
        return TokenClaims(user=user, expires=expires, token_id=token_id)
