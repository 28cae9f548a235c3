"""Registering and logging in: passwords in, tokens out."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import attrs
import trio

from chatroom.auth.passwords import PasswordHasher, password_problem
from chatroom.auth.throttle import LoginThrottle
from chatroom.auth.tokens import TokenSigner
from chatroom.domain import ErrorCode, is_valid_user_name
from chatroom.ratelimit import BucketsByKey
from chatroom.store import Store
from chatroom.store import users as users_db

BAD_CREDENTIALS = "invalid username or password"


class AccountError(Exception):
    """A refused register or login, with the HTTP status to answer."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        retry_after: int | None = None,
        *,
        no_account: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        # A login of a name registration would accept: the client offers sign-up.
        self.no_account = no_account


@attrs.frozen
class IssuedToken:
    user: str
    token: str
    expires: int

    def as_json(self) -> dict[str, object]:
        return {"user": self.user, "token": self.token, "expires": self.expires}


@attrs.define
class Accounts:
    store: Store
    signer: TokenSigner
    token_ttl: int
    registration_open: bool = True
    registrations_per_hour: int = 20  # per client address, in bursts of as many
    hasher: PasswordHasher = attrs.field(factory=PasswordHasher)
    throttle: LoginThrottle = attrs.field(factory=LoginThrottle)
    # Whether a user is banned server-wide (see controls.py): no token for them.
    banned: Callable[[str], bool] = lambda user: False
    _registrations: BucketsByKey = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._registrations = BucketsByKey(
            self.registrations_per_hour, self.registrations_per_hour / 3600
        )

    def _issue(self, user: str) -> IssuedToken:
        now = time.time()
        token = self.signer.issue(user, ttl=self.token_ttl, now=now)
        return IssuedToken(user, token, int(now) + self.token_ttl)

    async def add_user(
        self, username: object, password: object, client: str = "", *, adopt_known: bool = False
    ) -> str:
        """Create a user (no token); raises AccountError. A name the server
        already knows without an account (tokens minted elsewhere) is taken
        too, unless an operator `adopt_known`s it: the account would inherit
        that user's rooms and conversations."""
        if not is_valid_user_name(username):
            raise AccountError(
                400, ErrorCode.BAD_REQUEST, "usernames are 1-32 characters: A-Z a-z 0-9 _ - ."
            )
        if problem := password_problem(password):
            raise AccountError(400, ErrorCode.BAD_REQUEST, problem)
        assert isinstance(username, str) and isinstance(password, str)
        # A taken name costs no hash (409 tells it is taken either way).
        known = await self.store.read(users_db.known_user, username)
        if known is not None and (
            not adopt_known or await self.store.read(users_db.password_hash, username) is not None
        ):
            raise AccountError(409, ErrorCode.CONFLICT, f"username {username!r} is taken")
        password_hash = await self.hasher.hash(password, client)
        if not await self.store.write(
            users_db.create_user, username, password_hash, adopt_known=adopt_known
        ):
            raise AccountError(409, ErrorCode.CONFLICT, f"username {username!r} is taken")
        return username

    async def add_bot(self, name: str, owner: str) -> str:
        """Create a bot account owned by the account `owner`; the owner's
        spelling. Raises AccountError."""
        if not is_valid_user_name(name):
            raise AccountError(
                400, ErrorCode.BAD_REQUEST, "usernames are 1-32 characters: A-Z a-z 0-9 _ - ."
            )
        try:
            owner_name = await self.store.write(users_db.create_bot, name, owner)
        except users_db.NameTaken:
            raise AccountError(409, ErrorCode.CONFLICT, f"username {name!r} is taken") from None
        if owner_name is None:
            raise AccountError(
                404, ErrorCode.NOT_FOUND, f"there is no user account {owner!r} to own the bot"
            )
        return owner_name

    def token_for(self, name: str) -> IssuedToken:
        """A token for `name`, as login would give it (no check of the name)."""
        return self._issue(name)

    async def set_password(self, username: str, password: object) -> None:
        """A new password for an account; raises AccountError."""
        if problem := password_problem(password):
            raise AccountError(400, ErrorCode.BAD_REQUEST, problem)
        assert isinstance(password, str)
        password_hash = await self.hasher.hash(password, "")
        if not await self.store.write(users_db.set_password, username, password_hash):
            raise AccountError(404, ErrorCode.NOT_FOUND, f"there is no user {username!r}")

    async def register(self, username: object, password: object, client: str) -> IssuedToken:
        if not self.registration_open:
            raise AccountError(403, ErrorCode.FORBIDDEN, "registration is closed on this server")
        wait = self._registrations.take(client)
        if wait > 0:
            raise AccountError(
                429,
                ErrorCode.RATE_LIMITED,
                f"at most {self.registrations_per_hour} sign-ups an hour from one address; wait",
                math.ceil(wait),
            )
        return self._issue(await self.add_user(username, password, client))

    async def login(self, username: object, password: object, client: str) -> IssuedToken:
        if not isinstance(username, str) or not isinstance(password, str):
            raise AccountError(400, ErrorCode.BAD_REQUEST, "username and password are strings")
        self._refuse_if_throttled(username, client)
        self.throttle.attempt(username, client)
        settled = False
        try:
            # Guesses at one name from many addresses slow every login for it a little.
            await trio.sleep(self.throttle.slowdown(username))
            account = None
            if is_valid_user_name(username) and len(password) <= 1024:
                account = await self.store.read(users_db.password_hash, username)
            # (a bot has no password: nothing matches, in the same time)
            password_hash = None if account is None or not account[1] else account[1]
            # Checked again in the address's hashing turn (one at a time): logins
            # sent all at once from one address are held to its limit too.
            matches = await self.hasher.verify(
                password_hash,
                password[:1024],
                client,
                first=lambda: self._refuse_if_throttled(username, client, address_only=True),
            )
            settled = True
            if account is not None and not account[1]:
                raise AccountError(
                    403, ErrorCode.FORBIDDEN, "a bot has no password: it connects with a token"
                )
            if not matches or account is None:
                self.throttle.failed(username, client)
                if account is None and await self._registrable(username):
                    # Registration would tell as much (its 409 is for taken names only).
                    raise AccountError(
                        401,
                        ErrorCode.UNAUTHORIZED,
                        f"no account named {username} here",
                        no_account=True,
                    )
                raise AccountError(401, ErrorCode.UNAUTHORIZED, BAD_CREDENTIALS)
            self.throttle.succeeded(username, client)
            if self.banned(account[0]):
                raise AccountError(403, ErrorCode.FORBIDDEN, "this user is banned")
            return self._issue(account[0])  # the account's spelling of the name
        finally:
            if not settled:  # refused, cancelled or the database away: not a guess
                self.throttle.abandoned(username, client)

    async def _registrable(self, username: str) -> bool:
        """Whether registering `username` could succeed: registration is open,
        and no account or user known without one has that valid name (with
        registration closed, saying so would list the accounts)."""
        if not self.registration_open or not is_valid_user_name(username):
            return False
        return await self.store.read(users_db.known_user, username) is None

    def _refuse_if_throttled(self, username: str, client: str, address_only: bool = False) -> None:
        wait = self.throttle.retry_after(username, client, address_only)
        if wait > 0:
            raise AccountError(
                429, ErrorCode.RATE_LIMITED, "too many failed logins; wait", math.ceil(wait)
            )
