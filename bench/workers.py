"""How `--workers N` scales: one process, then 2, 4, 8 workers, on SQLite
and on PostgreSQL, driven by several load generator processes at once.

    .venv/bin/python -m bench.workers [--workers 2,4,8] [--databases sqlite,postgresql]
        [--loadgens 4] [--clients 1000] [--shared-room] [--server-cores 8]

Each load generator drives its own room (or, with --shared-room, all drive
one) with 4 senders: a steady --rate messages/s (latency), then full speed
(deliveries/s). They connect first and start together (--start-at), so that
their windows line up; deliveries/s is their sum. Server CPU (the
supervisor and its workers), Redis's and PostgreSQL's are read here from
/proc over the load generators' common full-speed window. Where `taskset`
exists and the machine has the cores, the server runs on the first
--server-cores cores and everything else (load generators, Redis,
PostgreSQL) on the rest. A redis-server and, for PostgreSQL, a database
server are started on free loopback ports and stopped after.

A configuration whose load generator failed, or that closed a client or
delivered out of order, says so in the table: its figures compare nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.run import ALL_WORKERS_LISTENING, BENCH, BENCH_LIMITS, LISTENING, bench_environment
from bench.run import start as start_process
from bench.run import stop as stop_process
from tests.postgres import PostgresServer
from tests.redis import RedisServer

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CONNECT_ALLOWANCE = 5.0  # seconds per 1,000 clients for the load generators to connect


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # (gone)
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    """`pid` and every process under it, by parent pid (gVisor has no
    /proc/PID/task/*/children)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


class CpuSampler:
    """Samples the CPU seconds of some process groups, in a thread, until stopped."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]], interval: float = 0.2) -> None:
        self.groups = groups
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            cpu = {group: cpu_seconds(pids()) for group, pids in self.groups.items()}
            self.samples.append((now, cpu))
            self._stop.wait(self._interval)

    def percent(self, group: str, start: float, end: float) -> float:
        """Its CPU over [start, end], as a percentage of one core."""
        return 100 * (self._at(group, end) - self._at(group, start)) / (end - start)

    def _at(self, group: str, when: float) -> float:
        before = [s for s in self.samples if s[0] <= when] or self.samples[:1]
        after = [s for s in self.samples if s[0] >= when] or self.samples[-1:]
        (t0, c0), (t1, c1) = before[-1], after[0]
        if t1 == t0:
            return c0[group]
        return c0[group] + (c1[group] - c0[group]) * (when - t0) / (t1 - t0)


def pinned(command: list[str], cores: str | None) -> list[str]:
    return ["taskset", "-c", cores, *command] if cores else command


def cores_for(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """The server's cores, and one core for each other process, round robin;
    no pinning without taskset or on a machine with too few cores."""
    count = os.cpu_count() or 1
    if shutil.which("taskset") is None or count < 2 * args.server_cores:
        return None, []
    others = [str(core) for core in range(args.server_cores, count)]
    return f"0-{args.server_cores - 1}", others


def configurations(args: argparse.Namespace) -> list[tuple[str, str, int, bool]]:
    """(label, database, processes, broker) for each column."""
    found = []
    for database in args.databases.split(","):
        short = "pg" if database == "postgresql" else database
        found.append((f"1 process, {short}", database, 1, False))
        if args.with_redis_baseline:
            found.append((f"1 + Redis, {short}", database, 1, True))
        for workers in (int(w) for w in args.workers.split(",")):
            found.append((f"--workers {workers}, {short}", database, workers, True))
    return found


def run_configuration(
    args: argparse.Namespace,
    env: dict[str, str],
    redis: RedisServer,
    database_url: str | None,
    processes: int,
    broker: bool,
    data_dir: Path,
    database_pid: int | None,
) -> dict[str, Any]:
    server_cores, other_cores = cores_for(args)
    command = [sys.executable, "-m", "chatroom", "--port", "0", "--data-dir", str(data_dir)]
    command += [*BENCH_LIMITS, "--max-connections-per-user", "100000"]
    if database_url is not None:
        command += ["--database", database_url]
    if broker:
        command += ["--broker", redis.url]
    listening = LISTENING
    if processes > 1:
        command += ["--workers", str(processes)]
        listening = ALL_WORKERS_LISTENING
    server, port = start_process(pinned(command, server_cores), env, listening)
    try:
        assert redis.process is not None
        redis_pid = redis.process.pid
        groups: dict[str, Callable[[], list[int]]] = {
            # (read anew each time: a restarted worker, a new database backend)
            "server": lambda: descendants(server.pid),
            "redis": lambda: [redis_pid],
            "database": lambda: descendants(database_pid) if database_pid else [],
        }
        start_at = time.time() + CONNECT_ALLOWANCE * max(1, args.clients / 1000)
        loadgens = []
        for index in range(args.loadgens):
            room = "shared" if args.shared_room else f"room{index}-"
            loadgen = [
                sys.executable, str(BENCH / "loadgen.py"), "--port", str(port),
                f"--pid={server.pid}", "--clients", str(args.clients), "--room", room,
                "--rate", str(args.rate / args.loadgens), "--seconds", str(args.seconds),
                "--phases", "steady,full", "--start-at", str(start_at),
                "--source", f"127.0.0.{2 + index}",
            ]  # fmt: skip
            core = other_cores[index % len(other_cores)] if other_cores else None
            loadgens.append(
                subprocess.Popen(pinned(loadgen, core), env=env, stdout=subprocess.PIPE, text=True)
            )
        with CpuSampler(groups) as sampler:
            outputs = [p.communicate(timeout=600)[0] for p in loadgens]
        failed = sum(p.returncode != 0 for p in loadgens)
        phases = [json.loads(line) for out in outputs for line in out.splitlines()]
        return summarize(phases, sampler, failed)
    finally:
        stop_process(server)


def summarize(phases: list[dict[str, Any]], sampler: CpuSampler, failed: int) -> dict[str, Any]:
    steady = [p for p in phases if p["phase"] == "steady"]
    full = [p for p in phases if p["phase"] == "full"]
    if failed or not full:
        return {"failed": failed or 1}
    start = max(p["measured"][0] for p in full)
    end = min(p["measured"][1] for p in full)
    deliveries = sum(p["deliveries_per_s"] for p in full)
    server = sampler.percent("server", start, end)
    return {
        "failed": 0,
        "deliveries_per_s": deliveries,
        "messages_per_s": sum(p["messages_per_s"] for p in full),
        "server_cpu_percent": server,
        "server_cpu_us_per_delivery": 1e4 * server / deliveries,
        "redis_cpu_percent": sampler.percent("redis", start, end),
        "database_cpu_percent": sampler.percent("database", start, end),
        "steady_p99_ms": max(p["p99_ms"] for p in steady),
        "closed_clients": sum(p["closed_clients"] for p in phases),
        "out_of_order": sum(p["out_of_order"] for p in phases),
    }


ROWS = [
    ("deliveries/s", "deliveries_per_s", "{:,.0f}"),
    ("x one process", "speedup", "{:.2f}"),
    ("server CPU %", "server_cpu_percent", "{:.0f}"),
    ("server CPU us/delivery", "server_cpu_us_per_delivery", "{:.3f}"),
    ("Redis CPU %", "redis_cpu_percent", "{:.0f}"),
    ("database CPU %", "database_cpu_percent", "{:.0f}"),
    ("steady p99 ms", "steady_p99_ms", "{:.1f}"),
    ("closed clients", "closed_clients", "{}"),
    ("out of order", "out_of_order", "{}"),
]


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """One row per configuration, one column per measure."""
    print("| configuration | " + " | ".join(label for label, _, _ in ROWS) + " |")
    print("|---|" + "---|" * len(ROWS))
    for name, result in results.items():
        if result.get("failed"):
            print(f"| {name} | load generator failed |" + " |" * (len(ROWS) - 1))
            continue
        cells = [fmt.format(result[key]) if key in result else "" for _, key, fmt in ROWS]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="2,4,8", help="worker counts to measure")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--loadgens", type=int, default=4, help="load generator processes")
    parser.add_argument("--clients", type=int, default=1000, help="per load generator")
    parser.add_argument("--shared-room", action="store_true", help="one room for all")
    parser.add_argument("--rate", type=float, default=20.0, help="steady, in all")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--server-cores", type=int, default=8)
    parser.add_argument("--with-redis-baseline", action="store_true", help="1 process + Redis")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()

    env = bench_environment()
    redis = RedisServer.create()
    results: dict[str, dict[str, Any]] = {}
    postgres: PostgresServer | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, database, processes, broker in configurations(args):
                print(f"measuring {name} ...", file=sys.stderr, flush=True)
                database_url, database_pid = None, None
                if database == "postgresql":
                    postgres = postgres or PostgresServer.create(durable=True)
                    database_url = postgres.new_database()
                    pid_file = postgres.base / "data" / "postmaster.pid"
                    database_pid = int(pid_file.read_text().split()[0])
                data_dir = Path(tmp) / name.replace(" ", "_").replace(",", "")
                results[name] = run_configuration(
                    args, env, redis, database_url, processes, broker, data_dir, database_pid
                )
    finally:
        redis.destroy()
        if postgres is not None:
            postgres.destroy()
    for database in args.databases.split(","):
        short = "pg" if database == "postgresql" else database
        base = results.get(f"1 process, {short}", {}).get("deliveries_per_s")
        for name, result in results.items():
            if name.endswith(short) and base and "deliveries_per_s" in result:
                result["speedup"] = result["deliveries_per_s"] / base
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    room = "one shared room" if args.shared_room else "a room each"
    print(f"{args.loadgens} load generators x {args.clients} clients ({room}), 4 senders each\n")
    print_table(results)


if __name__ == "__main__":
    main()
