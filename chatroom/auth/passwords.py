"""Password hashing with argon2id, always off the event loop."""

from __future__ import annotations

import argon2
import trio

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
# Each hash takes argon2-cffi's default 64 MiB for about 50 ms: two at a time
# bounds the memory and keeps a login flood from starving everything else.
CONCURRENT_HASHES = 2


class PasswordHasher:
    def __init__(self) -> None:
        self._argon2 = argon2.PasswordHasher()  # argon2id
        self._limiter = trio.CapacityLimiter(CONCURRENT_HASHES)
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await trio.to_thread.run_sync(self._argon2.hash, password, limiter=self._limiter)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check `password`; with no hash (no such user) take as long and say False."""
        if password_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self.hash("not a password of anybody")
            await trio.to_thread.run_sync(
                self._check, self._dummy_hash, password, limiter=self._limiter
            )
            return False
        return await trio.to_thread.run_sync(
            self._check, password_hash, password, limiter=self._limiter
        )

    def _check(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False


def password_problem(password: object) -> str | None:
    """Why `password` is not acceptable, or None."""
    if not isinstance(password, str):
        return "password must be a string"
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        return f"password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
    return None
