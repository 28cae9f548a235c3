"""A real redis-server for tests, on a free loopback port, stopped by pid.

Nothing is saved to disk: a restart starts empty, as a Redis without
persistence does after a crash."""

from __future__ import annotations

import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import attrs

from tests.postgres import free_port

START_TIMEOUT = 10.0


@attrs.define
class RedisServer:
    port: int
    base: Path
    password: str | None = None
    certificate: tuple[Path, Path] | None = None  # TLS only: (cert, key)
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(
        cls, *, password: str | None = None, certificate: tuple[Path, Path] | None = None
    ) -> RedisServer:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        base = Path(tempfile.mkdtemp(prefix="chatroom-redis-"))
        server = cls(free_port(), base, password, certificate)
        server.start()
        return server

    @property
    def url(self) -> str:
        login = f":{self.password}@" if self.password is not None else ""
        if self.certificate is not None:
            return f"rediss://{login}127.0.0.1:{self.port}/0?ssl_ca_certs={self.certificate[0]}"
        return f"redis://{login}127.0.0.1:{self.port}/0"

    def _options(self) -> list[str]:
        options = ["--requirepass", self.password] if self.password is not None else []
        if self.certificate is None:
            return [*options, "--port", str(self.port)]
        cert, key = self.certificate
        return [
            *options, "--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert),
            "--tls-key-file", str(key), "--tls-auth-clients", "no",
        ]  # fmt: skip

    def _answers(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as plain:
            sock = plain
            if self.certificate is not None:
                context = ssl.create_default_context(cafile=self.certificate[0])
                sock = context.wrap_socket(plain, server_hostname="127.0.0.1")
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))

    def start(self) -> None:
        assert self.process is None
        self.process = subprocess.Popen(
            [
                "redis-server", *self._options(), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.base), "--logfile", str(self.base / "log"),
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if self._answers():
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start: {(self.base / 'log').read_text()}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is not None:
            self.process.send_signal(sig)
            self.process.wait(START_TIMEOUT)
            self.process = None

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
