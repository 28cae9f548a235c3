"""Several servers on one Redis and one database, as clients see them:
`python -m chatroom --broker ...` processes, a real redis-server, real
sockets. Every node must look like one chat: the same ids in the same order
everywhere, members counted once across nodes, killed nodes' members gone,
a Redis restart survived with nothing lost."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection

from tests.blackbox import (
    RunningServer,
    close_code,
    connect_ws,
    hello,
    receive,
    receive_until,
    send,
    start_server,
    stop_server,
)
from tests.conftest import UNLIMITED_RATES, Cluster
from tests.postgres import PostgresServer, free_port
from tests.redis import RedisServer


def joined(server: RunningServer, user: str, room: str, **join: Any) -> ClientConnection:
    ws = hello(server, user)
    send(ws, type="join", room=room, **join)
    receive_until(ws, "joined")
    return ws


def messages(ws: ClientConnection, count: int) -> list[tuple[int, str, str]]:
    """The next `count` messages (skipping other frames), as (id, user, text)."""
    seen: list[tuple[int, str, str]] = []
    while len(seen) < count:
        frame = receive(ws)
        if frame["type"] == "message":
            seen.append((frame["id"], frame["user"], frame["text"]))
    return seen


def presence_events(
    ws: ClientConnection, within: float, *, first_only: bool = False
) -> list[tuple[str, str]]:
    """(event, user) of the presence frames that arrive within `within` s
    (or the first of them)."""
    events = []
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            break
        if frame["type"] == "presence":
            events.append((frame["event"], frame["user"]))
            if first_only:
                break
    return events


def members(server: RunningServer, room: str) -> list[str]:
    status, body, _ = server.http("GET", f"/api/rooms/{room}/members", server.token("auditor"))
    return [m["user"] for m in body["members"]] if status == 200 else []


def test_messages_from_every_node_reach_every_node_with_one_order(cluster: Cluster) -> None:
    nodes = cluster(3)
    watchers = [joined(node, f"watcher{i}", "busy") for i, node in enumerate(nodes)]
    senders = [joined(node, f"sender{i}", "busy") for i, node in enumerate(nodes)]
    per_sender = 600
    total = per_sender * len(senders)

    def blast(ws: ClientConnection, name: str) -> None:
        for i in range(per_sender):
            send(ws, type="send", room="busy", text=f"{name} {i}")

    threads = [
        threading.Thread(target=blast, args=(ws, f"sender{i}")) for i, ws in enumerate(senders)
    ]
    for thread in threads:
        thread.start()
    seen = [messages(ws, total) for ws in watchers]
    for thread in threads:
        thread.join()
    assert [m[0] for m in seen[0]] == list(range(1, total + 1))
    assert seen[1] == seen[0]
    assert seen[2] == seen[0]
    # Each sender's messages in the order it sent them, none twice.
    for i in range(len(senders)):
        mine = [text for _, user, text in seen[0] if user == f"sender{i}"]
        assert mine == [f"sender{i} {n}" for n in range(per_sender)]


def test_members_and_presence_are_one_list_across_nodes(cluster: Cluster) -> None:
    first, second = cluster(2)
    ann = joined(first, "ann", "lobby")
    bob = joined(second, "bob", "lobby")
    assert presence_events(ann, 2) == [("join", "ann"), ("join", "bob")]
    assert members(first, "lobby") == members(second, "lobby") == ["ann", "bob"]

    # ann on the second node too: still one member, and no event for it.
    ann_again = hello(second, "ann")
    send(ann_again, type="join", room="lobby")
    listed = receive_until(ann_again, "joined")["members"]
    assert [m["user"] for m in listed] == ["ann", "bob"]
    assert presence_events(bob, 1) == [("join", "bob")]  # its own, from joining
    for node in (first, second):
        _, body, _ = node.http("GET", "/api/rooms?prefix=lob", node.token("x"))
        assert body["rooms"] == [{"room": "lobby", "count": 2, "private": False}]

    # Leaving one node of two: still a member. Leaving both: gone everywhere.
    ann_again.close()
    assert presence_events(bob, 1) == []
    ann.close()
    assert presence_events(bob, 5) == [("leave", "ann")]
    assert members(first, "lobby") == members(second, "lobby") == ["bob"]


def test_a_client_moving_to_another_node_with_since_misses_nothing(cluster: Cluster) -> None:
    first, second = cluster(2)
    writer = joined(second, "writer", "moves")
    ann = joined(first, "ann", "moves")
    for i in range(5):
        send(writer, type="send", room="moves", text=f"before {i}")
    last_seen = messages(ann, 5)[-1][0]
    ann.close()
    for i in range(300):
        send(writer, type="send", room="moves", text=f"while away {i}")
    messages(writer, 305)
    back = hello(second, "ann")
    send(back, type="join", room="moves", since=last_seen)
    history = receive_until(back, "joined")["history"]
    assert [m["id"] for m in history] == list(range(last_seen + 1, 306))


def test_the_members_of_a_killed_node_leave_everywhere_within_30_s(cluster: Cluster) -> None:
    first, second = cluster(2)
    ann = joined(first, "ann", "fragile")
    joined(second, "bob", "fragile")
    assert presence_events(ann, 2) == [("join", "ann"), ("join", "bob")]
    killed_at = time.monotonic()
    second.process.send_signal(signal.SIGKILL)
    second.process.wait()
    assert presence_events(ann, 30, first_only=True) == [("leave", "bob")]
    assert time.monotonic() - killed_at < 30
    assert members(first, "fragile") == ["ann"]


def test_a_node_stopping_cleanly_takes_its_members_along_at_once(cluster: Cluster) -> None:
    first, second = cluster(2)
    ann = joined(first, "ann", "tidy")
    joined(second, "bob", "tidy")
    assert presence_events(ann, 2) == [("join", "ann"), ("join", "bob")]
    assert stop_server(second) == 0
    assert presence_events(ann, 2) == [("leave", "bob")]


def test_a_redis_restart_mid_traffic_loses_nothing(cluster: Cluster, redis: RedisServer) -> None:
    first, second = cluster(2)
    watcher = joined(second, "watcher", "steady")
    writer = joined(first, "writer", "steady")
    sent = 0
    stop = threading.Event()

    def write() -> None:
        nonlocal sent
        while not stop.is_set():
            send(writer, type="send", room="steady", text=f"m{sent}")
            sent += 1
            time.sleep(0.01)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        time.sleep(1)
        redis.stop()
        time.sleep(1)
        assert first.http("GET", "/healthz")[1]["degraded"] == ["broker"]
        time.sleep(4)
        redis.start()
        time.sleep(3)
    finally:
        stop.set()
        thread.join()
    seen = messages(watcher, sent)
    assert seen == [(i + 1, "writer", f"m{i}") for i in range(sent)]
    health = first.http("GET", "/healthz")[1]
    assert health["status"] == "ok" and health["broker"] == "connected"
    # Presence was rewritten into the new Redis: the nodes agree again.
    assert members(first, "steady") == members(second, "steady") == ["watcher", "writer"]
    assert sum("unavailable" in line for line in first.log) == 1  # logged once


class FreezableProxy:
    """A TCP relay to Redis that can stop relaying: what a node writes
    then (its publishes) never arrives, as when it dies before publishing."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.frozen = threading.Event()
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.frozen.is_set():
                    continue  # swallowed
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                sock.close()

    def close(self) -> None:
        self._listener.close()


def test_messages_a_node_committed_but_never_published_still_arrive(
    cluster: Cluster, redis: RedisServer
) -> None:
    proxy = FreezableProxy(redis.port)
    try:
        (doomed,) = cluster(1, broker=proxy.url)
        (survivor,) = cluster(1)
        watcher = joined(survivor, "watcher", "gap")
        writer = joined(doomed, "writer", "gap")
        send(writer, type="send", room="gap", text="published")
        assert messages(watcher, 1) == [(1, "writer", "published")]
        proxy.frozen.set()
        for i in range(5):
            send(writer, type="send", room="gap", text=f"committed {i}")
        assert [m[0] for m in messages(writer, 6)][1:] == [2, 3, 4, 5, 6]  # committed
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait()
        later = messages(watcher, 5)  # read from the database by the survivor
        assert later == [(i + 2, "writer", f"committed {i}") for i in range(5)]
    finally:
        proxy.close()


def test_a_node_with_another_token_secret_says_so(
    cluster: Cluster, redis: RedisServer, tmp_path: Path
) -> None:
    (first,) = cluster(1)
    shared_database = f"sqlite:///{tmp_path / 'data' / 'chatroom.db'}"
    # Its own data dir: its own secret.
    stranger = start_server(
        tmp_path / "other", "--broker", redis.url, "--database", shared_database
    )
    try:
        health = stranger.http("GET", "/healthz")[1]
        assert health["status"] == "degraded" and health["degraded"] == ["secret"]
        assert any("token secret differs" in line for line in stranger.log)
        assert first.http("GET", "/healthz")[1]["status"] == "ok"
    finally:
        assert stop_server(stranger) == 0


def test_two_nodes_on_postgresql_act_as_one(
    postgres: PostgresServer, redis: RedisServer, tmp_path: Path
) -> None:
    database = postgres.new_database()
    nodes = [
        start_server(
            tmp_path / "data", "--database", database, "--broker", redis.url, *UNLIMITED_RATES
        )
        for _ in range(2)
    ]
    try:
        watchers = [joined(node, f"watcher{i}", "pg") for i, node in enumerate(nodes)]
        senders = [joined(node, f"sender{i}", "pg") for i, node in enumerate(nodes)]
        for n in range(200):
            send(senders[n % 2], type="send", room="pg", text=f"m{n}")
        seen = [messages(ws, 200) for ws in watchers]
        assert [m[0] for m in seen[0]] == list(range(1, 201))
        assert seen[1] == seen[0]
        assert members(nodes[0], "pg") == ["watcher0", "watcher1", "sender0", "sender1"]
    finally:
        assert [stop_server(node) for node in nodes] == [0, 0]


def test_a_node_cut_off_from_redis_drops_out_and_comes_back(
    cluster: Cluster, redis: RedisServer
) -> None:
    proxy = FreezableProxy(redis.port)
    try:
        (island,) = cluster(1, broker=proxy.url)
        (mainland,) = cluster(1)
        watcher = joined(mainland, "watcher", "sea")
        token = island.token("islander")
        islander = hello(island, "islander", token)
        send(islander, type="join", room="sea")
        receive_until(islander, "joined")
        assert presence_events(watcher, 2) == [("join", "watcher"), ("join", "islander")]
        proxy.frozen.set()
        assert presence_events(watcher, 30, first_only=True) == [("leave", "islander")]
        assert island.http("GET", "/healthz")[1]["degraded"] == ["broker"]
        # A logout the island cannot hear of: it learns when it is back.
        assert mainland.http("POST", "/api/logout", token)[:2] == (200, {"revoked": True})
        proxy.frozen.clear()
        assert presence_events(watcher, 30, first_only=True) == [("join", "islander")]
        assert close_code(islander) == 4401
    finally:
        proxy.close()


def test_logging_out_on_one_node_closes_the_sessions_on_every_node(cluster: Cluster) -> None:
    first, second = cluster(2)
    token = first.token("ann")
    elsewhere = hello(second, "ann", token)
    status, body, _ = first.http("POST", "/api/logout", token)
    assert (status, body) == (200, {"revoked": True})
    assert close_code(elsewhere) == 4401


def test_a_node_stops_cleanly_while_redis_is_down(cluster: Cluster, redis: RedisServer) -> None:
    (node,) = cluster(1)
    ws = joined(node, "ann", "quiet")
    redis.stop()
    assert stop_server(node) == 0
    assert close_code(ws) == 1001


def test_edits_and_deletes_reach_every_node(cluster: Cluster) -> None:
    first, second = cluster(2)
    ann = joined(first, "ann", "edits")
    bob = joined(second, "bob", "edits")
    send(ann, type="send", room="edits", text="typo")
    assert messages(bob, 1) == [(1, "ann", "typo")]
    send(ann, type="edit", room="edits", id=1, text="fixed")
    edited = receive_until(bob, "edited")
    assert (edited["id"], edited["text"]) == (1, "fixed")
    send(ann, type="delete", room="edits", id=1)
    assert receive_until(bob, "deleted")["by"] == "ann"
    # The other node's memory changed too: a join there shows the tombstone.
    carol = hello(second, "carol")
    send(carol, type="join", room="edits")
    assert receive_until(carol, "joined")["history"][0].get("deleted") is True


def test_topics_and_roles_reach_every_node(cluster: Cluster) -> None:
    first, second = cluster(2)
    owner = joined(first, "owner", "run")
    member = joined(second, "member", "run")
    send(owner, type="topic", room="run", topic="Rules: be kind")
    assert receive_until(member, "room")["info"]["topic"] == "Rules: be kind"
    send(owner, type="role", room="run", user="member", role="moderator")
    assert receive_until(member, "room")["info"]["moderators"] == ["member"]
    send(member, type="topic", room="run", topic="Set on the other node", ref=1)
    assert receive_until(member, "done")["ref"] == 1


def test_a_kick_or_ban_on_one_node_reaches_the_users_connections_on_another(
    cluster: Cluster,
) -> None:
    first, second = cluster(2)
    owner = joined(first, "owner", "strict")
    troll = joined(second, "troll", "strict")
    send(owner, type="ban", room="strict", user="troll", reason="no")
    assert receive_until(troll, "kicked") == {
        "type": "kicked", "room": "strict", "by": "owner", "reason": "no",
    }  # fmt: skip
    send(troll, type="join", room="strict", ref="again")
    error = receive_until(troll, "error")
    assert (error["code"], error["ref"]) == ("forbidden", "again")


def test_private_rooms_and_invitations_across_nodes(cluster: Cluster) -> None:
    first, second = cluster(2)
    olga = hello(first, "olga")
    send(olga, type="create", room="plans", private=True)
    receive_until(olga, "joined")
    ivy = hello(second, "ivy")  # in no room: told all the same
    eve = hello(second, "eve")
    send(olga, type="invite", room="plans", user="ivy")
    assert receive_until(ivy, "invitation") == {"type": "invitation", "room": "plans", "by": "olga"}
    # Told of the room by the first node (olga's presence), the second node
    # lists it only once it has read that the room is private: to ivy.
    time.sleep(2 * 2.0 + 0.5)  # GAP_CHECK_INTERVAL, twice
    for ws, expected in ((eve, []), (ivy, [("plans", True)])):
        send(ws, type="rooms")
        rooms = receive_until(ws, "rooms")["rooms"]
        assert [(r["room"], r["private"]) for r in rooms] == expected
    send(ivy, type="join", room="plans")
    assert receive_until(ivy, "joined")["info"]["private"] is True
    send(eve, type="join", room="plans", ref="no")
    assert receive_until(eve, "error")["code"] == "forbidden"


def test_direct_messages_typing_and_read_markers_across_nodes(cluster: Cluster) -> None:
    first, second = cluster(2)
    bob = joined(second, "bob", "lobby")  # known from here on
    bob_elsewhere = hello(first, "bob")
    alice = hello(first, "alice")
    send(alice, type="direct", user="bob")
    assert receive_until(alice, "joined")["room"] == "@alice,bob"
    send(alice, type="send", room="@alice,bob", text="psst")
    message = receive_until(bob, "message")  # on the other node, not joined there
    assert (message["room"], message["text"]) == ("@alice,bob", "psst")
    send(bob, type="direct", user="alice")
    receive_until(bob, "joined")
    send(alice, type="typing", room="@alice,bob")
    assert receive_until(bob, "typing") == {"type": "typing", "room": "@alice,bob", "user": "alice"}
    send(bob, type="read", room="@alice,bob", id=message["id"])
    assert receive_until(bob_elsewhere, "read") == {
        "type": "read", "room": "@alice,bob", "id": message["id"],
    }  # fmt: skip


def test_catching_up_and_pending_invitations_across_nodes(cluster: Cluster) -> None:
    first, second = cluster(2)
    olga = hello(first, "olga")
    send(olga, type="create", room="plans", private=True)
    receive_until(olga, "joined")
    ivy = hello(second, "ivy")
    for _ in range(3):  # repeated on the first node: one invitation on the second
        send(olga, type="invite", room="plans", user="ivy")
        receive_until(olga, "invited")
    send(ivy, type="ping", ref="p")
    frames = [receive(ivy)]
    while frames[-1]["type"] != "pong":
        frames.append(receive(ivy))
    assert [f["type"] for f in frames] == ["invitation", "pong"]
    # The invitee joins at once on the other node: its rules are not stale there.
    send(ivy, type="join", room="plans")
    receive_until(ivy, "joined")
    send(olga, type="send", room="plans", text="first")
    seen = receive_until(ivy, "message")["id"]
    ivy.close()
    send(olga, type="edit", room="plans", id=seen, text="first, edited")
    receive_until(olga, "edited")
    # Back on the other node with since: the edit made meanwhile comes along.
    ivy = hello(second, "ivy")
    send(ivy, type="join", room="plans", since=seen)
    changes = receive_until(ivy, "joined")["changes"]
    assert [(c["type"], c["id"], c["text"]) for c in changes] == [("edited", seen, "first, edited")]

    # A pending invitation waits on every node, and a decline on one holds on the other.
    send(olga, type="create", room="later", private=True)
    receive_until(olga, "joined")
    hello(first, "max").close()
    send(olga, type="invite", room="later", user="max")
    receive_until(olga, "invited")
    max_here = hello(second, "max")
    send(max_here, type="decline", room="later", ref="no")
    assert receive_until(max_here, "done")["ref"] == "no"
    max_there = hello(first, "max")
    send(max_there, type="join", room="later", ref="in?")
    assert receive_until(max_there, "error")["code"] == "forbidden"


def test_a_room_left_on_one_node_is_remembered_again_by_a_join_on_another(
    cluster: Cluster,
) -> None:
    first, second = cluster(2)
    bob_here = joined(first, "bob", "lobby")
    bob_there = hello(second, "bob")  # its welcome counts lobby among bob's rooms
    carol = joined(second, "carol", "sync")
    send(bob_here, type="leave", room="lobby")
    receive_until(bob_here, "left")
    # What the first node publishes reaches the second in order: once carol
    # sees alice come, the second node has heard that bob left lobby.
    joined(first, "alice", "sync")
    receive_until(carol, "presence")
    send(bob_there, type="join", room="lobby")
    receive_until(bob_there, "joined")
    fresh = connect_ws(first)
    send(fresh, type="hello", token=first.token("bob"))
    assert [r["room"] for r in receive_until(fresh, "welcome")["rooms"]] == ["lobby"]
