"""Webhooks over the protocol and HTTP, against running servers: incoming
hooks posted to as JSON and as Slack's form, refused without their secret;
outgoing ones POSTing each new message, signed, to an HTTP server of the
test's own, retried with the same webhook-id, never following a redirect,
disabled by 410, refused for private addresses unless allowed, and
delivered after a restart; across two nodes."""

from __future__ import annotations

import http.client
import json
import sqlite3
import time
import urllib.parse
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection

from tests.blackbox import (
    TIMEOUT,
    RunningServer,
    error_code,
    hello,
    receive_until,
    send,
    start_server,
    stop_server,
)
from tests.conftest import Cluster
from tests.test_commands import member, request
from tests.webhook_target import Target, verified

ALLOW_LOOPBACK = ("--webhook-allow", "127.0.0.0/8")


def owner_of(server: RunningServer, user: str, room: str) -> ClientConnection:
    ws = hello(server, user)
    send(ws, type="create", room=room)
    receive_until(ws, "joined")
    return ws


def post(
    server: RunningServer, path: str, body: bytes, content_type: str = "application/json"
) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        conn.close()


def post_text(server: RunningServer, path: str, text: Any) -> int:
    return post(server, path, json.dumps({"text": text}).encode())[0]


def next_message(ws: ClientConnection) -> tuple[str, str, bool]:
    message = receive_until(ws, "message")
    return message["user"], message["text"], message.get("bot", False)


def test_an_incoming_hook_posts_as_json_and_as_a_slack_form(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        alice = owner_of(server, "alice", "ops")
        bob = member(server, "bob", "ops")
        assert error_code(bob, type="hook", room="ops", name="ci") == "forbidden"
        assert error_code(bob, type="hooks", room="ops") == "forbidden"
        made = request(alice, "hook", room="ops", name="ci")
        assert made["type"] == "hook" and (made["room"], made["name"]) == ("ops", "ci")
        assert made["url"] == f"/hooks/{made['id']}/{made['url'].rsplit('/', 1)[1]}"
        assert "secret" not in made

        assert post_text(server, made["url"], "build 7 is green") == 204
        assert next_message(bob) == ("ci", "build 7 is green", True)
        form = urllib.parse.urlencode({"payload": json.dumps({"text": "deployed *7*"})})
        assert post(server, made["url"], form.encode(), "application/x-www-form-urlencoded")[0] == (
            204
        )
        assert next_message(bob) == ("ci", "deployed *7*", True)

        wrong = made["url"].rsplit("/", 1)[0] + "/not-the-secret"
        assert post_text(server, wrong, "forged") == 404
        assert post_text(server, "/hooks/nosuchhook/whatever", "forged") == 404
        status, _, headers = server.http("GET", made["url"])
        assert (status, headers["Allow"]) == (405, "POST")
        assert post(server, made["url"], b"x" * (64 * 1024 + 1))[0] == 413
        for bad in ("", "t" * 4001, 7, None):
            assert post_text(server, made["url"], bad) == 400
        assert post(server, made["url"], b"text=plain", "application/x-www-form-urlencoded")[0] == (
            400
        )
        assert post_text(server, made["url"], "t" * 4000) == 204
        assert next_message(bob) == ("ci", "t" * 4000, True)

        # Listed without secrets, to the owner and moderators only.
        listed = request(alice, "hooks", room="ops")["hooks"]
        assert [(h["id"], h["name"], h["kind"], h["by"]) for h in listed] == [
            (made["id"], "ci", "incoming", "alice")
        ]
        assert made["url"].rsplit("/", 1)[1] not in json.dumps(listed)
        request(alice, "role", room="ops", user="bob", role="moderator")
        assert request(bob, "hooks", room="ops")["hooks"] == listed
        second = request(bob, "hook", room="ops", name="alerts")
        assert request(bob, "unhook", room="ops", id=second["id"])["type"] == "done"
        assert error_code(bob, type="unhook", room="ops", id=second["id"]) == "not_found"
        assert post_text(server, second["url"], "gone") == 404
        assert error_code(alice, type="hook", room="nowhere", name="ci") == "not_found"
        assert error_code(alice, type="hook", room="ops", name="not a name") == "bad_request"
    finally:
        assert stop_server(server) == 0


def test_incoming_posts_are_rate_limited_per_hook(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        alice = owner_of(server, "alice", "ops")
        url = request(alice, "hook", room="ops", name="noisy")["url"]
        statuses = [post_text(server, url, f"n{i}") for i in range(10)]
        assert statuses == [204] * 10
        status, headers = post(server, url, json.dumps({"text": "one more"}).encode())
        assert status == 429 and int(headers["Retry-After"]) >= 1
        other = request(alice, "hook", room="ops", name="quiet")["url"]
        assert post_text(server, other, "another hook") == 204  # its own rate
        for i in range(18):
            request(alice, "hook", room="ops", name=f"h{i}")
        assert error_code(alice, type="hook", room="ops", name="h21") == "bad_request"  # 20
    finally:
        assert stop_server(server) == 0


def test_outgoing_deliveries_are_signed_retried_and_never_redirected(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", *ALLOW_LOOPBACK)
    try:
        with Target(500, 302) as target:
            alice = owner_of(server, "alice", "ops")
            made = request(alice, "hook", room="ops", name="relay", target=target.url)
            assert made["target"] == target.url and made["secret"].startswith("whsec_")
            send(alice, type="send", room="ops", text="hello hooks")
            sent = receive_until(alice, "message")

            attempts = [target.next() for _ in range(3)]  # 500, then a redirect, then 204
            assert [a.path for a in attempts] == ["/in"] * 3  # never /elsewhere
            assert len({a.headers["webhook-id"] for a in attempts}) == 1
            assert all(verified(a, made["secret"]) for a in attempts)
            assert json.loads(attempts[0].body) == sent
            assert attempts[0].headers["content-type"] == "application/json"
            assert abs(int(attempts[0].headers["webhook-timestamp"]) - time.time()) < 60
            assert not verified(attempts[0], "whsec_" + "A" * 43 + "=")
            # Its URL takes posts too; what it posts is not sent back to it.
            assert post_text(server, made["url"], "an answer") == 204
            assert next_message(alice) == ("relay", "an answer", True)
            assert target.nothing_within(0.5)  # delivered: no more
    finally:
        assert stop_server(server) == 0


def test_a_target_answering_410_disables_its_hook(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", *ALLOW_LOOPBACK)
    try:
        with Target(410) as gone, Target() as kept:
            alice = owner_of(server, "alice", "ops")
            request(alice, "hook", room="ops", name="gone", target=gone.url)
            request(alice, "hook", room="ops", name="kept", target=kept.url)
            send(alice, type="send", room="ops", text="first")
            assert json.loads(gone.next().body)["text"] == "first"
            assert json.loads(kept.next().body)["text"] == "first"
            deadline = time.monotonic() + TIMEOUT
            while not disabled(alice, "gone"):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            send(alice, type="send", room="ops", text="second")
            assert json.loads(kept.next().body)["text"] == "second"
            assert gone.nothing_within(0.5)
    finally:
        assert stop_server(server) == 0


def disabled(ws: ClientConnection, name: str) -> bool:
    hooks = request(ws, "hooks", room="ops")["hooks"]
    return bool(next(h for h in hooks if h["name"] == name)["disabled"])


def test_targets_that_are_not_public_are_refused_unless_allowed(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        alice = owner_of(server, "alice", "ops")
        for private in (
            "http://127.0.0.1:9/in",
            "http://localhost:9/in",
            "https://[::1]/in",
            "http://[::ffff:127.0.0.1]/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0.0.0.0:8080/",
        ):
            assert error_code(alice, type="hook", room="ops", name="x", target=private) == (
                "forbidden"
            ), private
        for bad in (
            "ftp://example.com/",
            "http:///nohost",
            "http://user:pw@example.com/",
            "http://example.com/a b",
            "http://example.com:99999/",
            "https://example.com/" + "x" * 2000,
            "javascript:alert(1)",
        ):
            assert error_code(alice, type="hook", room="ops", name="x", target=bad) == (
                "bad_request"
            ), bad
        assert request(alice, "hooks", room="ops")["hooks"] == []
    finally:
        assert stop_server(server) == 0
    allowed = start_server(tmp_path / "data", *ALLOW_LOOPBACK)
    try:
        alice = hello(allowed, "alice")
        made = request(alice, "hook", room="ops", name="x", target="http://127.0.0.1:9/in")
        assert made["type"] == "hook"
        assert error_code(alice, type="hook", room="ops", name="x", target="http://10.1.2.3/") == (
            "forbidden"
        )
    finally:
        assert stop_server(allowed) == 0


def queued(data_dir: Path) -> list[tuple[str, int]]:
    """The deliveries waiting in the database: (webhook-id, attempts made)."""
    with sqlite3.connect(data_dir / "chatroom.db") as db:
        rows = db.execute("SELECT id, attempts FROM hook_deliveries").fetchall()
    return [(str(i), int(n)) for i, n in rows]


def test_a_delivery_queued_while_the_target_is_down_is_made_after_a_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with Target(listen=False) as target:  # bound, not listening: connections are refused
        server = start_server(data, *ALLOW_LOOPBACK)
        try:
            alice = owner_of(server, "alice", "ops")
            request(alice, "hook", room="ops", name="relay", target=target.url)
            send(alice, type="send", room="ops", text="while you were out")
            deadline = time.monotonic() + TIMEOUT
            while not (waiting := queued(data)) or waiting[0][1] < 1:  # one attempt failed
                assert time.monotonic() < deadline
                time.sleep(0.1)
        finally:
            assert stop_server(server) == 0
        target.listen()
        server = start_server(data, *ALLOW_LOOPBACK)
        try:
            delivered = target.next()
            assert delivered.headers["webhook-id"] == waiting[0][0]
            assert json.loads(delivered.body)["text"] == "while you were out"
            deadline = time.monotonic() + TIMEOUT
            while queued(data):
                assert time.monotonic() < deadline
                time.sleep(0.1)
        finally:
            assert stop_server(server) == 0


def test_hooks_made_on_one_node_work_on_another(cluster: Cluster) -> None:
    one, two = cluster(2, *ALLOW_LOOPBACK)
    with Target() as target:
        alice = owner_of(one, "alice", "ops")
        incoming = request(alice, "hook", room="ops", name="ci")
        assert post_text(two, incoming["url"], "posted on two") == 204
        assert next_message(alice) == ("ci", "posted on two", True)

        outgoing = request(alice, "hook", room="ops", name="relay", target=target.url)
        send(alice, type="send", room="ops", text="sent on one")
        assert json.loads(target.next().body)["text"] == "sent on one"
        time.sleep(2.5)  # (the other node reads which rooms have outgoing hooks every 2 s)
        bob = member(two, "bob", "ops")
        send(bob, type="send", room="ops", text="sent on two")
        delivered = target.next()
        assert json.loads(delivered.body)["text"] == "sent on two"
        assert verified(delivered, outgoing["secret"])
        assert target.nothing_within(0.5)  # each once, by one node
