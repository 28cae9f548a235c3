"""Messages: stored with their ids allocated in the writing transaction,
read back by id range or in pages, edited and deleted in place."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

from chatroom.domain import HISTORY_PAGE_BYTES, MAX_ID, ChatMessage, HistoryPage, encoded_size
from chatroom.domain.reactions import MessageChange, Reaction
from chatroom.store import files as files_db
from chatroom.store import mentions as mentions_db
from chatroom.store import reactions as reactions_db
from chatroom.store.dialect import COLUMNS, Database, message_of, message_row, now_ms
from chatroom.store.records import Change, Saved

CLOCK_MARGIN_MS = 60_000  # see changes_since
PAGE_READ_ROWS = 50  # rows read at a time for a page bounded in bytes


def insert_messages(db: Database, conn: Any, drafts: Sequence[ChatMessage]) -> list[Saved]:
    """Store `drafts` of one room (their ids are ignored), numbered after
    the room's last id, which this transaction holds locked: every server
    writing to this database numbers the room as one.

    A draft whose user already stored a message with its `cid` is not
    stored again: the stored message stands in its place and takes no id.
    Nor is one that answers (`reply_to`) a message its room does not have.
    A new message takes its files here (files.attach), in the same
    transaction: a file goes out with one message at most; and the users
    it mentions (mentions.resolve).
    """
    room = drafts[0].room
    stored = [
        None
        if draft.cid is None
        else db.execute(
            conn,
            f"SELECT {COLUMNS} FROM messages WHERE room = ? AND author = ? AND cid = ?",
            (draft.room, draft.user, draft.cid),
        ).fetchone()
        for draft in drafts
    ]
    answerable = _last_id(db, conn, room) if any(d.reply_to for d in drafts) else 0
    fresh = [
        row is None and (draft.reply_to is None or 0 < draft.reply_to <= answerable)
        for draft, row in zip(drafts, stored, strict=True)
    ]
    next_id = _allocate_ids(db, conn, room, sum(fresh)) if any(fresh) else 0
    new_drafts = [draft for draft, new in zip(drafts, fresh, strict=True) if new]
    mentions = mentions_db.resolve(db, conn, room, new_drafts)
    saved = []
    for draft, row, new in zip(drafts, stored, fresh, strict=True):
        if row is not None:
            saved.append(Saved(message_of(row), False))
        elif not new:
            saved.append(Saved(draft, False, no_reply_to=True))
        else:
            users, notify = mentions.pop(0)
            message = attrs.evolve(draft, id=next_id, mentions=users)
            if message.files:
                message = attrs.evolve(message, files=files_db.attach(db, conn, message))
            saved.append(Saved(message, True, notify))
            next_id += 1
    marks = ", ".join("?" * len(COLUMNS.split(",")))
    insert = db.sql(f"INSERT INTO messages ({COLUMNS}) VALUES ({marks})")
    conn.cursor().executemany(insert, [message_row(s.message) for s in saved if s.new])
    return saved


def _last_id(db: Database, conn: Any, room: str) -> int:
    """The room's last message id, from its row (0: no row yet)."""
    row = db.execute(conn, "SELECT last_id FROM rooms WHERE key = lower(?)", (room,)).fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def _allocate_ids(db: Database, conn: Any, room: str, count: int) -> int:
    """The first of `count` new ids in `room`; its row stays locked until
    the transaction ends."""
    row = db.execute(
        conn,
        "INSERT INTO rooms (key, name, created_ms, last_id) VALUES (lower(?), ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET last_id = rooms.last_id + ? RETURNING last_id",
        (room, room, now_ms(), count, count),
    ).fetchone()
    return int(row[0]) - count + 1


def between(
    db: Database, conn: Any, room: str, after: int, before: int, limit: int
) -> list[ChatMessage]:
    """At most `limit` messages with ids between `after` and `before`, oldest first."""
    rows = db.execute(
        conn,
        f"SELECT {COLUMNS} FROM messages WHERE room = ? AND id > ? AND id < ? ORDER BY id LIMIT ?",
        (room, after, before, limit),
    ).fetchall()
    return [message_of(row) for row in rows]


def change_message(
    db: Database,
    conn: Any,
    room: str,
    message_id: int,
    by: str,
    text: str | None,
    any_author: bool,
) -> Change:
    """Edit (`text`) or delete (None: the text is erased, the id kept) a
    message of `by`'s, or of anyone's with `any_author`, atomically."""
    params: list[Any]
    if text is None:
        change, params = "body = '', files = NULL, deleted_by = ?, changed_ms = ?", [by, now_ms()]
    else:
        now = now_ms()
        # Whom it mentions follows its text (nobody newly named is told).
        edited = ChatMessage(room, message_id, by, text, now)
        ((users, _notify),) = mentions_db.resolve(db, conn, room, [edited])
        mentions = json.dumps(list(users)) if users else None
        change = "body = ?, edited_ms = ?, changed_ms = ?, mentions = ?"
        params = [text, now, now, mentions]
    change += ", change_seq = change_seq + 1"
    row = db.execute(
        conn,
        f"UPDATE messages SET {change} WHERE room = ? AND id = ? AND deleted_by IS NULL "
        f"AND (lower(author) = lower(?) OR ?) RETURNING {COLUMNS}",
        [*params, room, message_id, by, any_author],
    ).fetchone()
    if row is not None:
        if text is None:
            files_db.delete_attached(db, conn, room, message_id)
        return Change(message_of(row), True)
    found = db.execute(
        conn,
        "SELECT 1 FROM messages WHERE room = ? AND id = ? AND deleted_by IS NULL",
        (room, message_id),
    ).fetchone()
    return Change(None, found is not None)


def change_messages(
    db: Database, conn: Any, room: str, changes: Sequence[MessageChange]
) -> list[Change]:
    """Edits, deletes and reactions in `room`, in one job (so one commit,
    with whatever else waits); each as change_message or reactions.react decides."""
    return [
        reactions_db.react(db, conn, room, change)
        if isinstance(change, Reaction)
        else change_message(db, conn, room, *change)
        for change in changes
    ]


def changes_since(db: Database, conn: Any, room: str, since: int, limit: int) -> list[ChatMessage]:
    """Messages up to id `since` edited, deleted or reacted to since message
    `since` was sent, as they are now: the newest `limit` changes, oldest first.
    Servers' clocks differ (and step back): changes up to CLOCK_MARGIN_MS
    before are included too, as clients apply them idempotently."""
    rows = db.execute(
        conn,
        f"SELECT {COLUMNS} FROM messages WHERE room = ? AND id <= ? AND changed_ms >= "
        "(SELECT ts FROM messages WHERE room = ? AND id = ?) - ? "
        "ORDER BY changed_ms DESC LIMIT ?",
        (room, since, room, since, CLOCK_MARGIN_MS, limit),
    ).fetchall()
    return [message_of(row) for row in reversed(rows)]


def last_id(db: Database, conn: Any, room: str) -> int:
    row = db.execute(
        conn, "SELECT COALESCE(MAX(id), 0) FROM messages WHERE room = ?", (room,)
    ).fetchone()
    return int(row[0])


def last_ids(db: Database, conn: Any, keys: Sequence[str]) -> dict[str, int]:
    """The last committed id of each room (by key) that exists."""
    rows = db.select_in(conn, "SELECT key, last_id FROM rooms WHERE key", keys)
    return {key: int(last_id) for key, last_id in rows}


def page(
    db: Database, conn: Any, room: str, after: int, before: int | None, count: int, budget: int
) -> HistoryPage:
    """The newest messages with ids between `after` and `before`, oldest
    first: at most `count` of them and `budget` encoded bytes (at least
    one), read newest first a few at a time, so that a page of large
    messages reads little more than it gives; `more` if older ones in
    the range were left out."""
    kept: list[ChatMessage] = []
    size = 0
    ceiling = MAX_ID if before is None else before - 1
    while True:
        wanted = min(PAGE_READ_ROWS, count - len(kept)) + 1  # +1: are there more?
        rows = db.execute(
            conn,
            f"SELECT {COLUMNS} FROM messages WHERE room = ? AND id > ? AND id <= ? "
            "ORDER BY id DESC LIMIT ?",
            (room, after, ceiling, wanted),
        ).fetchall()
        for row in rows:
            if len(kept) == count:
                return HistoryPage(kept[::-1], more=True)
            message = message_of(row)
            size += encoded_size(message)
            if kept and size > budget:
                return HistoryPage(kept[::-1], more=True)
            kept.append(message)
        if len(rows) < wanted:
            return HistoryPage(kept[::-1], more=False)
        ceiling = kept[-1].id - 1


def history(
    db: Database,
    conn: Any,
    room: str,
    before: int | None,
    limit: int,
    *,
    max_bytes: int | None = None,
) -> list[ChatMessage]:
    """At most `limit` messages just before `before` (or the latest), oldest
    first, and at most `max_bytes` of them if given."""
    budget = MAX_ID if max_bytes is None else max_bytes
    return page(db, conn, room, 0, before, limit, budget).messages


def history_page(
    db: Database, conn: Any, room: str, before: int | None, limit: int, *, after: int = 0
) -> HistoryPage:
    """The newest messages between `after` and `before` (or the latest):
    at most `limit`, and HISTORY_PAGE_BYTES; `more` if older ones there
    were left out."""
    return page(db, conn, room, after, before, limit, HISTORY_PAGE_BYTES)
