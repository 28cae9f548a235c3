"""HS256 JSON Web Tokens naming one user (`sub`) until `exp`, with an id (`jti`)
by which a token can be revoked before then.

PyJWT reads and signs them (outside applications mint chatroom tokens with
it and the server's secret): only HS256 is accepted, so `alg: none` and other
algorithms are refused before any claim is read. The claims are checked here
against the caller's clock: `sub` a valid user name, `exp` required and in
the future, `nbf` and `iat` (when present) not in the future (give or take
CLOCK_SKEW_S). The only reasons given for a refusal are "invalid" and
"expired".
"""

from __future__ import annotations

import math
import secrets
from typing import Any

import attrs
import jwt

from chatroom.domain import is_valid_user_name

MAX_TOKEN_CHARS = 4096
ALGORITHM = "HS256"
# A minting application's clock may run a little ahead of ours.
CLOCK_SKEW_S = 30
# The times are checked below, against the `now` the caller gives.
_DECODE_OPTIONS: Any = {
    "require": ["exp"],
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
}


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
    issued: int | None = None  # `iat`; a logout refuses tokens without one


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@attrs.frozen
class TokenSigner:
    secret: bytes = attrs.field(repr=False)

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
        return jwt.encode(payload, self.secret, algorithm=ALGORITHM)

    def verify(self, token: str, *, now: float, max_ttl: int | None = None) -> TokenClaims:
        """The claims of a valid token; `max_ttl` refuses tokens that would
        stay valid longer than that from now (minted elsewhere, too generous)."""
        invalid = InvalidToken("invalid")
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            raise invalid
        try:
            payload = jwt.decode(
                token, self.secret, algorithms=[ALGORITHM], options=_DECODE_OPTIONS
            )
        except jwt.PyJWTError:
            raise invalid from None
        user, expires, token_id = payload.get("sub"), payload.get("exp"), payload.get("jti")
        if not is_valid_user_name(user):
            raise invalid
        if not isinstance(expires, int) or isinstance(expires, bool):
            raise invalid
        if token_id is not None and (not isinstance(token_id, str) or len(token_id) > 64):
            raise invalid
        for claim in ("nbf", "iat"):  # not valid yet, or issued in the future
            value = payload.get(claim, now)
            if not _is_time(value) or value > now + CLOCK_SKEW_S:
                raise invalid
        if now >= expires:
            raise InvalidToken("expired")
        if max_ttl is not None and expires - now > max_ttl:
            raise invalid
        assert isinstance(user, str)
        issued = payload.get("iat")
        return TokenClaims(
            user=user,
            expires=expires,
            token_id=token_id,
            issued=int(issued) if issued is not None else None,
        )
