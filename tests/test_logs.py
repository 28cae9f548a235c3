"""Log lines: text for people, JSON for pipelines; never a secret in either."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from chatroom.logs import JsonFormatter
from tests.blackbox import connect_ws, hello, receive, send, start_server, stop_server

PASSWORD = "correct horse battery staple"


def test_a_json_line_has_the_event_fields_and_the_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("chatroom.x", logging.ERROR, __file__, 1, "a %s", ("b",), exc_info)
    record.__dict__.update(
        session="s1", user="alice", room="lobby", client="127.0.0.1", close_code=1011
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["time"].endswith("Z") and line["time"][:4].isdigit()
    assert (line["level"], line["logger"], line["message"]) == ("ERROR", "chatroom.x", "a b")
    assert (line["session"], line["user"], line["room"]) == ("s1", "alice", "lobby")
    assert (line["client"], line["close_code"]) == ("127.0.0.1", 1011)
    assert "RuntimeError: boom" in line["exception"]


def test_a_server_logging_json_writes_one_object_a_line_and_no_secret(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--log-format", "json", "--log-level", "debug")
    try:
        status, body, _ = server.http(
            "POST", "/api/register", body={"username": "alice", "password": PASSWORD}
        )
        assert status == 201
        token = body["token"]
        wrong = {"username": "alice", "password": PASSWORD + "!"}
        assert server.http("POST", "/api/login", body=wrong)[0] == 401
        ws = hello(server, "alice", token)
        ws.close()
        stranger = connect_ws(server)
        send(stranger, type="hello", token=token[:-3] + "abc")
        assert receive(stranger)["code"] == "unauthorized"
        stranger.close()
        time.sleep(0.5)  # the session lines
    finally:
        assert stop_server(server) == 0
    lines = [json.loads(line) for line in server.log if line.strip()]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any(line["message"].startswith("listening on http://") for line in lines)
    ended = [line for line in lines if line["message"].endswith(" ended")]
    assert [(line.get("user"), line["close_code"]) for line in ended] == [
        ("alice", 1000),  # hers
        (None, 4401),  # the stranger's
    ]
    assert all(line["client"].startswith("127.0.0.1") for line in ended)
    text = "".join(server.log)
    secret = (server.data_dir / "secret.key").read_text().strip()
    for never in (PASSWORD, token, token.split(".")[2], secret):
        assert never not in text
