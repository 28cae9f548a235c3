"""The one place that decides whether a token lets its holder in, for the
WebSocket `hello` (or its header token) and for HTTP bearer tokens alike.

A token is refused, in this order, when its signature or claims are bad or
it would stay valid longer than the max TTL ("token invalid"), when it has
expired ("token expired"), when its user is banned or logged out since it
was issued (the refusal check: "user banned", "token revoked"), and when
its id is revoked ("token revoked"). The caller looks revocation up in the
store (the WebSocket path in the same read that starts its session) and
hands the answer here. `TokenRefused.reason` is what the client is told.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import attrs

from chatroom.auth.tokens import InvalidToken, TokenClaims, TokenSigner

TOKEN_REVOKED = "token revoked"


class TokenRefused(Exception):
    """A token that does not let its holder in; `reason` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _never_refused(user: str, issued: int | None) -> str | None:
    return None


@attrs.frozen(kw_only=True)
class TokenGate:
    signer: TokenSigner
    # Tokens that would stay valid longer than this from now are refused.
    max_ttl: int | None = None
    # Why a user's token issued at a time (its `iat`) is refused now (banned,
    # logged out); None if it is not.
    refusal: Callable[[str, int | None], str | None] = _never_refused

    def check(self, token: str) -> TokenClaims:
        """The claims of `token`, if it may be used now as far as is known
        without a read: signed, not expired, not too long-lived, and its user
        neither banned nor logged out since. Revocation comes after."""
        try:
            claims = self.signer.verify(token, now=time.time(), max_ttl=self.max_ttl)
        except InvalidToken as exc:
            raise TokenRefused(f"token {exc.reason}") from None
        self.check_refusal(claims)
        return claims

    def check_refusal(self, claims: TokenClaims) -> None:
        """Refused if its user is banned or logged out since it was issued."""
        if reason := self.refusal(claims.user, claims.issued):
            raise TokenRefused(reason)

    def check_revocation(self, revoked: bool) -> None:
        """Refused if the store says its id is revoked."""
        if revoked:
            raise TokenRefused(TOKEN_REVOKED)

    async def authorize(
        self, token: str, is_revoked: Callable[[str], Awaitable[bool]]
    ) -> TokenClaims:
        """`check`, then the revocation of its id (if it has one) read with
        `is_revoked`: for a request that starts no session."""
        claims = self.check(token)
        if claims.token_id is not None:
            self.check_revocation(await is_revoked(claims.token_id))
        return claims
