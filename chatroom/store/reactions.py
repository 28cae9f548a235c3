"""Reactions, kept beside each message (its `reactions` column, JSON) and
changed in the room's write transaction: the row is read locked, changed
by domain/reactions.react, and written back with `changed_ms`, so that a
join's `changes` carries it (messages.changes_since)."""

from __future__ import annotations

from typing import Any

from chatroom.domain.reactions import Reaction, TooManyReactions, stored_reactions
from chatroom.domain.reactions import react as reacted
from chatroom.store.dialect import COLUMNS, Database, message_of, now_ms
from chatroom.store.records import Change


def react(db: Database, conn: Any, room: str, reaction: Reaction) -> Change:
    """Add or take back one user's reaction; the message as it is now
    (also when that changed nothing), or why not."""
    lock = " FOR UPDATE" if db.dialect == "postgresql" else ""
    row = db.execute(
        conn,
        f"SELECT {COLUMNS} FROM messages WHERE room = ? AND id = ? AND deleted_by IS NULL{lock}",
        (room, reaction.message_id),
    ).fetchone()
    if row is None:
        return Change(None, False)
    message = message_of(row)
    try:
        changed = reacted(message.reactions or (), reaction.emoji, reaction.user, reaction.on)
    except TooManyReactions as exc:
        return Change(None, True, str(exc))
    if changed is None:
        return Change(message, True, changed=False)
    row = db.execute(
        conn,
        "UPDATE messages SET reactions = ?, changed_ms = ?, change_seq = change_seq + 1 "
        f"WHERE room = ? AND id = ? "
        f"RETURNING {COLUMNS}",
        (stored_reactions(changed), now_ms(), room, reaction.message_id),
    ).fetchone()
    return Change(message_of(row), True)
