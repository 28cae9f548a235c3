"""The HMAC secret: CHATROOM_SECRET, or a file made once in the data dir."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

SECRET_FILE = "secret.key"


def load_secret(data_dir: Path, env_secret: str | None = None) -> bytes:
    """Return the signing secret, creating `<data_dir>/secret.key` (0600) on first use."""
    if env_secret:
        return env_secret.encode("utf-8")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
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
    secret = path.read_bytes().strip()
    if not secret:
        raise RuntimeError(f"{path} is empty; delete it to make a new secret")
    return secret
