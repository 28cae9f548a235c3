"""Run the fan-out benchmark against chatroom and the naive reference server.

    .venv/bin/python -m bench.run [--clients 1000] [--idle-clients 5000]

Each server runs in its own process, the load generator in another; the
table compares them on one room with --clients members and 4 senders:
a steady 20 messages/s (server CPU, delivery latency), full speed
(deliveries/s, server CPU per delivery), and idle memory per joined client.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def raise_file_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


LISTENING = r"listening on http://127\.0\.0\.1:(\d+)"
# A --workers supervisor's own line, once every worker listens.
ALL_WORKERS_LISTENING = r" chatroom: listening on http://127\.0\.0\.1:(\d+)"


def start(
    command: list[str], env: dict[str, str], listening: str = LISTENING, cwd: Path | None = None
) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=raise_file_limit, cwd=cwd
    )
    assert process.stderr is not None
    for line in process.stderr:
        if match := re.search(listening, line):
            # Keep draining stderr so the server never blocks on a full pipe.
            subprocess.Popen(["cat"], stdin=process.stderr, stdout=subprocess.DEVNULL)
            return process, int(match[1])
    raise RuntimeError(f"{command} exited before listening")


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# The load generator is one address sending as fast as the server takes it:
# the per-address and per-connection abuse limits would measure themselves.
BENCH_LIMITS = [
    "--max-connections-per-address", "100000",
    "--max-unauthenticated", "100000",
    "--max-unauthenticated-per-address", "100000",
    "--send-rate", "1000000",
    "--frame-rate", "1000000",
    "--storage-rate", "1000000000",
    "--history-rate", "1000000000",
    "--room-create-rate", "1000000",
]  # fmt: skip


def bench_environment() -> dict[str, str]:
    """A shared secret for servers and load generator; the project importable."""
    return {**os.environ, "CHATROOM_SECRET": secrets.token_urlsafe(32), "PYTHONPATH": str(ROOT)}


def worker_pids(pid: int) -> list[int]:
    """The process and its children (a --workers supervisor's workers, which
    any of its threads may have started)."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    children = [int(c) for task in tasks for c in (task / "children").read_text().split()]
    return [pid, *children]


def measure(
    server: str,
    env: dict[str, str],
    data_dir: Path,
    loadgen_args: list[str],
    server_args: list[str] | None = None,
    listening: str = LISTENING,
) -> list[dict[str, Any]]:
    """Start `server` ("chatroom" or "naive"), run the load generator, stop it."""
    if server == "chatroom":
        command = [sys.executable, "-m", "chatroom", "--port", "0", "--data-dir", str(data_dir)]
        command += [*BENCH_LIMITS, *(server_args or [])]
    else:
        command = [sys.executable, str(BENCH / "naive_server.py"), str(free_port())]
    process, port = start(command, env, listening)
    try:
        result = subprocess.run(
            [
                sys.executable,
                str(BENCH / "loadgen.py"),
                "--port",
                str(port),
                *(f"--pid={pid}" for pid in worker_pids(process.pid)),
                *loadgen_args,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(f"load generator failed against {server}:\n{result.stderr}")
        return [json.loads(line) for line in result.stdout.splitlines()]
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--idle-clients", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--servers", default="naive,chatroom")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()

    env = bench_environment()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for server in args.servers.split(","):
            print(f"measuring {server} ...", file=sys.stderr, flush=True)
            phases = measure(
                server,
                env,
                Path(tmp) / server,
                [
                    "--clients",
                    str(args.clients),
                    "--rate",
                    str(args.rate),
                    "--seconds",
                    str(args.seconds),
                    "--phases",
                    "steady,full",
                ],
            )
            phases += measure(
                server,
                env,
                Path(tmp) / server,
                # Spread over rooms of 100: joining is O(members) per join, and
                # one 5,000-member room would spend minutes on presence alone.
                [
                    "--clients",
                    str(args.idle_clients),
                    "--rooms",
                    str(max(1, args.idle_clients // 100)),
                    "--phases",
                    "idle",
                ],
            )
            results[server] = {p["phase"]: p for p in phases}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print_table(results, args)


def print_table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    rows = [
        (f"steady {args.rate:g} msg/s: server CPU %", "steady", "server_cpu_percent", "{:.1f}"),
        ("steady: p50 latency ms", "steady", "p50_ms", "{:.1f}"),
        ("steady: p99 latency ms", "steady", "p99_ms", "{:.1f}"),
        ("steady: deliveries", "steady", "deliveries", "{:,}"),
        ("full speed: deliveries/s", "full", "deliveries_per_s", "{:,.0f}"),
        ("full speed: server CPU us/delivery", "full", "server_cpu_us_per_delivery", "{:.2f}"),
        ("full speed: server CPU %", "full", "server_cpu_percent", "{:.0f}"),
        (
            f"idle, {args.idle_clients} joined clients: KiB/client",
            "idle",
            "kib_per_client",
            "{:.1f}",
        ),
        ("clients closed (all phases)", None, "closed_clients", "{}"),
        ("messages out of order", None, "out_of_order", "{}"),
    ]
    print(f"{args.clients} clients in one room, 4 senders\n")
    print_markdown(results, rows)


Row = tuple[str, str | None, str, str]  # label, phase (None: summed over all), key, format


def print_markdown(results: dict[str, dict[str, Any]], rows: list[Row]) -> None:
    """One column per server (or configuration), one row per measure."""
    servers = list(results)
    print(f"| {'measure':40} | " + " | ".join(f"{s:>15}" for s in servers) + " |")
    print(f"|{'-' * 42}|" + "|".join("-" * 17 for _ in servers) + "|")
    for label, phase, key, fmt in rows:
        cells = []
        for server in servers:
            if phase is None:
                value = sum(p.get(key, 0) for p in results[server].values())
            else:
                value = results[server][phase][key]
            cells.append(fmt.format(value))
        print(f"| {label:40} | " + " | ".join(f"{c:>15}" for c in cells) + " |")


if __name__ == "__main__":
    main()
