"""Running `python -m chatroom` as a user would, for black-box tests."""

from __future__ import annotations

import http.client
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import attrs
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

TIMEOUT = 10
ROOT = Path(__file__).resolve().parent.parent


@attrs.define
class Endpoint:
    """A chatroom server listening on a loopback port."""

    port: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def http(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        payload = None if body is None else json.dumps(body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, json.loads(data) if data else None, dict(response.getheaders())


@attrs.define
class RunningServer(Endpoint):
    """`python -m chatroom` in a subprocess of the tests."""

    process: subprocess.Popen[str]
    data_dir: Path
    log: list[str]

    def token(self, user: str, *extra: str) -> str:
        return mint_token(self.data_dir, user, *extra)


def mint_token(data_dir: Path, user: str, *extra: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "chatroom", "token", user, "--data-dir", str(data_dir), *extra],
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    return result.stdout.strip()


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CHATROOM_")}


def run_chatroom(
    *args: str, stdin: str = "", check: bool = False
) -> subprocess.CompletedProcess[str]:
    """`python -m chatroom ARGS` (a command, not the server), run to its end."""
    return subprocess.run(
        [sys.executable, "-m", "chatroom", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=check,
    )


LISTENING = r"listening on http://127\.0\.0\.1:(\d+)"


def start_server(
    data_dir: Path,
    *args: str,
    port: int = 0,
    max_open_files: int | None = None,
    listening: str = LISTENING,
) -> RunningServer:
    """Start the server and return once it listens (once a line of its log
    matches `listening`, which captures the port); its log is collected."""

    def limit_files() -> None:
        if max_open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_open_files, max_open_files))

    process = subprocess.Popen(
        [sys.executable, "-m", "chatroom", "--port", str(port), "--data-dir", str(data_dir), *args],
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        preexec_fn=limit_files,
    )
    assert process.stderr is not None
    log: list[str] = []
    for line in process.stderr:
        log.append(line)
        if match := re.search(listening, line):
            # Keep reading, so the server never blocks on a full pipe.
            threading.Thread(target=log.extend, args=(process.stderr,), daemon=True).start()
            return RunningServer(int(match[1]), process, data_dir, log)
    process.wait(TIMEOUT)
    raise AssertionError(f"server exited with {process.returncode}: {''.join(log)}")


def stop_server(server: RunningServer, sig: signal.Signals = signal.SIGTERM) -> int:
    if server.process.poll() is None:
        server.process.send_signal(sig)
    try:
        return server.process.wait(TIMEOUT)
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def connect_ws(server: Endpoint, **options: Any) -> ClientConnection:
    return connect(server.ws_url, open_timeout=TIMEOUT, legacy=True, **options)


def hello(server: Endpoint, user: str, token: str | None = None) -> ClientConnection:
    """Connect and authenticate; without `token`, one minted for the server."""
    ws = connect_ws(server)
    if token is None:
        assert isinstance(server, RunningServer)
        token = server.token(user)
    send(ws, type="hello", token=token)
    welcome = receive(ws)
    assert welcome["type"] == "welcome"
    assert welcome["user"] == user
    return ws


def send(ws: ClientConnection, **frame: Any) -> None:
    ws.send(json.dumps(frame))


def receive(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=TIMEOUT))
    return frame


def receive_until(ws: ClientConnection, frame_type: str) -> dict[str, Any]:
    """Skip frames (presence, ...) up to the next of `frame_type`."""
    while (frame := receive(ws))["type"] != frame_type:
        pass
    return frame


def close_code(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as info:
        while True:
            ws.recv(timeout=TIMEOUT)
    assert info.value.rcvd is not None
    return info.value.rcvd.code


def error_code(ws: ClientConnection, **frame: Any) -> str:
    """Send `frame` and return the code of the error it gets."""
    send(ws, ref="refused?", **frame)
    error = receive_until(ws, "error")
    assert error["ref"] == "refused?"
    code: str = error["code"]
    return code


def said(ws: ClientConnection, room: str, text: str) -> int:
    """Send `text` to `room` and return the id it was given."""
    send(ws, type="send", room=room, text=text)
    while (frame := receive_until(ws, "message"))["text"] != text:
        pass
    message_id: int = frame["id"]
    return message_id
