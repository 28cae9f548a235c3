"""`python -m chatroom backup FILE`: a copy of the SQLite database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chatroom.cli.options import add_options
from chatroom.cli.state import database_url
from chatroom.store.backup import BackupError, BackupFailed, backup_database


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "backup",
        help="copy the SQLite database to FILE, while the server runs",
        description="Write a consistent copy of the SQLite database (the server may be "
        "running) to FILE, which must not exist. Serve from it with --database "
        "sqlite:///FILE. For PostgreSQL, use pg_dump.",
    )
    parser.add_argument("file", metavar="FILE", type=Path, help="the copy to write")
    add_options(parser, "backup")


def backup(args: argparse.Namespace) -> int:
    url = database_url(args.database_url, args.data_dir)
    try:
        pages = backup_database(url, args.file)
    except BackupError as exc:
        print(f"chatroom: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, BackupFailed) else 2
    print(f"chatroom: {pages} pages copied to {args.file}", file=sys.stderr)
    return 0
