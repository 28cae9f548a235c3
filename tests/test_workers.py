"""`--workers N`: one supervisor, N `python -m chatroom` workers on one port.

Real processes and a real redis-server; which worker answered is told by
the pid in /healthz; messages cross workers through the broker."""

from __future__ import annotations

import functools
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from chatroom.supervisor import RestartPolicy, Supervisor
from tests.blackbox import (
    TIMEOUT,
    RunningServer,
    clean_env,
    close_code,
    hello,
    receive_until,
    send,
    start_server,
    stop_server,
)
from tests.certificates import make_certificate, served_certificate
from tests.redis import RedisServer

# The supervisor's own line (logger `chatroom`), after every worker listens.
ALL_LISTENING = r" chatroom: listening on http://127\.0\.0\.1:(\d+)"
ATTEMPTS = 60  # fresh connections to find every worker; each lands on either


@pytest.fixture
def workers(tmp_path: Path, redis: RedisServer) -> Iterator[RunningServer]:
    """A supervisor with 2 workers, both listening."""
    server = start_server(
        tmp_path / "data", "--workers", "2", "--broker", redis.url, listening=ALL_LISTENING
    )
    yield server
    stop_server(server)


def answer(server: RunningServer, *paths: str) -> list[str]:
    """GET each path on one connection (so from one worker): the bodies."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        bodies = []
        for path in paths:
            conn.request("GET", path)
            response = conn.getresponse()
            assert response.status == 200
            bodies.append(response.read().decode())
        return bodies
    finally:
        conn.close()


def worker_pids(server: RunningServer, count: int = 2) -> set[int]:
    """The pids that answer /healthz, once `count` distinct ones have."""
    pids: set[int] = set()
    for _ in range(ATTEMPTS):
        [health] = answer(server, "/healthz")
        pids.add(json.loads(health)["pid"])
        if len(pids) == count:
            return pids
    raise AssertionError(f"only {pids} answered in {ATTEMPTS} connections")


def sessions_by_worker(server: RunningServer) -> dict[int, int]:
    """Each worker's open WebSocket sessions, from its /metrics."""
    sessions: dict[int, int] = {}
    for _ in range(ATTEMPTS):
        health, metrics = answer(server, "/healthz", "/metrics")
        match = re.search(r"^chatroom_websocket_connections (\d+)", metrics, re.MULTILINE)
        assert match is not None
        sessions[json.loads(health)["pid"]] = int(match[1])
        if len(sessions) == 2:
            return sessions
    raise AssertionError(f"only {sessions} answered in {ATTEMPTS} connections")


def parent_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^PPid:\s+(\d+)", status, re.MULTILINE)
    assert match is not None
    return int(match[1])


def is_gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody has reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def eventually(check: Callable[[], bool], what: str, timeout: float = 2 * TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def test_both_workers_answer_on_one_port(workers: RunningServer) -> None:
    pids = worker_pids(workers)
    assert {parent_of(pid) for pid in pids} == {workers.process.pid}


def test_a_killed_worker_is_restarted_and_the_other_keeps_serving(
    workers: RunningServer,
) -> None:
    killed, survivor = worker_pids(workers)
    os.kill(killed, signal.SIGKILL)
    eventually(lambda: is_gone(killed), f"worker {killed} gone")
    new: set[int] = set()

    resets = 0

    def restarted() -> bool:
        # Requests in the meantime are answered, by the survivor at least.
        # Linux may reset a connection while the group of SO_REUSEPORT
        # listeners changes (about one run in ten here): one is allowed.
        nonlocal resets
        try:
            [health] = answer(workers, "/healthz")
        except ConnectionResetError:
            resets += 1
            assert resets == 1
            return False
        new.add(json.loads(health)["pid"])
        return bool(new - {killed, survivor})

    eventually(restarted, "a new worker answering")
    [replacement] = new - {killed, survivor}
    assert worker_pids(workers) == {survivor, replacement}
    assert parent_of(replacement) == workers.process.pid
    assert any(f"(pid {killed}) was killed by SIGKILL; restarting" in line for line in workers.log)


def test_sigterm_closes_every_client_on_every_worker_with_1001(workers: RunningServer) -> None:
    clients = [hello(workers, f"user{i}") for i in range(12)]
    sessions = sessions_by_worker(workers)
    assert sum(sessions.values()) == len(clients)
    if 0 in sessions.values():  # 1 chance in 2**11; spread them before testing
        clients += [hello(workers, f"more{i}") for i in range(12)]
        sessions = sessions_by_worker(workers)
    assert all(sessions.values()), sessions
    assert stop_server(workers) == 0
    assert [close_code(ws) for ws in clients] == [1001] * len(clients)


def test_workers_are_one_chat(workers: RunningServer) -> None:
    clients = [hello(workers, f"user{i}") for i in range(12)]
    assert all(sessions_by_worker(workers).values())  # (1 chance in 2**11 to fail)
    for ws in clients:
        send(ws, type="join", room="shared")
        receive_until(ws, "joined")
    send(clients[0], type="send", room="shared", text="to every worker")
    for ws in clients:
        message = receive_until(ws, "message")
        assert (message["id"], message["text"]) == (1, "to every worker")
    send(clients[0], type="members", room="shared")
    listed = receive_until(clients[0], "members")["members"]
    assert sorted(m["user"] for m in listed) == sorted(f"user{i}" for i in range(12))


def test_workers_stop_when_the_supervisor_is_killed(workers: RunningServer) -> None:
    pids = worker_pids(workers)
    workers.process.kill()
    workers.process.wait(TIMEOUT)
    for pid in pids:
        eventually(functools.partial(is_gone, pid), f"worker {pid} gone")
    assert sum("the supervisor is gone: shutting down" in line for line in workers.log) == 2


def run_chatroom(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    data_dir = tmp_path / "data"
    return subprocess.run(
        [sys.executable, "-m", "chatroom", "--port", "0", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=2 * TIMEOUT,
    )


def test_several_workers_without_a_broker_are_refused(tmp_path: Path) -> None:
    result = run_chatroom(tmp_path, "--workers", "2")
    assert result.returncode == 2
    assert "--workers 2 needs --broker" in result.stderr
    assert "redis-server" in result.stderr
    assert "--broker redis://127.0.0.1:6379/0" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before touching anything


def test_a_database_that_cannot_open_stops_the_supervisor_before_any_worker(
    tmp_path: Path,
) -> None:
    (tmp_path / "a-file").write_text("")
    url = f"sqlite:///{tmp_path / 'a-file' / 'chat.db'}"
    # The broker is not contacted before the workers start.
    result = run_chatroom(
        tmp_path, "--workers", "2", "--broker", "redis://127.0.0.1:9/0", "--database", url
    )
    assert result.returncode == 2
    assert "cannot open database" in result.stderr
    assert "worker 1 started" not in result.stderr


def fake_worker(code: str) -> list[str]:
    """A worker command running `code`; sys.argv[-1] is its --supervisor-fd."""
    return [sys.executable, "-c", f"import os, sys\nfd = int(sys.argv[-1])\n{code}"]


async def test_workers_that_keep_crashing_at_start_make_the_supervisor_give_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(fake_worker("raise SystemExit(3)"), 2, RestartPolicy(first_delay=0.01))
    with trio.fail_after(2 * TIMEOUT):
        assert await supervisor.run() == 1
    assert "exited 5 times in a row before it listened (last: exited with code 3)" in caplog.text
    assert caplog.text.count("exited with code 3; restarting in") == 2 * 4


async def test_a_worker_that_listened_is_restarted_without_counting_as_a_crash_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    died_after_listening = fake_worker("os.write(fd, b'listening\\n')\nraise SystemExit(4)")
    policy = RestartPolicy(first_delay=0.01, max_delay=0.01, max_start_failures=2)
    supervisor = Supervisor(died_after_listening, 1, policy)
    with trio.move_on_after(3) as waited:
        await supervisor.run()
    assert waited.cancelled_caught  # still restarting, not given up
    assert caplog.text.count("exited with code 4; restarting in 0.0 s") >= 3


def test_sighup_reaches_every_worker_with_tls(tmp_path: Path, redis: RedisServer) -> None:
    """A renewed certificate: SIGHUP to the supervisor, and every worker
    serves it to new connections."""
    cert, key = make_certificate(tmp_path, "first")
    server = start_server(
        tmp_path / "data", "--workers", "2", "--broker", redis.url,
        "--tls-cert", str(cert), "--tls-key", str(key),
        listening=ALL_LISTENING.replace("http", "https"),
    )  # fmt: skip
    try:
        first = served_certificate(server)
        renewed_cert, renewed_key = make_certificate(tmp_path, "renewed")
        cert.write_bytes(renewed_cert.read_bytes())
        key.write_bytes(renewed_key.read_bytes())
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while any(served_certificate(server) == first for _ in range(ATTEMPTS)):
            assert time.monotonic() < deadline, "a worker still serves the old certificate"
            time.sleep(0.2)
    finally:
        assert stop_server(server) == 0
