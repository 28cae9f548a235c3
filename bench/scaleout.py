"""Fan-out on one process, on one node with the Redis broker, and on
`--workers N` (with the broker), in one run.

    .venv/bin/python -m bench.scaleout [--clients 1000] [--workers 2]

Each configuration gets the same load as bench.run (one room, 4 senders): a
steady 20 messages/s (latency), then full speed (deliveries/s and CPU per
delivery). Server CPU sums the chatroom processes; Redis's CPU is reported
apart. A redis-server is started on a free loopback port and stopped after.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.run import (
    ALL_WORKERS_LISTENING,
    LISTENING,
    Row,
    bench_environment,
    measure,
    print_markdown,
)
from tests.redis import RedisServer

ROWS: list[Row] = [
    ("steady: p50 latency ms", "steady", "p50_ms", "{:.1f}"),
    ("steady: p99 latency ms", "steady", "p99_ms", "{:.1f}"),
    ("steady: server CPU %", "steady", "server_cpu_percent", "{:.1f}"),
    ("full speed: deliveries/s", "full", "deliveries_per_s", "{:,.0f}"),
    ("full speed: server CPU us/delivery", "full", "server_cpu_us_per_delivery", "{:.3f}"),
    ("full speed: Redis CPU us/delivery", "full", "broker_cpu_us_per_delivery", "{:.3f}"),
    ("full speed: server CPU %", "full", "server_cpu_percent", "{:.0f}"),
    ("clients closed", None, "closed_clients", "{}"),
    ("messages out of order", None, "out_of_order", "{}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()

    env = bench_environment()
    redis = RedisServer.create()
    assert redis.process is not None
    broker = ["--broker", redis.url]
    configurations = {
        "1 process": [],
        "1 node + Redis": broker,
        f"--workers {args.workers}": [*broker, "--workers", str(args.workers)],
    }
    loadgen_args = [
        f"--clients={args.clients}",
        f"--rate={args.rate}",
        f"--seconds={args.seconds}",
        "--phases=steady,full",
        f"--broker-pid={redis.process.pid}",
    ]
    results: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for number, (name, server_args) in enumerate(configurations.items()):
                print(f"measuring {name} ...", file=sys.stderr, flush=True)
                listening = ALL_WORKERS_LISTENING if "--workers" in server_args else LISTENING
                phases = measure(
                    "chatroom", env, Path(tmp) / str(number), loadgen_args, server_args, listening
                )
                results[name] = {p["phase"]: p for p in phases}
    finally:
        redis.destroy()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(f"{args.clients} clients in one room, 4 senders\n")
    print_markdown(results, ROWS)


if __name__ == "__main__":
    main()
