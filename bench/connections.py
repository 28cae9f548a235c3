"""What a connection costs, against the peers, in one run: churn (churn.py),
then connects/s, idle memory and the reconnect storm (storm.py), one server
after the other, each with every cap lifted.

    python -m bench.connections [--clients 10000] [--servers websockets,naive,chatroom]

Prints each server's figures as a JSON line, then a Markdown table. About
two minutes per server with 10,000 clients.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.churn import churn
from bench.storm import storm

ROWS = [
    ("churn: cycles/s", "cycles_per_s"),
    ("churn: server CPU ms per cycle", "server_cpu_ms_per_cycle"),
    ("churn: failed cycles", "failed_cycles"),
    ("connects/s (connect, hello, join; 200 at a time)", "connects_per_s"),
    ("idle: server KiB per joined client", "idle_kib_per_client"),
    ("storm: seconds until every client has joined", "storm_seconds"),
    ("storm: failed connects (tried again)", "failed_connects"),
    ("storm: watcher p50 ms", "watcher_p50_ms"),
    ("storm: watcher p99 ms", "watcher_p99_ms"),
    ("storm: messages the watcher lost", "watcher_lost"),
    ("storm: ids after `since` never received", "catch_up_lost"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", default="websockets,naive,chatroom")
    parser.add_argument("--loops", type=int, default=20, help="churn clients")
    parser.add_argument("--duration", type=float, default=10.0, help="churn seconds")
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="messages/s to room 0")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    for server in args.servers.split(","):
        result = churn(server, args.loops, args.duration) | storm(server, args)
        print(json.dumps(result), flush=True)
        results.append(result)
    print_table(results)


def print_table(results: list[dict[str, Any]]) -> None:
    print()
    print("| per connection | " + " | ".join(r["server"] for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for label, key in ROWS:
        cells = ["n/a" if r.get(key) is None else f"{r[key]:,}" for r in results]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
