"""Black-box: the findings of the second adversarial review (issue 11), each
against `python -m chatroom` as an attacker would meet it."""

from __future__ import annotations

import socket

from tests.blackbox import RunningServer, hello, receive, send


def test_numbers_json_cannot_say_are_refused_not_echoed(server: RunningServer) -> None:
    ws = hello(server, "mallory")
    ws.send('{"type":"ping","ref":1e999}')
    error = receive(ws)
    assert (error["type"], error["code"], error.get("ref")) == ("error", "bad_request", None)
    send(ws, type="ping", ref=1.5)
    assert receive(ws) == {"type": "pong", "ref": 1.5}


def test_huge_numbers_in_a_query_get_400(server: RunningServer) -> None:
    token = server.token("mallory")
    for query in ("limit=" + "9" * 5000, "before=" + "1" * 5000, "before=" + "0" * 30 + "7"):
        status, body, _ = server.http("GET", f"/api/rooms/r/messages?{query}", token)
        expected = 200 if query.endswith("7") else 400
        assert status == expected, (query[:20], body)
    assert not any("Traceback" in line for line in server.log)


def test_a_body_framed_two_ways_closes_the_connection(server: RunningServer) -> None:
    smuggled = (
        b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(smuggled)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in received.lower()
    assert received.count(b"HTTP/1.1 ") == 1  # the pipelined request was not answered
