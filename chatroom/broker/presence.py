"""Who is a member of which room on the other nodes: plain state, no IO.

Fed by presence events, by a node's whole membership read from the broker,
and by a node's death. Each change answers which (room key, user) pairs may
look different now; the rooms compare with what their clients were told.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from chatroom.cluster.events import ONLINE

RoomUser = tuple[str, str]  # (room key, user)


class RemotePresence:
    def __init__(self) -> None:
        # room key -> user -> node -> since (ms)
        self._rooms: dict[str, dict[str, dict[str, int]]] = {}
        self._by_node: dict[str, set[RoomUser]] = {}
        self._names: dict[str, str] = {}  # room key -> spelling

    @property
    def nodes(self) -> list[str]:
        """Nodes with at least one member somewhere."""
        return list(self._by_node)

    def name(self, key: str) -> str | None:
        return self._names.get(key) if key in self._rooms else None

    def users(self, key: str) -> dict[str, int]:
        """Members of the room elsewhere, each with the earliest `since`."""
        users = self._rooms.get(key)
        if not users:
            return {}
        return {user: min(nodes.values()) for user, nodes in users.items()}

    def has(self, key: str, user: str) -> bool:
        users = self._rooms.get(key)
        return users is not None and user in users

    def online(self, user: str) -> bool:
        """Whether `user` has a connection on another node (kept as a
        membership of the room ONLINE there)."""
        return self.has(ONLINE, user.lower())

    def join(self, node: str, room: str, user: str, since: int) -> RoomUser:
        key = room.lower()
        self._names[key] = room
        self._rooms.setdefault(key, {}).setdefault(user, {})[node] = since
        self._by_node.setdefault(node, set()).add((key, user))
        return key, user

    def leave(self, node: str, room: str, user: str) -> RoomUser:
        key = room.lower()
        self._remove(node, key, user)
        entries = self._by_node.get(node)
        if entries is not None:
            entries.discard((key, user))
            if not entries:
                del self._by_node[node]
        return key, user

    def replace_node(self, node: str, members: Mapping[tuple[str, str], int]) -> set[RoomUser]:
        """`node`'s whole membership, as (room, user) -> since."""
        changed = self.drop_node(node)
        for (room, user), since in members.items():
            changed.add(self.join(node, room, user, since))
        return changed

    def drop_node(self, node: str) -> set[RoomUser]:
        entries = self._by_node.pop(node, set())
        for key, user in entries:
            self._remove(node, key, user)
        return entries

    def _remove(self, node: str, key: str, user: str) -> None:
        users = self._rooms.get(key)
        if users is None or user not in users:
            return
        users[user].pop(node, None)
        if not users[user]:
            del users[user]
            if not users:
                del self._rooms[key]
                self._names.pop(key, None)


def rooms_of(pairs: Iterable[RoomUser]) -> dict[str, list[str]]:
    """The pairs grouped by room key."""
    grouped: dict[str, list[str]] = {}
    for key, user in pairs:
        grouped.setdefault(key, []).append(user)
    return grouped
