"""Persisted fan-out: group commit against one commit per message, on SQLite
and on PostgreSQL (a real server, fsync on).

    .venv/bin/python -m bench.storage [--clients 100] [--seconds 10]

For each database and commit mode, chatroom serves --clients members of one
room, 4 of them sending. Full speed gives messages/s committed and fanned
out; a steady --rate gives the send-to-delivery latency.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bench.run import bench_environment, measure
from tests.postgres import PostgresServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="steady messages/s")
    args = parser.parse_args()

    env = bench_environment()
    postgres = PostgresServer.create(durable=True)
    results: list[tuple[str, str, dict[str, Any]]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for database in ("sqlite", "postgresql"):
                for mode in ("--group-commit", "--no-group-commit"):
                    if database == "sqlite":
                        url = f"sqlite:///{Path(tmp) / f'{mode}.db'}"
                    else:
                        url = postgres.new_database()
                    phases = measure(
                        "chatroom",
                        env,
                        Path(tmp) / "data",
                        [
                            "--clients", str(args.clients),
                            "--rate", str(args.rate),
                            "--seconds", str(args.seconds),
                            "--phases", "steady,full",
                        ],
                        ["--database", url, mode],
                    )  # fmt: skip
                    by_phase = {p["phase"]: p for p in phases}
                    results.append((database, mode.removeprefix("--"), by_phase))
    finally:
        postgres.destroy()

    print(f"{args.clients} members in one room, 4 senders; steady {args.rate:g} messages/s\n")
    print(
        "| database   | commits          | full speed msg/s | deliveries/s | "
        "steady p50 ms | steady p99 ms | closed | out of order |"
    )
    print(
        "|------------|------------------|------------------|--------------|"
        "---------------|---------------|--------|-------------|"
    )
    for database, mode, phase in results:
        steady, full = phase["steady"], phase["full"]
        print(
            f"| {database:10} | {mode:16} | {full['messages_per_s']:16,.0f} "
            f"| {full['deliveries_per_s']:12,.0f} | {steady['p50_ms']:13.1f} "
            f"| {steady['p99_ms']:13.1f} "
            f"| {steady['closed_clients'] + full['closed_clients']:6} "
            f"| {steady['out_of_order'] + full['out_of_order']:11} |"
        )  # fmt: skip


if __name__ == "__main__":
    main()
