"""A socket refused at a connection cap is told so with a 503 that its
client reads, however it writes its request (issue 28)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.blackbox import hello, start_server, stop_server
from tests.rawws import answer_to, upgrade_request


def test_a_slow_writer_over_the_cap_reads_its_503(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--max-connections-per-address", "1")
    try:
        held = hello(server, "ann")
        request = upgrade_request(f"127.0.0.1:{server.port}")
        # Still writing its request when the server has decided to refuse it.
        answer = answer_to("127.0.0.1", server.port, request, chunk=16, pause=0.02)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 "), answer
        assert b"connection: close" in head.lower()
        assert json.loads(body)["error"]["code"] == "unavailable"
        # A client that sends nothing is answered after a bounded wait.
        assert answer_to("127.0.0.1", server.port, b"").startswith(b"HTTP/1.1 503 ")
        held.close()
    finally:
        assert stop_server(server) == 0
