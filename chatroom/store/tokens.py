"""Revoked tokens (by their jti), kept until they expire anyway."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatroom.store.dialect import Database, now_ms


def revoke(db: Database, conn: Any, token_id: str, expires_ms: int) -> None:
    now = now_ms()
    db.execute(conn, "DELETE FROM revoked_tokens WHERE expires_ms < ?", (now,))
    db.execute(
        conn,
        "INSERT INTO revoked_tokens (jti, expires_ms) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (token_id, expires_ms),
    )


def revoked_among(db: Database, conn: Any, token_ids: Sequence[str]) -> set[str]:
    rows = db.select_in(conn, "SELECT jti FROM revoked_tokens WHERE jti", token_ids)
    return {row[0] for row in rows}


def is_revoked(db: Database, conn: Any, token_id: str) -> bool:
    row = db.execute(conn, "SELECT 1 FROM revoked_tokens WHERE jti = ?", (token_id,))
    return row.fetchone() is not None
