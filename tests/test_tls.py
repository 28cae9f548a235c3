"""--tls-cert/--tls-key: HTTPS and wss:// on the one port, a certificate
reloaded on SIGHUP, and plain HTTP to that port gets no chat."""

from __future__ import annotations

import contextlib
import http.client
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.blackbox import (
    TIMEOUT,
    RunningServer,
    clean_env,
    receive_until,
    send,
    start_server,
    stop_server,
)
from tests.certificates import make_certificate, served_certificate

HTTPS_LISTENING = r"listening on https://127\.0\.0\.1:(\d+)"


def trusting(*certs: Path) -> ssl.SSLContext:
    context = ssl.create_default_context()
    for cert in certs:
        context.load_verify_locations(cert)
    return context


def wss(server: RunningServer, context: ssl.SSLContext, user: str) -> ClientConnection:
    ws = connect(
        f"wss://127.0.0.1:{server.port}/ws",
        ssl=context,
        open_timeout=TIMEOUT,
        max_size=None,
        legacy=True,
    )
    send(ws, type="hello", token=server.token(user))
    assert receive_until(ws, "welcome")["user"] == user
    return ws


def test_https_and_wss_and_a_certificate_reloaded(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path, "first")
    server = start_server(
        tmp_path / "data", "--tls-cert", str(cert), "--tls-key", str(key),
        "--send-rate", "1000", "--frame-rate", "1000", listening=HTTPS_LISTENING,
    )  # fmt: skip
    try:
        context = trusting(cert)
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        conn.close()
        env = clean_env() | {"CHATROOM_PORT": str(server.port), "CHATROOM_TLS_CERT": str(cert)}
        check = [sys.executable, "-m", "chatroom.healthcheck"]
        assert subprocess.run(check, env=env, capture_output=True, timeout=30).returncode == 0

        alice = wss(server, context, "alice")
        send(alice, type="join", room="secure")
        receive_until(alice, "joined")
        big = "x" * 3900
        for i in range(60):  # more than one TLS chunk of history for the next join
            send(alice, type="send", room="secure", text=f"{i} {big}")
            assert receive_until(alice, "message")["text"].startswith(f"{i} ")
        bob = wss(server, context, "bob")
        send(bob, type="join", room="secure", since=0)
        history = receive_until(bob, "joined")["history"]
        assert [m["text"][:3] for m in history][-2:] == ["58 ", "59 "]
        assert sum(len(m["text"]) for m in history) > 200_000

        # Plain HTTP to the TLS port gets no answer that is chat.
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as plain:
            plain.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            try:
                answer = plain.recv(1024)
            except ConnectionResetError:
                answer = b""
            assert not answer.startswith(b"HTTP/")

        # A renewed certificate: new connections get it, open ones go on.
        before = served_certificate(server)
        (tmp_path / "old.crt").write_bytes(cert.read_bytes())
        renewed_cert, renewed_key = make_certificate(tmp_path, "renewed")
        cert.write_bytes(renewed_cert.read_bytes())
        key.write_bytes(renewed_key.read_bytes())
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while served_certificate(server) == before:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        send(alice, type="send", room="secure", text="after the reload")
        assert receive_until(bob, "message")["text"] == "after the reload"
        carol = wss(server, trusting(renewed_cert), "carol")
        carol.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            wss(server, trusting(tmp_path / "old.crt"), "dave")
        alice.close()
        bob.close()
    finally:
        assert stop_server(server) == 0
    assert any("certificate reloaded" in line for line in server.log)


def test_a_certificate_without_its_key_is_refused_at_start(tmp_path: Path) -> None:
    cert, _key = make_certificate(tmp_path, "lonely")
    with pytest.raises(AssertionError, match="exited with 2"):
        start_server(tmp_path / "data", "--tls-cert", str(cert), listening=HTTPS_LISTENING)


def test_an_error_that_closes_a_tls_connection_is_read_whole(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path, "first")
    server = start_server(
        tmp_path / "data", "--tls-cert", str(cert), "--tls-key", str(key),
        listening=HTTPS_LISTENING,
    )  # fmt: skip
    try:
        head = (
            "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {1024 * 1024}\r\n\r\n"
        ).encode()
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as raw,
            trusting(cert).wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(head)
            # The body goes on past the limit, slowly, while the 413 goes out:
            # every byte of it is taken (LINGER_BYTES past the limit), then read.
            for _ in range(25):
                tls.sendall(b"x" * 4096)
                time.sleep(0.005)
            answer = b""
            with contextlib.suppress(ssl.SSLEOFError):
                while chunk := tls.recv(65536):
                    answer += chunk
        assert answer.startswith(b"HTTP/1.1 413 "), answer
    finally:
        assert stop_server(server) == 0
