"""Who new messages mention: the users the store knows among the names
their texts give with `@`, and which of those have the room among their
rooms (they are told)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatroom.domain import ChatMessage
from chatroom.domain.mentions import mention_candidates, mentioned
from chatroom.store.dialect import IN_CHUNK, Database


def resolve(
    db: Database, conn: Any, room: str, drafts: Sequence[ChatMessage]
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """For each draft: the users it mentions, and those of them to tell."""
    names = {name.lower() for draft in drafts for name in mention_candidates(draft.text)}
    if not names:
        return [((), ())] * len(drafts)
    known: dict[str, str] = {}
    for query in (
        "SELECT name FROM users WHERE lower(name)",
        "SELECT name FROM known_users WHERE key",
    ):
        for (name,) in db.select_in(conn, query, sorted(names)):
            known.setdefault(str(name).lower(), str(name))
    members = _members_among(db, conn, room, sorted(known))
    result = []
    for draft in drafts:
        users = mentioned(draft.text, known) if known else ()
        author = draft.user.lower()
        notify = tuple(u for u in users if u.lower() in members and u.lower() != author)
        result.append((users, notify))
    return result


def _members_among(db: Database, conn: Any, room: str, keys: list[str]) -> set[str]:
    """Which of the users `keys` (lower case) have `room` among their rooms."""
    members: set[str] = set()
    for start in range(0, len(keys), IN_CHUNK):
        chunk = keys[start : start + IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = db.execute(
            conn,
            f"SELECT user_key FROM user_rooms WHERE room_key = lower(?) AND user_key IN ({marks})",
            [room, *chunk],
        ).fetchall()
        members.update(str(key) for (key,) in rows)
    return members
