"""Search (protocol 1.2): black-box, over real sockets and HTTP, on SQLite
and PostgreSQL. What a user finds is what they may read, with the words
as they are now; hostile queries are answered, never with an error 500."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from websockets.sync.client import ClientConnection

from tests.blackbox import (
    RunningServer,
    hello,
    receive,
    receive_until,
    said,
    send,
    start_server,
    stop_server,
)


@pytest.fixture
def server(server_on_each_database: RunningServer) -> RunningServer:
    return server_on_each_database


def search(ws: ClientConnection, query: str, **fields: Any) -> dict[str, Any]:
    """The `results` (or `error`) for a search, waiting out the search rate."""
    while True:
        send(ws, type="search", query=query, ref="found?", **fields)
        while (frame := receive(ws)).get("ref") != "found?":
            pass
        if frame["type"] == "error" and frame["code"] == "rate_limited":
            time.sleep(frame["retry_after_ms"] / 1000)
            continue
        return frame


def found(ws: ClientConnection, query: str, **fields: Any) -> list[tuple[str, str]]:
    """(room, text) of each result, newest first."""
    results = search(ws, query, **fields)
    assert results["type"] == "results", results
    return [(m["room"], m["text"]) for m in results["messages"]]


def http_search(server: RunningServer, user: str | None, **params: Any) -> tuple[int, Any]:
    """GET /api/search's status and body, waiting out the search rate."""
    token = None if user is None else server.token(user)
    while True:
        status, body, headers = server.http("GET", f"/api/search?{urlencode(params)}", token)
        if status != 429:
            return status, body
        time.sleep(int(headers["Retry-After"]))


def join(ws: ClientConnection, room: str) -> None:
    send(ws, type="join", room=room, ref="in")
    while (frame := receive(ws)).get("ref") != "in":
        pass
    assert frame["type"] == "joined", frame


def test_a_user_finds_what_they_may_read_and_nothing_else(server: RunningServer) -> None:
    alice, bob, carol, dave = (hello(server, u) for u in ("alice", "bob", "carol", "dave"))
    join(alice, "Lobby")
    said(alice, "Lobby", "The quick brown fox jumps")
    send(alice, type="create", room="Secret", private=True)
    receive_until(alice, "joined")
    said(alice, "Secret", "quick hidden plans")
    for user in ("bob", "dave"):
        send(alice, type="invite", room="Secret", user=user)
        receive_until(alice, "invited")
    join(bob, "Secret")
    join(dave, "Secret")

    # Words in any case, whole words only; newest first.
    fox, plans = ("Lobby", "The quick brown fox jumps"), ("Secret", "quick hidden plans")
    assert found(alice, "QUICK") == [plans, fox]
    assert found(alice, "qui") == []
    assert found(bob, "hidden") == [("Secret", "quick hidden plans")]
    assert found(dave, "hidden plans") == [("Secret", "quick hidden plans")]
    # An outsider finds the public room's, never the private room's.
    assert found(carol, "quick") == [("Lobby", "The quick brown fox jumps")]
    assert found(carol, "hidden") == []
    assert found(carol, "hidden", room="Secret") == []
    # Public rooms whether joined or not; `room` narrows.
    assert found(bob, "fox") == [("Lobby", "The quick brown fox jumps")]
    assert found(alice, "quick", room="lobby") == [("Lobby", "The quick brown fox jumps")]
    # A phrase is its words in that order.
    assert found(carol, '"brown fox"') == [("Lobby", "The quick brown fox jumps")]
    assert found(carol, '"fox brown"') == []
    assert found(carol, '"brown fox" jumps') == [("Lobby", "The quick brown fox jumps")]

    # Left, or kicked: the private room's messages are no longer found.
    send(bob, type="leave", room="Secret")
    receive_until(bob, "left")
    assert found(bob, "hidden") == []
    send(alice, type="kick", room="Secret", user="dave")
    receive_until(dave, "kicked")
    assert found(dave, "hidden") == []
    assert found(alice, "hidden") == [("Secret", "quick hidden plans")]

    # Over HTTP, the same answers.
    status, body = http_search(server, "alice", q="quick")
    assert status == 200
    over_websocket = search(alice, "quick")
    del over_websocket["ref"]
    assert body == over_websocket
    assert [m["text"] for m in body["messages"]] == [plans[1], fox[1]]
    assert body["more"] is False
    status, body = http_search(server, "carol", q="hidden")
    assert (status, body["messages"]) == (200, [])
    status, body = http_search(server, "alice", q="quick", room="Lobby", limit=1)
    assert status == 200
    assert [m["room"] for m in body["messages"]] == ["Lobby"]
    assert http_search(server, None, q="quick")[0] == 401
    assert http_search(server, "alice", q="quick", limit=0)[0] == 400
    assert http_search(server, "alice", q="quick", limit=51)[0] == 400
    assert http_search(server, "alice", q="quick", room="no room!")[0] == 400


def test_edits_and_deletes_change_what_is_found(server: RunningServer) -> None:
    alice = hello(server, "alice")
    join(alice, "notes")
    edited = said(alice, "notes", "original wording")
    doomed = said(alice, "notes", "doomed banana")
    said(alice, "notes", "another banana")
    send(alice, type="edit", room="notes", id=edited, text="replacement wording")
    receive_until(alice, "edited")
    send(alice, type="delete", room="notes", id=doomed)
    receive_until(alice, "deleted")

    assert found(alice, "original") == []
    results = search(alice, "replacement")["messages"]
    assert [(m["id"], m["text"]) for m in results] == [(edited, "replacement wording")]
    assert "edited" in results[0]
    assert found(alice, "wording") == [("notes", "replacement wording")]
    assert found(alice, "banana") == [("notes", "another banana")]
    assert found(alice, "doomed") == []


HOSTILE = [
    '"',
    '""',
    "*",
    "a*",
    "NEAR(a b)",
    "NEAR",
    "a OR",
    "OR",
    "AND NOT",
    "(((",
    ")",
    "body:word",
    "-word",
    "^word",
    '"unbalanced',
    'x"y"z"',
    "'; DROP TABLE messages; --",
    "%s %% ? $1 \\",
    "{}[]<>|&!:",
    "\u00e9t\u00e9 \u65e5\u672c \U0001f600",
    "",
    " ",
]


def test_hostile_queries_are_answered(server: RunningServer) -> None:
    alice = hello(server, "alice")
    join(alice, "lobby")
    said(alice, "lobby", "near a word or body and not everything")
    for query in HOSTILE:
        answer = search(alice, query)
        assert answer["type"] == "results", (query, answer)
        status, body = http_search(server, "alice", q=query)
        assert status == 200, (query, body)
        assert body["messages"] == answer["messages"]
    # Operators are words like any other.
    assert found(alice, "NEAR(a word)") == [("lobby", "near a word or body and not everything")]
    assert found(alice, "body:word OR") == [("lobby", "near a word or body and not everything")]
    assert found(alice, '"a word') == [("lobby", "near a word or body and not everything")]
    # Past the bounds: bad_request (400), and the connection goes on.
    for query in ("x" * 4000, "w " * 11, '"' * 4000):
        answer = search(alice, query)
        assert (answer["type"], answer["code"]) == ("error", "bad_request"), query
        assert http_search(server, "alice", q=query)[0] == 400
    assert found(alice, "everything") == [("lobby", "near a word or body and not everything")]


def test_pages_go_back_with_before_and_more(server: RunningServer) -> None:
    alice = hello(server, "alice")
    join(alice, "first")
    join(alice, "second")
    ids = [said(alice, "first", f"marker number {n}") for n in range(5)]
    time.sleep(0.01)  # (a later millisecond: by ts, then id, 5 would come first)
    said(alice, "second", "marker elsewhere")

    page = search(alice, "marker", room="first", limit=2)
    assert [m["id"] for m in page["messages"]] == [ids[4], ids[3]]
    assert page["more"] is True
    page = search(alice, "marker", room="first", limit=2, before=ids[3])
    assert [m["id"] for m in page["messages"]] == [ids[2], ids[1]]
    assert page["more"] is True
    page = search(alice, "marker", room="first", limit=2, before=ids[1])
    assert ([m["id"] for m in page["messages"]], page["more"]) == ([ids[0]], False)
    status, body = http_search(server, "alice", q="marker", room="first", limit=2, before=ids[3])
    assert (status, [m["id"] for m in body["messages"]], body["more"]) == (200, ids[2:0:-1], True)

    # Across rooms newest first, by time; the default limit is 20.
    everywhere = search(alice, "marker")
    texts = [m["text"] for m in everywhere["messages"]]
    assert texts == ["marker elsewhere", *(f"marker number {n}" for n in range(4, -1, -1))]
    assert everywhere["more"] is False
    assert search(alice, "marker", limit=6)["more"] is False
    assert search(alice, "marker", limit=5)["more"] is True


def test_searches_are_rate_limited_per_connection(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        alice = hello(server, "alice")
        for _ in range(10):
            send(alice, type="search", query="anything")
            assert receive(alice)["type"] == "results"
        send(alice, type="search", query="anything", ref="one more")
        refused = receive(alice)
        assert (refused["type"], refused["code"], refused["ref"]) == (
            "error",
            "rate_limited",
            "one more",
        )
        assert 0 < refused["retry_after_ms"] <= 1000
        # Another connection has its own.
        other = hello(server, "alice")
        send(other, type="search", query="anything")
        assert receive(other)["type"] == "results"
    finally:
        assert stop_server(server) == 0
