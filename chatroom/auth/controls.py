"""Server-wide bans and logouts, which `python -m chatroom user ...` writes to
the shared database: every server keeps all of them in memory (a few rows:
only users ever banned or logged out), so `hello` and each HTTP request are
checked without a query, and reads what changed every POLL_INTERVAL, ending
the live sessions a change refuses. The bots and their owners too: a bot is
refused while its owner is banned, and members and messages say `bot`."""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from chatroom.auth.gate import TOKEN_REVOKED
from chatroom.store import Store, StoreUnavailable, UserControl
from chatroom.store import users as users_db

log = logging.getLogger(__name__)

POLL_INTERVAL = 2.0
# Rows changed this long before the newest seen are read again: the clocks
# of the servers and of the admin's machine may differ a little, and a
# transaction may commit after a later one.
CHANGE_OVERLAP_MS = 60_000


class UserControls:
    def __init__(self) -> None:
        self._by_key: dict[str, UserControl] = {}
        self._newest_ms = 0
        self._owners: dict[str, str] = {}  # bot key -> its owner

    def is_bot(self, user: str) -> bool:
        return user.lower() in self._owners

    def bots_of(self, owner: str) -> list[str]:
        key = owner.lower()
        return [bot for bot, of in self._owners.items() if of.lower() == key]

    def learn_bot(self, bot: str, owner: str) -> None:
        self._owners[bot.lower()] = owner

    def refusal(self, user: str, issued: int | None) -> str | None:
        """Why a token of `user` issued at `issued` (its `iat`) is refused now;
        None if it is not."""
        owner = self._owners.get(user.lower())
        if owner is not None and self.banned(owner):
            return "the bot's owner is banned"
        control = self._by_key.get(user.lower())
        if control is None:
            return None
        if control.banned:
            return "user banned"
        # A logout refuses every token issued before it (to the second, as
        # `iat` goes: one issued in the same second is refused too).
        if control.not_before_ms and (issued is None or issued * 1000 <= control.not_before_ms):
            return TOKEN_REVOKED
        return None

    def banned(self, user: str) -> bool:
        control = self._by_key.get(user.lower())
        return control is not None and control.banned

    def learn(self, controls: list[UserControl]) -> list[UserControl]:
        """Take what the store says; the controls that changed here."""
        changed = []
        for control in controls:
            key = control.name.lower()
            if self._by_key.get(key) != control:
                self._by_key[key] = control
                changed.append(control)
            self._newest_ms = max(self._newest_ms, control.changed_ms)
        return changed

    async def watch(
        self,
        store: Store,
        on_change: Callable[[UserControl], None],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Read every control, report started, then what changed every
        POLL_INTERVAL (calling `on_change` for each) until cancelled."""
        self.learn(await store.read(users_db.user_controls_since, 0))
        self._owners = {bot.lower(): owner for bot, owner in await store.read(users_db.bots)}
        task_status.started()
        while True:
            await trio.sleep(POLL_INTERVAL)
            since = max(0, self._newest_ms - CHANGE_OVERLAP_MS)
            try:
                changes = await store.read(users_db.user_controls_since, since)
                bots = await store.read(users_db.bots)
            except Exception as exc:  # never a reason to stop serving: ask again
                if not isinstance(exc, StoreUnavailable):
                    log.exception("reading bans and logouts failed")
                continue
            self._owners = {bot.lower(): owner for bot, owner in bots}
            for control in self.learn(changes):
                log.info(
                    "user %s: %s",
                    control.name,
                    "banned" if control.banned else "controls changed",
                    extra={"user": control.name},
                )
                on_change(control)
