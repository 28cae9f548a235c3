"""The HMAC secret: CHATROOM_SECRET, or a file made once in the data dir."""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path

from chatroom.files import private_dir

SECRET_FILE = "secret.key"
MIN_SECRET_BYTES = 32  # HS256 wants a key at least as long as its hash


class SecretError(Exception):
    """A secret chatroom refuses to sign with; the message says what to do."""


def load_secret(data_dir: Path, env_secret: str | None = None) -> bytes:
    """Return the signing secret, creating `<data_dir>/secret.key` (0600) on first use."""
    if env_secret:  # set and not empty
        secret = env_secret.encode("utf-8")
        if len(secret) < MIN_SECRET_BYTES:
            raise SecretError(
                f"CHATROOM_SECRET is {len(secret)} bytes; use at least {MIN_SECRET_BYTES} "
                "random bytes (for example: python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        return secret
    private_dir(data_dir)
    path = data_dir / SECRET_FILE
    if not path.exists():
        # Written aside and linked into place, so that two processes starting
        # together agree on one complete secret.
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".secret-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(secrets.token_urlsafe(48).encode("ascii"))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretError(
            f"{path} can be read by others (mode {mode:04o}); anyone who reads it can sign "
            f"in as anybody. Make it the server's alone (chmod 600 {path}), or delete it to "
            "make a new secret (every token then ends)."
        )
    secret = path.read_bytes().strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretError(
            f"{path} holds {len(secret)} bytes; at least {MIN_SECRET_BYTES} are needed. "
            "Delete it to make a new secret."
        )
    return secret
