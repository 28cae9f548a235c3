"""--trusted-proxy: behind a reverse proxy, the client's address counts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection

from tests.blackbox import RunningServer, connect_ws, receive, send, start_server, stop_server
from tests.rawws import answer_to, upgrade_request


def hello_from(server: RunningServer, user: str, forwarded_for: str) -> ClientConnection:
    ws = connect_ws(server, additional_headers={"X-Forwarded-For": forwarded_for})
    send(ws, type="hello", token=server.token(user))
    assert receive(ws)["type"] == "welcome"
    return ws


def test_a_trusted_proxys_clients_are_counted_and_logged_apart(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "data",
        "--trusted-proxy", "127.0.0.0/8",
        "--max-connections-per-address", "1",
        "--log-format", "json",
        "--log-level", "debug",
    )  # fmt: skip
    try:
        first = hello_from(server, "ann", "198.51.100.1")
        second = hello_from(server, "ben", "10.9.8.7, 198.51.100.2")
        with pytest.raises(InvalidStatus) as refused:
            connect_ws(server, additional_headers={"X-Forwarded-For": "198.51.100.1"})
        assert refused.value.response.status_code == 503
        first.close()
        second.close()
        time.sleep(0.5)
    finally:
        assert stop_server(server) == 0
    lines = [json.loads(line) for line in server.log if line.strip()]
    ended = [line for line in lines if line["message"].endswith(" ended")]
    assert sorted(line["client"] for line in ended) == ["198.51.100.1", "198.51.100.2"]


def test_without_trust_the_headers_are_ignored(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--max-connections-per-address", "1")
    try:
        first = hello_from(server, "ann", "198.51.100.1")
        request = upgrade_request(f"127.0.0.1:{server.port}", {"X-Forwarded-For": "198.51.100.2"})
        answer = answer_to("127.0.0.1", server.port, request)
        # Refused, whichever way the refusal arrives (a reset included).
        assert answer == b"reset" or answer.startswith(b"HTTP/1.1 503 "), answer
        first.close()
    finally:
        assert stop_server(server) == 0
