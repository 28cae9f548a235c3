"""Black-box: `python -m chatroom` in a subprocess on a free port, driven by an
independent WebSocket client (the `websockets` package) and plain HTTP."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.blackbox import (
    ROOT,
    TIMEOUT,
    RunningServer,
    close_code,
    connect_ws,
    hello,
    mint_token,
    receive,
    receive_until,
    send,
    start_server,
)


def test_two_users_chat_with_presence_and_ordered_ids(server: RunningServer) -> None:
    alice = hello(server, "alice")
    bob = hello(server, "bob")
    send(alice, type="join", room="lobby", ref="j")
    joined = receive(alice)
    assert joined["type"] == "joined"
    assert joined["ref"] == "j"
    assert [m["user"] for m in joined["members"]] == ["alice"]
    assert joined["history"] == []
    assert receive(alice) == {"type": "presence", "room": "lobby", "event": "join", "user": "alice"}

    send(bob, type="join", room="lobby")
    assert [m["user"] for m in receive(bob)["members"]] == ["alice", "bob"]
    bob_join = {"type": "presence", "room": "lobby", "event": "join", "user": "bob"}
    assert receive(bob) == bob_join
    assert receive(alice) == bob_join

    for i in range(25):
        send(bob, type="send", room="lobby", text=f"message {i} ✓", ref=i)
    from_bob = [receive(bob) for _ in range(25)]
    send(alice, type="send", room="lobby", text="and one from alice")
    from_bob.append(receive(bob))
    from_alice = [receive(alice) for _ in range(26)]
    ids = [m["id"] for m in from_alice]
    assert ids == sorted(ids)
    assert len(set(ids)) == 26
    assert [m["id"] for m in from_bob] == ids
    assert [m["text"] for m in from_alice[:25]] == [f"message {i} ✓" for i in range(25)]
    assert [m.get("ref") for m in from_bob[:25]] == list(range(25))
    assert "ref" not in from_alice[0]
    assert from_alice[25]["user"] == "alice"

    send(alice, type="rooms")
    listing = {
        "type": "rooms",
        # Unread: alice's client never said what it read (see test_read_markers).
        "rooms": [{"room": "lobby", "count": 2, "private": False, "unread": 26}],
        "more": False,
    }
    assert receive(alice) == listing
    send(bob, type="leave", room="lobby", ref="bye")
    assert receive(bob) == {"type": "left", "room": "lobby", "ref": "bye"}
    assert receive(alice) == {"type": "presence", "room": "lobby", "event": "leave", "user": "bob"}
    alice.close()
    bob.close()


def test_http_rooms_and_members_agree_with_the_websocket_view(server: RunningServer) -> None:
    carol = hello(server, "carol")
    send(carol, type="join", room="general")
    assert [receive(carol)["type"] for _ in range(2)] == ["joined", "presence"]
    token = server.token("observer")

    assert server.http("GET", "/api/rooms")[0] == 401
    status, body, _ = server.http("GET", "/api/rooms", "not-a-token")
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert server.http("GET", "/api/rooms", token)[:2] == (
        200,
        {"rooms": [{"room": "general", "count": 1, "private": False}], "more": False},
    )
    status, body, _ = server.http("GET", "/api/rooms/general/members", token)
    assert status == 200
    send(carol, type="members", room="general")
    assert (
        receive(carol)["members"]
        == body["members"]
        == [{"user": "carol", "since": body["members"][0]["since"], "role": "owner"}]
    )
    assert server.http("GET", "/api/rooms/general/members")[0] == 401
    assert server.http("GET", "/api/rooms/empty/members", token)[0] == 404
    assert server.http("GET", "/api/rooms/bad%20name/members", token)[0] == 400
    assert server.http("POST", "/api/rooms", token)[0] == 405
    assert server.http("GET", "/nowhere")[0] == 404
    status, health, _ = server.http("GET", "/healthz")
    assert (status, health) == (200, {"status": "ok", "pid": server.process.pid})
    carol.close()


def test_metrics_count_what_happened(server: RunningServer) -> None:
    ws = hello(server, "counted")
    send(ws, type="join", room="m")
    receive_until(ws, "joined")
    for i in range(3):
        send(ws, type="send", room="m", text=f"m{i}")
        receive_until(ws, "message")
    send(ws, type="send", room="elsewhere", text="not joined")
    assert receive_until(ws, "error")["code"] == "not_member"
    ws.close()
    refused = connect(server.ws_url, open_timeout=TIMEOUT, legacy=True)
    send(refused, type="hello", token="garbage")
    assert close_code(refused) == 4401
    time.sleep(0.3)  # the sessions' ends are counted
    response, families = scrape(server)
    assert response.getheader("Content-Type", "").startswith("text/plain; version=0.0.4")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    assert samples["chatroom_websocket_connections", ()] == 0
    assert samples["chatroom_messages_committed_total", ()] == 3
    assert samples["chatroom_errors_total", (("code", "not_member"),)] == 1
    assert samples["chatroom_errors_total", (("code", "unauthorized"),)] == 1
    assert samples["chatroom_closes_total", (("code", "1000"),)] == 1
    assert samples["chatroom_closes_total", (("code", "4401"),)] == 1
    assert samples["chatroom_fanout_seconds_count", ()] == 3
    assert samples["chatroom_hello_seconds_count", ()] == 1
    assert samples["chatroom_store_commit_jobs_sum", ()] >= 3
    assert samples["chatroom_store_commit_seconds_count", ()] >= 1
    assert samples["process_open_fds", ()] > 0
    for name in ("fanout_seconds", "hello_seconds", "store_commit_seconds"):
        assert families[f"chatroom_{name}"].type == "histogram"


def scrape(server: RunningServer) -> tuple[http.client.HTTPResponse, dict[str, Metric]]:
    """GET /metrics, read by prometheus-client's own parser."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    assert response.status == 200
    return response, {f.name: f for f in text_string_to_metric_families(text)}


def test_the_grafana_dashboard_shows_only_metrics_that_exist(server: RunningServer) -> None:
    hello(server, "seen").close()
    _response, families = scrape(server)
    exposed = {sample.name for family in families.values() for sample in family.samples}
    # (a labelled counter with nothing counted yet has no sample, but exists)
    exposed |= {f"{name}_total" for name, f in families.items() if f.type == "counter"}
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {m for e in expressions for m in re.findall(r"\b(?:chatroom|process)_[a-z_]+", e)}
    assert len(used) >= 15
    assert used <= exposed, used - exposed


def test_plain_http_keeps_the_connection_alive(server: RunningServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    for path in ("/healthz", "/", "/healthz"):
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    assert response.getheader("Content-Type") == "application/json"
    conn.close()


def test_refused_tokens_close_4401(server: RunningServer) -> None:
    expired = server.token("late", "--ttl", "1")
    forged = mint_token(server.data_dir.parent / "elsewhere", "mallory")
    for token in (forged, "garbage"):
        ws = connect(server.ws_url, open_timeout=TIMEOUT, legacy=True)
        send(ws, type="hello", token=token)
        assert receive(ws)["code"] == "unauthorized"
        assert close_code(ws) == 4401
    ws = connect(
        server.ws_url,
        open_timeout=TIMEOUT,
        legacy=True,
        subprotocols=[Subprotocol("chatroom.v1"), Subprotocol(f"token.{server.token('browser')}")],
    )
    assert ws.subprotocol == "chatroom.v1"
    assert receive(ws)["user"] == "browser"
    ws.close()
    time.sleep(1.1)  # the 1 s token is expired now
    ws = connect(server.ws_url, open_timeout=TIMEOUT, legacy=True)
    send(ws, type="hello", token=expired)
    assert receive(ws)["message"] == "token expired"
    assert close_code(ws) == 4401


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_closes_websockets_with_1001_and_exits_0(
    tmp_path: Path, sig: signal.Signals
) -> None:
    running = start_server(tmp_path / "data")
    clients = [hello(running, f"user{i}") for i in range(3)]
    send(clients[0], type="join", room="r")
    receive(clients[0])
    started = time.monotonic()
    running.process.send_signal(sig)
    assert [close_code(ws) for ws in clients] == [1001, 1001, 1001]
    assert running.process.wait(TIMEOUT) == 0
    assert time.monotonic() - started < 5
    with pytest.raises(OSError):  # no longer accepting
        connect_ws(running)


def test_a_dropped_connection_leaves_its_rooms(server: RunningServer) -> None:
    alice = hello(server, "alice")
    bob = hello(server, "bob")
    for ws in (alice, bob):
        send(ws, type="join", room="r")
        receive_until(ws, "joined")
    receive_until(alice, "presence")
    receive_until(alice, "presence")  # bob's join
    bob.socket.shutdown(2)  # gone without a close handshake
    bob.socket.close()
    assert receive_until(alice, "presence") == {
        "type": "presence",
        "room": "r",
        "event": "leave",
        "user": "bob",
    }
    _status, body, _ = server.http("GET", "/api/rooms/r/members", server.token("x"))
    assert [m["user"] for m in body["members"]] == ["alice"]


def test_token_command_prints_only_the_token(tmp_path: Path) -> None:
    token = mint_token(tmp_path, "zed")
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", token)
    result = subprocess.run(
        [sys.executable, "-m", "chatroom", "token", "bad name", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 2
    assert result.stdout == ""


def test_help_explains_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chatroom", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    for flag in ("--host", "--port", "--data-dir", "CHATROOM_PORT"):
        assert flag in result.stdout
