"""A real PostgreSQL server for tests: initdb + pg_ctl in a temporary directory,
on a free loopback port, run as the `postgres` user when we are root (initdb
refuses root)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import attrs
import psycopg


def _bin_dir() -> Path:
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if not versions:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return versions[-1].parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@attrs.define
class PostgresServer:
    base: Path
    port: int
    bin_dir: Path
    durable: bool = False
    _database_count: int = 0

    @classmethod
    def create(cls, *, durable: bool = False) -> PostgresServer:
        """A new server; `durable` keeps fsync on (benchmarks), tests run without."""
        base = Path(tempfile.mkdtemp(prefix="chatroom-pg-"))
        server = cls(base=base, port=free_port(), bin_dir=_bin_dir(), durable=durable)
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(base, account.pw_uid, account.pw_gid)
        server._run(
            "initdb", "-D", str(base / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        server.start()
        return server

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120, cwd=self.base)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run(
            "pg_ctl", "-D", str(self.base / "data"), "-o", options,
            "-l", str(self.base / "log"), "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.base / "data"), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        self._database_count += 1
        name = f"test_{self._database_count}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)
