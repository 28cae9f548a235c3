"""Password hashing with argon2id, always off the event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import argon2
import trio

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
# Each hash takes argon2-cffi's default 64 MiB for about 50 ms: two at a time
# bounds the memory and keeps a login flood from starving everything else.
CONCURRENT_HASHES = 2
# And one at a time per client address, so that one address's flood queues
# behind itself, not in front of everybody else.
CONCURRENT_HASHES_PER_CLIENT = 1


class PasswordHasher:
    def __init__(self) -> None:
        self._argon2 = argon2.PasswordHasher()  # argon2id
        self._limiter = trio.CapacityLimiter(CONCURRENT_HASHES)
        self._by_client: dict[str, trio.CapacityLimiter] = {}
        self._dummy_hash: str | None = None
        self._making_dummy = trio.Lock()

    @asynccontextmanager
    async def _turn(self, client: str) -> AsyncIterator[None]:
        """The client's turn at hashing (at most CONCURRENT_HASHES_PER_CLIENT)."""
        limiter = self._by_client.get(client)
        if limiter is None:
            limiter = self._by_client[client] = trio.CapacityLimiter(CONCURRENT_HASHES_PER_CLIENT)
        try:
            async with limiter:
                yield
        finally:
            stats = limiter.statistics()
            if not stats.borrowed_tokens and not stats.tasks_waiting:
                self._by_client.pop(client, None)

    async def hash(self, password: str, client: str = "") -> str:
        async with self._turn(client):
            return await trio.to_thread.run_sync(self._argon2.hash, password, limiter=self._limiter)

    async def verify(
        self,
        password_hash: str | None,
        password: str,
        client: str = "",
        first: Callable[[], None] = lambda: None,
    ) -> bool:
        """Check `password`; with no hash (no such user) take as long and say
        False. `first` runs when the client's turn comes, before the check
        (turns are one at a time per client: it may raise to refuse)."""
        if password_hash is None:
            async with self._making_dummy:  # made once, not by every early caller
                if self._dummy_hash is None:
                    self._dummy_hash = await self.hash("not a password of anybody")
            password_hash = self._dummy_hash
            known = False
        else:
            known = True
        async with self._turn(client):
            first()
            matches = await trio.to_thread.run_sync(
                self._check, password_hash, password, limiter=self._limiter
            )
        return known and matches

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
