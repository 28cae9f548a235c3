"""What /healthz and /metrics say of the server as a whole, read when asked."""

from __future__ import annotations

import os
from typing import Any

from chatroom.broker import RedisBroker
from chatroom.net.admission import Admission
from chatroom.rooms.registry import RoomRegistry
from chatroom.sessions import Sessions
from chatroom.store import Store


class Health:
    def __init__(
        self,
        *,
        store: Store,
        registry: RoomRegistry,
        sessions: Sessions,
        admission: Admission,
        broker: RedisBroker | None,
    ) -> None:
        self._store = store
        self._registry = registry
        self._sessions = sessions
        self._admission = admission
        self._broker = broker

    def health(self) -> dict[str, Any]:
        """For /healthz: what works, and what is degraded (still 200)."""
        answer: dict[str, Any] = {"status": "ok", "pid": os.getpid()}
        broker = self._broker
        if broker is None:
            return answer
        degraded = []
        if broker.state != "connected":
            degraded.append("broker")
        if broker.secret_mismatch:
            degraded.append("secret")
        answer.update(broker=broker.state, node=broker.node)
        if degraded:
            answer.update(status="degraded", degraded=degraded)
        return answer

    def gauges(self) -> dict[str, tuple[str, float]]:
        """Values for GET /metrics."""
        counts = [count for count in self._registry.member_counts() if count]
        return {
            "websocket_connections": ("WebSocket sessions open", len(self._sessions)),
            "sockets": ("client sockets open", sum(self._admission.by_address.values())),
            "unauthenticated_sockets": (
                "sockets not yet authenticated",
                self._admission.unauthenticated,
            ),
            "rooms": ("rooms with members", len(counts)),
            "room_members": ("members summed over rooms", sum(counts)),
            "store_transactions": ("write transactions committed", self._store.transactions),
            "history_cache_bytes": (
                "bytes of recent messages kept in memory, all rooms",
                self._registry.cache_budget.total,
            ),
            **self._broker_gauges(),
        }

    def _broker_gauges(self) -> dict[str, tuple[str, float]]:
        broker = self._broker
        if broker is None:
            return {}
        return {
            "broker_connected": ("1 while the broker is reachable", broker.state == "connected"),
            "broker_events_dropped": (
                "events not published (queue full or broker down); rooms read them from "
                "the database",
                broker.dropped,
            ),
            "broker_nodes": ("other servers with members", len(broker.remote.nodes)),
        }
