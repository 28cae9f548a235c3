"""A database chatroom cannot use: `serve` and every command that opens it
say so in one line naming the URL, without its password, and exit 2."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.blackbox import run_chatroom
from tests.postgres import PostgresServer, free_port

OPENING = [
    ("serve", "--port", "0"),
    ("serve", "--port", "0", "--workers", "2", "--broker", "redis://127.0.0.1:1/0"),
    ("user", "add", "alice"),
    ("user", "password", "alice"),
    ("user", "ban", "alice"),
    ("user", "unban", "alice"),
    ("user", "logout", "alice"),
    ("user", "list"),
]


def refusal(command: Sequence[str], url: str, tmp_path: Path) -> str:
    """What `command` says on `url`, which it must refuse with exit 2."""
    result = run_chatroom(
        *command,
        "--data-dir",
        str(tmp_path / "data"),
        "--database",
        url,
        stdin="a long enough password\n",
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", OPENING, ids=" ".join)
def test_an_unreachable_database_is_named_in_one_line(
    command: Sequence[str], tmp_path: Path
) -> None:
    port = free_port()
    line = refusal(command, f"postgresql://alice:hunter2@127.0.0.1:{port}/chat", tmp_path)
    assert f"chatroom: cannot open database postgresql://alice@127.0.0.1:{port}/chat: " in line
    assert "refused" in line
    assert "hunter2" not in line


@pytest.mark.parametrize("command", [("serve", "--port", "0"), ("user", "list")], ids=" ".join)
def test_a_role_that_does_not_exist_is_named(
    command: Sequence[str], postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.new_database().replace("postgres@", "mallory:hunter2@")
    line = refusal(command, url, tmp_path)
    assert f"cannot open database {url.replace(':hunter2', '')}: " in line
    assert 'role "mallory" does not exist' in line


def test_a_url_of_another_kind_and_a_file_that_cannot_be_made(tmp_path: Path) -> None:
    line = refusal(("serve", "--port", "0"), "mysql://root:hunter2@127.0.0.1/chat", tmp_path)
    assert "cannot open database mysql://root@127.0.0.1/chat: unsupported" in line
    assert "hunter2" not in line
    (tmp_path / "a-file").touch()
    url = f"sqlite:///{tmp_path / 'a-file' / 'chat.db'}"
    assert f"cannot open database {url}: " in refusal(("user", "list"), url, tmp_path)
