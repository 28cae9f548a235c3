"""The data dir and what chatroom writes there are for the server alone:
the dir 0700, every file 0600, whatever existed before."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_UMASK = 0o077  # files 0600, dirs 0700


def restrict_new_files() -> None:
    """Everything this process creates from now on is its user's alone."""
    os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if missing, and make it 0700 either way."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def private_files(*paths: Path) -> None:
    """Make those of `paths` that exist 0600 (made earlier, or by another program)."""
    for path in paths:
        try:
            os.chmod(path, 0o600)
        except FileNotFoundError:
            pass
