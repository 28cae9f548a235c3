"""Soak: many authenticated, joined connections under light traffic for
minutes; nothing may grow without bound.

    .venv/bin/python -m bench.soak [--clients 19500] [--minutes 3] [--rate 200]

Clients join rooms of 100; one member per room sends, --rate messages a
second in all. Reports connections held, server memory per connection, p50
and p99 delivery latency, and the server's descriptors and memory before,
while connected (sampled every 30 s) and after everyone has left. Each
process here may hold at most 20,000 descriptors (the hard limit), so the
default stays just under it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

from bench.loadgen import server_fds, server_rss_kib
from bench.run import BENCH, bench_environment, raise_file_limit, start, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=19_500)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()

    env = bench_environment()
    with tempfile.TemporaryDirectory() as tmp:
        # One address holds every connection here; rate limits stay as shipped.
        limits = [
            "--max-connections-per-address", "100000",
            "--max-unauthenticated", "100000",
            "--max-unauthenticated-per-address", "100000",
        ]  # fmt: skip
        command = [sys.executable, "-m", "chatroom", "--port", "0", "--data-dir", tmp, *limits]
        process, port = start(command, env)
        try:
            before = {"rss_kib": server_rss_kib([process.pid]), "fds": server_fds([process.pid])}
            result = subprocess.run(
                [
                    sys.executable, str(BENCH / "loadgen.py"), "--port", str(port),
                    "--pid", str(process.pid), "--clients", str(args.clients),
                    "--rooms", str(max(1, args.clients // 100)), "--senders", "0",
                    "--rate", str(args.rate), "--seconds", str(args.minutes * 60),
                    "--phases", "soak",
                ],
                env=env, capture_output=True, text=True, timeout=3600,
                preexec_fn=raise_file_limit,
            )  # fmt: skip
            if result.returncode != 0:
                raise RuntimeError(result.stderr)
            soak = json.loads(result.stdout.splitlines()[-1])
            time.sleep(5)  # the server notices every client is gone
            after = {"rss_kib": server_rss_kib([process.pid]), "fds": server_fds([process.pid])}
        finally:
            stop(process)
    soak["server_before"], soak["server_after_all_left"] = before, after
    print(json.dumps(soak, indent=2))


if __name__ == "__main__":
    main()
