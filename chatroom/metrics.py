"""GET /metrics: the Prometheus text exposition format, version 0.0.4."""

from __future__ import annotations

import os
import resource

import attrs

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@attrs.define
class Counters:
    """Events counted since start, shared by everything that counts them."""

    messages_committed: int = 0
    store_write_failures: int = 0
    rate_limited_frames: int = 0
    outbound_overflows: int = 0
    websocket_sessions: int = 0


def exposition(gauges: dict[str, tuple[str, float]], counters: Counters) -> str:
    """`gauges`: name -> (help, value); counters as `<name>_total`."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, value: float) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        number = int(value) if float(value).is_integer() else value
        lines.append(f"{name} {number}")

    for name, (help_text, value) in gauges.items():
        metric(f"chatroom_{name}", "gauge", help_text, value)
    for field in attrs.fields(Counters):
        help_text = field.name.replace("_", " ")
        metric(f"chatroom_{field.name}_total", "counter", help_text, getattr(counters, field.name))
    metric("process_resident_memory_bytes", "gauge", "resident memory", float(_resident_bytes()))
    metric("process_open_fds", "gauge", "open file descriptors", float(_open_fds()))
    return "\n".join(lines) + "\n"


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0
