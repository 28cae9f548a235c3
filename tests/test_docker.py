"""The container image, built from the project's Dockerfile and run as a user
would: health, two users chatting, `docker stop`, a new container on the same
volume, not root.

No base image can be pulled here, so a stand-in for python:3.11-slim is made
once from Debian packages (debootstrap, then `docker import`) and cached.
Everything runs with `--network host`: all traffic stays on loopback.
Skipped, with the reason, only where no Docker engine can be started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.blackbox import ROOT, Endpoint, close_code, hello, receive_until, send
from tests.postgres import free_port

BASE_ROOTFS_IMAGE = "chatroom-test-rootfs:bookworm"
BASE_IMAGE = "chatroom-test-base:bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
HEALTHY_WITHIN_S = 60
STOP_WITHIN_S = 10


def docker(
    *args: str, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return docker("info", check=False, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A running Docker engine: the machine's, or one started here and stopped after."""
    if engine_answers():
        yield
        return
    if shutil.which("dockerd") is None:
        pytest.skip("no Docker engine: dockerd is not installed (scripts/test installs docker.io)")
    log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(
            ["dockerd", "--bridge=none", "--iptables=false"], stdout=out, stderr=out
        )
    deadline = time.monotonic() + 60
    while not engine_answers():
        if daemon.poll() is not None or time.monotonic() > deadline:
            daemon.kill()
            pytest.skip(f"no Docker engine could start here: {log.read_text()[-2000:]}")
        time.sleep(0.5)
    yield
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(60)


def image_exists(name: str) -> bool:
    return docker("image", "inspect", name, check=False).returncode == 0


@pytest.fixture(scope="module")
def base_image(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    """python:3.11-slim's stand-in: Debian bookworm with python3 and venv, plus
    this host's CA bundle for pip. Built once per machine."""
    if not image_exists(BASE_ROOTFS_IMAGE):
        rootfs = tmp_path_factory.mktemp("rootfs")
        subprocess.run(
            [
                "debootstrap", "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm", str(rootfs), DEBIAN_MIRROR,
            ],
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "-", BASE_ROOTFS_IMAGE],
            stdin=tar.stdout, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        tar.wait()
        shutil.rmtree(rootfs, ignore_errors=True)
    if not image_exists(BASE_IMAGE):
        context = tmp_path_factory.mktemp("base")
        shutil.copy(CA_BUNDLE, context / "host-ca.crt")
        (context / "Dockerfile").write_text(
            f"FROM {BASE_ROOTFS_IMAGE}\n"
            "COPY host-ca.crt /etc/ssl/certs/host-ca.crt\n"
            "ENV PIP_CERT=/etc/ssl/certs/host-ca.crt\n"
        )
        docker("build", "--network", "host", "-t", BASE_IMAGE, str(context))
    return BASE_IMAGE


@pytest.fixture(scope="module")
def image(base_image: str) -> Iterator[str]:
    tag = "chatroom-test:latest"
    docker("build", "--network", "host", "--build-arg", f"BASE={base_image}", "-t", tag, str(ROOT))
    yield tag
    # Images stay (they make the next run fast) unless removal is asked for.
    if os.environ.get("CHATROOM_REMOVE_TEST_IMAGES"):
        docker("image", "rm", "--force", tag, check=False)


class Container:
    def __init__(self, image: str, volume: str) -> None:
        self.port = free_port()
        self.name = f"chatroom-test-{uuid.uuid4().hex[:8]}"
        docker(
            "run", "--detach", "--network", "host", "--name", self.name,
            "--env", f"CHATROOM_PORT={self.port}", "--volume", f"{volume}:/data", image,
        )  # fmt: skip
        self.server = Endpoint(self.port)

    def health(self) -> str:
        state = json.loads(docker("inspect", self.name).stdout)[0]["State"]
        return str(state.get("Health", {}).get("Status", state["Status"]))

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + HEALTHY_WITHIN_S
        while (status := self.health()) != "healthy":
            assert time.monotonic() < deadline, f"not healthy: {status}\n{self.logs()}"
            time.sleep(0.5)

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        docker("rm", "--force", self.name, check=False)


def register(server: Endpoint, user: str) -> str:
    status, body, _ = server.http(
        "POST", "/api/register", body={"username": user, "password": "container password"}
    )
    assert status == 201, body
    token: str = body["token"]
    return token


def test_the_image_runs_a_chat_that_survives_a_restart(image: str) -> None:
    volume = f"chatroom-test-{uuid.uuid4().hex[:8]}"
    docker("volume", "create", volume)
    containers: list[Container] = []
    try:
        first = Container(image, volume)
        containers.append(first)
        first.wait_healthy()
        ann, ben = register(first.server, "ann"), register(first.server, "ben")
        ann_ws, ben_ws = hello(first.server, "ann", ann), hello(first.server, "ben", ben)
        for ws in (ann_ws, ben_ws):
            send(ws, type="join", room="docker")
            receive_until(ws, "joined")
        send(ann_ws, type="send", room="docker", text="hello from a container")
        for ws in (ann_ws, ben_ws):
            assert receive_until(ws, "message")["text"] == "hello from a container"
        send(ben_ws, type="send", room="docker", text="hello back")
        for ws in (ann_ws, ben_ws):
            assert receive_until(ws, "message")["text"] == "hello back"

        user = docker("exec", first.name, "id", "-u").stdout.strip()
        assert user != "0"
        assert (
            docker("exec", first.name, "python", "-m", "pip", "--version", check=False).returncode
            != 0
        )

        started = time.monotonic()
        docker("stop", first.name, timeout=60)
        assert time.monotonic() - started < STOP_WITHIN_S
        assert close_code(ann_ws) == 1001
        assert close_code(ben_ws) == 1001
        state = json.loads(docker("inspect", first.name).stdout)[0]["State"]
        assert state["ExitCode"] == 0, first.logs()

        second = Container(image, volume)
        containers.append(second)
        second.wait_healthy()
        status, body, _ = second.server.http(
            "POST", "/api/login", body={"username": "ann", "password": "container password"}
        )
        assert status == 200
        ws = hello(second.server, "ann", body["token"])
        send(ws, type="join", room="docker")
        joined = receive_until(ws, "joined")
        assert [m["text"] for m in joined["history"]] == ["hello from a container", "hello back"]
        ws.close()
    finally:
        for container in containers:
            container.remove()
        docker("volume", "rm", "--force", volume, check=False)
