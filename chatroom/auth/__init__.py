"""Authentication: signed tokens and the server secret."""

from chatroom.auth.gate import TOKEN_REVOKED, TokenGate, TokenRefused
from chatroom.auth.secret import SecretError, load_secret
from chatroom.auth.tokens import InvalidToken, TokenClaims, TokenSigner

__all__ = [
    "TOKEN_REVOKED",
    "InvalidToken",
    "SecretError",
    "TokenClaims",
    "TokenGate",
    "TokenRefused",
    "TokenSigner",
    "load_secret",
]
