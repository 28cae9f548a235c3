"""Authentication: signed tokens and the server secret."""

from chatroom.auth.secret import load_secret
from chatroom.auth.tokens import InvalidToken, TokenClaims, TokenSigner

__all__ = ["InvalidToken", "TokenClaims", "TokenSigner", "load_secret"]
