"""Who holds each command now (no I/O): this server's bot connections, and
what each other server said its bots hold.

A command lives while a connection of its bot that registered it is open,
on any server. Each server says all of its bots' commands at once, and
again every few seconds; a server that stops saying so (it died, or lost
the broker) has its commands forgotten after EXPIRY. Two bots registering
one name on two servers at the same moment both hold it until they hear of
each other: the earlier registration is the one invoked.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs

from chatroom.protocol import CommandSpec

EXPIRY = 10.0  # seconds without hearing from a server before its commands go
MAX_PER_CONNECTION = 100  # as many as one `register` may declare

C = TypeVar("C")  # a bot's connection here


@attrs.frozen
class Holder(Generic[C]):
    spec: CommandSpec
    bot: str
    since_ms: int  # when registered: the earlier of two holders wins
    node: str = ""  # another server's; "" here
    connection: C | None = None  # here: the bot's connection that holds it

    @property
    def order(self) -> tuple[int, str]:
        return (self.since_ms, self.node)


class Holders(Generic[C]):
    def __init__(self) -> None:
        self._here: dict[C, dict[str, Holder[C]]] = {}
        self._elsewhere: dict[str, tuple[float, dict[str, Holder[C]]]] = {}

    def holder(self, name: str, now: float) -> Holder[C] | None:
        """The holder of `name` that an invocation goes to."""
        found = [h for holders in self._everyone(now) if (h := holders.get(name)) is not None]
        return min(found, key=lambda h: h.order, default=None)

    def register(
        self, connection: C, bot: str, specs: tuple[CommandSpec, ...], now_ms: int, now: float
    ) -> str | None:
        """`connection` (of `bot`) holds `specs` from now on, instead of what
        it held before; or the name of one another bot holds (nothing changes)."""
        for spec in specs:
            holder = self.holder(spec.name, now)
            if holder is not None and holder.bot.lower() != bot.lower():
                return spec.name
        before = self._here.get(connection, {})
        self._here[connection] = {
            spec.name: Holder(
                spec,
                bot,
                before[spec.name].since_ms if spec.name in before else now_ms,
                connection=connection,
            )
            for spec in specs
        }
        if not specs:
            del self._here[connection]
        return None

    def drop(self, connection: C) -> bool:
        """The connection closed: whether it held anything."""
        return self._here.pop(connection, None) is not None

    def here(self) -> list[Holder[C]]:
        """What this server's bots hold, for the others."""
        return [h for holders in self._here.values() for h in holders.values()]

    def elsewhere(self, node: str, holders: list[Holder[C]], now: float) -> None:
        """All that `node` says its bots hold now."""
        self._elsewhere[node] = (now + EXPIRY, {h.spec.name: h for h in holders})

    def listing(self, now: float) -> list[Holder[C]]:
        """Every command that can be invoked now, once each, by name."""
        by_name: dict[str, Holder[C]] = {}
        for holders in self._everyone(now):
            for name, holder in holders.items():
                if name not in by_name or holder.order < by_name[name].order:
                    by_name[name] = holder
        return [by_name[name] for name in sorted(by_name)]

    def _everyone(self, now: float) -> list[dict[str, Holder[C]]]:
        for node in [n for n, (expires, _) in self._elsewhere.items() if expires <= now]:
            del self._elsewhere[node]
        return [*self._here.values(), *(holders for _, holders in self._elsewhere.values())]
