"""Files shared in rooms (protocol 1.2, "Files"), against running servers
on SQLite and PostgreSQL: uploaded and downloaded by members, 404 to
outsiders and without a token, refused past the size limit as soon as it
is passed (and never held in the server's memory), served inline only as
the images their bytes are, sent with messages and gone with them, served
by every node, and removed when no message took them."""

from __future__ import annotations

import functools
import http.client
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from websockets.sync.client import ClientConnection

from tests.blackbox import (
    TIMEOUT,
    RunningServer,
    error_code,
    hello,
    mint_token,
    receive_until,
    run_chatroom,
    send,
    start_server,
    stop_server,
)
from tests.conftest import Cluster
from tests.postgres import PostgresServer

MIB = 1024 * 1024
# (its header says 640 x 480)
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    + (640).to_bytes(4, "big")
    + (480).to_bytes(4, "big")
    + bytes(range(256)) * 40
)
Start = Callable[..., RunningServer]


@functools.cache
def token_of(data_dir: Path, user: str) -> str:
    return mint_token(data_dir, user)


def token_for(server: RunningServer, user: str) -> str:
    """A token for `user` (one per data dir and user: minting one takes a process)."""
    return token_of(server.data_dir, user)


@pytest.fixture(params=["sqlite", "postgresql"])
def start(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Start]:
    """start(*args): a server on the test's database (SQLite in its data
    dir, or a new PostgreSQL database); each must stop with 0."""
    database: tuple[str, ...] = ()
    if request.param == "postgresql":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        database = ("--database", postgres.new_database())
    servers: list[RunningServer] = []

    def start(*args: str) -> RunningServer:
        servers.append(start_server(tmp_path / "data", *database, *args))
        return servers[-1]

    yield start
    assert [stop_server(server) for server in servers] == [0] * len(servers)


def upload(
    server: RunningServer,
    token: str | None,
    room: str,
    name: str,
    body: bytes,
    content_type: str = "application/octet-stream",
) -> tuple[int, Any, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        path = f"/api/rooms/{room}/files?name={quote(name, safe='')}"
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None, dict(response.getheaders())
    finally:
        conn.close()


def download(
    server: RunningServer, token: str | None, file_id: str, method: str = "GET"
) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    try:
        conn.request(method, f"/api/files/{file_id}", headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def uploaded(server: RunningServer, user: str, room: str, name: str, body: bytes, **kw: Any) -> Any:
    status, answer, _ = upload(server, token_for(server, user), room, name, body, **kw)
    assert status == 201, answer
    return answer["file"]


def joined(
    server: RunningServer, user: str, room: str, *, create: bool = False
) -> ClientConnection:
    ws = hello(server, user, token_for(server, user))
    if create:
        send(ws, type="create", room=room, private=True)
    else:
        send(ws, type="join", room=room)
    receive_until(ws, "joined")
    return ws


def sent(ws: ClientConnection, room: str, text: str, files: list[str]) -> dict[str, Any]:
    """Send `text` with `files`; the MSG its sender gets back."""
    send(ws, type="send", room=room, text=text, files=files, ref="sent?")
    while (frame := receive_until(ws, "message")).get("ref") != "sent?":
        pass
    return frame


def test_members_share_files_that_others_never_see(start: Start) -> None:
    server = start()
    alice = joined(server, "alice", "pics")
    bob = joined(server, "bob", "pics")

    png = uploaded(server, "alice", "pics", "cat.png", PNG, content_type="image/png")
    assert png["name"] == "cat.png" and png["size"] == len(PNG) and png["type"] == "image/png"
    assert (png["width"], png["height"]) == (640, 480)  # (an extension: room reserved)
    assert len(png["id"]) == 22
    # Until a message takes it, only its uploader sees it.
    assert download(server, token_for(server, "bob"), png["id"])[0] == 404
    status, body, headers = download(server, token_for(server, "alice"), png["id"])
    assert (status, body) == (200, PNG)

    message = sent(alice, "pics", "", [png["id"]])
    assert message["text"] == "" and message["files"] == [png]
    assert receive_until(bob, "message")["files"] == [png]
    status, body, headers = download(server, token_for(server, "bob"), png["id"])
    assert (status, body) == (200, PNG)
    assert headers["Content-Type"] == "image/png"
    assert headers["Content-Disposition"].startswith("inline;")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"].startswith("private")
    # Any reader of a public room, member or not; history carries the files.
    assert download(server, token_for(server, "carol"), png["id"])[0] == 200
    status, page, _ = server.http("GET", "/api/rooms/pics/messages", token_for(server, "carol"))
    assert page["messages"][-1]["files"] == [png]

    # A file goes out once; nobody sends another's; at most 10; text or a file.
    assert error_code(alice, type="send", room="pics", text="again", files=[png["id"]]) == (
        "not_found"
    )
    mine = uploaded(server, "bob", "pics", "notes.txt", b"bob's")
    assert error_code(alice, type="send", room="pics", text="x", files=[mine["id"]]) == "not_found"
    many = [mine["id"][:-2] + f"{i:02d}" for i in range(11)]
    assert error_code(bob, type="send", room="pics", text="x", files=many) == "bad_request"
    assert error_code(bob, type="send", room="pics", text="", files=[]) == "bad_request"
    # Sent again with its cid (a reconnect), the stored message answers.
    first = None
    for _ in range(2):
        send(bob, type="send", room="pics", text="n", files=[mine["id"]], cid="c1", ref="c?")
        while (frame := receive_until(bob, "message")).get("ref") != "c?":
            pass
        assert first is None or frame["id"] == first
        first = frame["id"]

    # Outsiders of a private room, and anyone without a token: 404.
    owner = joined(server, "owner", "vault", create=True)
    secret = uploaded(server, "owner", "vault", "plan.pdf", b"%PDF-1.7 secret")
    sent(owner, "vault", "the plan", [secret["id"]])
    assert download(server, token_for(server, "owner"), secret["id"])[0] == 200
    assert download(server, token_for(server, "carol"), secret["id"])[0] == 404
    assert download(server, None, secret["id"])[0] == 404
    assert download(server, None, png["id"])[0] == 404
    assert download(server, "not-a-token", png["id"])[0] == 404
    assert download(server, token_for(server, "carol"), "A" * 22)[0] == 404
    # Uploads: a token, and a member (a private room is not there for outsiders).
    assert upload(server, None, "pics", "x.bin", b"x")[0] == 401
    status, answer, _ = upload(server, token_for(server, "carol"), "pics", "x.bin", b"x")
    assert (status, answer["error"]["code"]) == (403, "not_member")
    assert upload(server, token_for(server, "carol"), "vault", "x.bin", b"x")[0] == 404
    assert upload(server, token_for(server, "alice"), "pics", "", b"x")[0] == 400
    assert upload(server, token_for(server, "alice"), "pics", "a/b", b"x")[0] == 400


def test_only_images_by_their_bytes_are_inline(server: RunningServer) -> None:
    alice = joined(server, "alice", "pics")
    cases = {
        "x.png": (b"<html><script>alert(1)</script></html>", "image/png"),
        "logo.svg": (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "image/svg+xml"),
        "page.html": (b"<!doctype html><p>hi", "text/html"),
        "photo.jpg": (b"\xff\xd8\xff\xe0" + b"\0" * 100, "image/jpeg"),
        "anim.gif": (b"GIF89a" + b"\0" * 100, "image/gif"),
        "pic.webp": (b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 100, "image/webp"),
        "cat.jpg": (PNG, "image/jpeg"),  # a PNG by any other name
        'bad "näme";\r.txt': (b"text", "text/plain"),
    }
    served = {}
    for name, (body, kind) in cases.items():
        if "\r" in name:
            assert upload(server, token_for(server, "alice"), "pics", name, body, kind)[0] == 400
            continue
        file = uploaded(server, "alice", "pics", name, body, content_type=kind)
        assert file["type"] == kind
        sent(alice, "pics", name, [file["id"]])
        status, got, headers = download(server, token_for(server, "bob"), file["id"])
        assert (status, got) == (200, body)
        assert headers["X-Content-Type-Options"] == "nosniff"
        served[name] = headers["Content-Type"], headers["Content-Disposition"].split(";")[0]
    attachment = ("application/octet-stream", "attachment")
    assert served == {
        "x.png": attachment,
        "logo.svg": attachment,
        "page.html": attachment,
        "photo.jpg": ("image/jpeg", "inline"),
        "anim.gif": ("image/gif", "inline"),
        "pic.webp": ("image/webp", "inline"),
        "cat.jpg": ("image/png", "inline"),
    }
    named = uploaded(server, "alice", "pics", 'rapport "final" é.txt', b"x")
    sent(alice, "pics", "named", [named["id"]])
    disposition = download(server, token_for(server, "alice"), named["id"])[2][
        "Content-Disposition"
    ]
    assert disposition == (
        'attachment; filename="rapport _final_ _.txt"; '
        "filename*=UTF-8''rapport%20%22final%22%20%C3%A9.txt"
    )


def test_a_deleted_message_takes_its_files_along(start: Start) -> None:
    server = start()
    alice = joined(server, "alice", "pics")
    files = [uploaded(server, "alice", "pics", f"{i}.png", PNG) for i in range(2)]
    message = sent(alice, "pics", "two", [f["id"] for f in files])
    assert [f["id"] for f in message["files"]] == [f["id"] for f in files]
    send(alice, type="delete", room="pics", id=message["id"])
    receive_until(alice, "deleted")
    for file in files:
        assert download(server, token_for(server, "alice"), file["id"])[0] == 404
    page = server.http("GET", "/api/rooms/pics/messages", token_for(server, "alice"))[1]
    assert page["messages"][-1]["deleted"] is True and "files" not in page["messages"][-1]


def test_a_backup_holds_the_files(server: RunningServer, tmp_path: Path) -> None:
    alice = joined(server, "alice", "pics")
    file = uploaded(server, "alice", "pics", "cat.png", PNG)
    sent(alice, "pics", "kept", [file["id"]])
    copy = tmp_path / "backup.db"
    taken = run_chatroom("backup", str(copy), "--data-dir", str(server.data_dir))
    assert taken.returncode == 0, taken.stderr
    restored = start_server(tmp_path / "restored", "--database", f"sqlite:///{copy}")
    try:
        status, body, _ = download(restored, token_for(restored, "bob"), file["id"])
        assert (status, body) == (200, PNG)
    finally:
        assert stop_server(restored) == 0


def peak_rss_reset(pid: int) -> int:
    """Reset the process's peak resident size to its current one (Linux);
    that size, in bytes."""
    with open(f"/proc/{pid}/clear_refs", "w") as clear:
        clear.write("5")
    return _status_kib(pid, "VmHWM") * 1024


def peak_rss(pid: int) -> int:
    return _status_kib(pid, "VmHWM") * 1024


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field}")


def raw_upload_head(server: RunningServer, token: str, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"POST /api/rooms/pics/files?name=big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


def test_files_past_the_limit_are_refused_as_they_pass_it_and_never_held(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path / "data")  # the default limit: 25 MiB
    try:
        joined(server, "alice", "pics")
        token = token_for(server, "alice")
        # 30 MiB declared: refused at once, after 1 MiB of it.
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(raw_upload_head(server, token, 30 * MIB) + bytes(MIB))
            assert sock.recv(65536).startswith(b"HTTP/1.1 413 ")

        # 30 MiB without a length (chunked): refused once 25 MiB have come,
        # with nothing of it left in the database.
        before = peak_rss_reset(server.process.pid)
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sent_bytes = 0

            def send_chunks() -> None:
                nonlocal sent_bytes
                piece = b"%x\r\n" % (256 * 1024) + os.urandom(256 * 1024) + b"\r\n"
                try:
                    sock.sendall(raw_upload_head(server, token, None))
                    while sent_bytes < 30 * MIB:
                        sock.sendall(piece)
                        sent_bytes += 256 * 1024
                except OSError:
                    pass

            sender = threading.Thread(target=send_chunks)
            sender.start()
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 413 "), answer
            assert peak_rss(server.process.pid) - before < 10 * MIB
            sender.join(TIMEOUT)
        with sqlite3.connect(tmp_path / "data" / "chatroom.db") as db:
            assert db.execute("SELECT COUNT(*) FROM file_chunks").fetchone() == (0,)
            assert db.execute("SELECT COUNT(*) FROM files").fetchone() == (0,)

        # 20 MiB: stored and served, and at no time in the server's memory.
        body = os.urandom(20 * MIB)
        before = peak_rss_reset(server.process.pid)
        file = uploaded(server, "alice", "pics", "big.bin", body)
        assert file["size"] == len(body)
        assert peak_rss(server.process.pid) - before < 10 * MIB
        before = peak_rss_reset(server.process.pid)
        status, got, _ = download(server, token, file["id"])
        assert status == 200 and got == body
        assert peak_rss(server.process.pid) - before < 10 * MIB
    finally:
        assert stop_server(server) == 0


def test_an_upload_cut_short_leaves_nothing_and_the_server_serving(
    server: RunningServer,
) -> None:
    joined(server, "alice", "pics")
    token = token_for(server, "alice")
    database = server.data_dir / "chatroom.db"

    def chunks_stored() -> int:
        with sqlite3.connect(database) as db:
            count: int = db.execute("SELECT COUNT(*) FROM file_chunks").fetchone()[0]
            return count

    def wait_for(done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not done():
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(raw_upload_head(server, token, 5 * MIB) + os.urandom(MIB))
        wait_for(lambda: chunks_stored() > 0, "no chunk written")
    wait_for(lambda: chunks_stored() == 0, "a broken upload left chunks behind")
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM files").fetchone() == (0,)
    assert uploaded(server, "alice", "pics", "after.png", PNG)["size"] == len(PNG)


def test_expect_100_continue_is_answered_only_for_an_upload_taken(server: RunningServer) -> None:
    joined(server, "alice", "pics")
    for user, answer in (("carol", b"HTTP/1.1 403 "), ("alice", b"HTTP/1.1 100 Continue\r\n")):
        head = raw_upload_head(server, token_for(server, user), len(PNG))
        head = head.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n")
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(head)
            assert sock.recv(65536).startswith(answer)
            if user == "alice":
                sock.sendall(PNG)
                assert sock.recv(65536).startswith(b"HTTP/1.1 201 ")


def test_uploads_count_against_a_rate_per_user(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--file-rate", "1", "--max-file-mib", "1")
    try:
        joined(server, "alice", "pics")
        assert upload(server, token_for(server, "alice"), "pics", "a.bin", bytes(700_000))[0] == 201
        status, answer, headers = upload(
            server, token_for(server, "alice"), "pics", "b", bytes(700_000)
        )
        assert (status, answer["error"]["code"]) == (429, "rate_limited")
        assert int(headers["Retry-After"]) > 0
        status, answer, _ = upload(server, token_for(server, "alice"), "pics", "c", bytes(MIB + 1))
        assert (status, answer["error"]["code"]) == (413, "too_large")
    finally:
        assert stop_server(server) == 0


def test_files_no_message_took_are_removed(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--unattached-file-ttl", "1")
    try:
        alice = joined(server, "alice", "pics")
        token = token_for(server, "alice")
        kept = uploaded(server, "alice", "pics", "kept.png", PNG)
        sent(alice, "pics", "kept", [kept["id"]])
        dropped = uploaded(server, "alice", "pics", "dropped.png", PNG)
        deadline = time.monotonic() + TIMEOUT
        while download(server, token, dropped["id"])[0] == 200:
            assert time.monotonic() < deadline, "an unattached file outlived its time"
            time.sleep(0.2)
        assert download(server, token, kept["id"])[0] == 200
        assert error_code(alice, type="send", room="pics", text="x", files=[dropped["id"]]) == (
            "not_found"
        )
    finally:
        assert stop_server(server) == 0


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_file_shared_on_one_node_is_served_by_another(
    cluster: Cluster,
    database: str,
    request: pytest.FixtureRequest,
) -> None:
    args: tuple[str, ...] = ()
    if database == "postgresql":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        args = ("--database", postgres.new_database())
    first, second = cluster(2, *args)
    alice = joined(first, "alice", "pics")
    bob = joined(second, "bob", "pics")
    file = uploaded(first, "alice", "pics", "cat.png", PNG)
    message = sent(alice, "pics", "look", [file["id"]])
    assert receive_until(bob, "message")["files"] == message["files"] == [file]
    status, body, headers = download(second, token_for(second, "bob"), file["id"])
    assert (status, body, headers["Content-Type"]) == (200, PNG, "image/png")
    # Edited on the first node, the message keeps its files on the second.
    send(alice, type="edit", room="pics", id=message["id"], text="look!")
    receive_until(bob, "edited")
    carol = hello(second, "carol", token_for(second, "carol"))
    send(carol, type="join", room="pics")
    history = receive_until(carol, "joined")["history"]
    assert history[-1]["files"] == [file] and history[-1]["text"] == "look!"
