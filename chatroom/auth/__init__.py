"""Authentication: signed tokens and the server secret."""

from chatroom.auth.secret import SecretError, load_secret
from chatroom.auth.tokens import InvalidToken, TokenClaims, TokenSigner

__all__ = ["InvalidToken", "SecretError", "TokenClaims", "TokenSigner", "load_secret"]
