"""GET /metrics on prometheus-client: the Prometheus text format 0.0.4.

Counters are plain ints on `Counters`, shared by everything that counts
(the hot paths add to an int, nothing more); histograms are prometheus-client
ones, observed where the time is known. Both, with the server's gauges (read
when asked) and the process's own (memory, CPU, descriptors), go out through
one registry per scrape.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

import attrs
from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Seconds, from a fraction of a millisecond on loopback to the limits' timeouts.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def _histogram(name: str, help_text: str, buckets: tuple[float, ...]) -> Histogram:
    return Histogram(name, help_text, buckets=buckets, registry=None)


@attrs.define
class Counters:
    """Events counted since start, shared by everything that counts them."""

    messages_committed: int = 0
    # Other servers' messages read from the store: the broker lost them, or
    # they were late (rooms/catchup.py).
    messages_read_back: int = 0
    store_write_failures: int = 0
    rate_limited_frames: int = 0
    outbound_overflows: int = 0
    websocket_sessions: int = 0
    # WebSocket sessions ended, by close code ("none": no close frame).
    close_codes: collections.Counter[str] = attrs.field(factory=collections.Counter)
    # `error` frames sent, by their code.
    error_codes: collections.Counter[str] = attrs.field(factory=collections.Counter)
    fanout_seconds: Histogram = attrs.field(
        factory=lambda: _histogram(
            "chatroom_fanout_seconds",
            "a send, from its arrival to its frames offered to the room's members "
            "(the commit included)",
            LATENCY_BUCKETS,
        )
    )
    store_commit_seconds: Histogram = attrs.field(
        factory=lambda: _histogram(
            "chatroom_store_commit_seconds", "one write transaction", LATENCY_BUCKETS
        )
    )
    store_commit_jobs: Histogram = attrs.field(
        factory=lambda: _histogram(
            "chatroom_store_commit_jobs", "writes in one transaction (group commit)", BATCH_BUCKETS
        )
    )
    hello_seconds: Histogram = attrs.field(
        factory=lambda: _histogram(
            "chatroom_hello_seconds",
            "from the socket accepted to its welcome (handshake, hello, the user's rooms)",
            LATENCY_BUCKETS,
        )
    )

    def histograms(self) -> list[Histogram]:
        return [
            self.fanout_seconds,
            self.store_commit_seconds,
            self.store_commit_jobs,
            self.hello_seconds,
        ]


_COUNTED = (
    "messages_committed",
    "messages_read_back",
    "store_write_failures",
    "rate_limited_frames",
    "outbound_overflows",
    "websocket_sessions",
)


@attrs.frozen(eq=False)  # (a registry keeps collectors in a dict)
class _ServerCollector:
    gauges: dict[str, tuple[str, float]]
    counters: Counters

    def collect(self) -> Iterator[Metric]:
        for name, (help_text, value) in self.gauges.items():
            yield GaugeMetricFamily(f"chatroom_{name}", help_text, value=float(value))
        for name in _COUNTED:
            help_text = name.replace("_", " ")
            value = getattr(self.counters, name)
            yield CounterMetricFamily(f"chatroom_{name}", help_text, value=value)
        for name, help_text, by in (
            ("closes", "WebSocket sessions ended, by close code (none: no close frame)",
             self.counters.close_codes),
            ("errors", "error frames sent, by code", self.counters.error_codes),
        ):  # fmt: skip
            family = CounterMetricFamily(f"chatroom_{name}", help_text, labels=["code"])
            for code, count in sorted(by.items()):
                family.add_metric([code], count)
            yield family
        for histogram in self.counters.histograms():
            yield from histogram.collect()


def exposition(gauges: dict[str, tuple[str, float]], counters: Counters) -> bytes:
    """`gauges`: name -> (help, value), as `chatroom_<name>`; the counters as
    `chatroom_<name>_total`, the histograms, and the process's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ServerCollector(gauges, counters))
    ProcessCollector(registry=registry)
    return generate_latest(registry)
