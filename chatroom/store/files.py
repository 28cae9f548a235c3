"""Files shared in rooms: each upload's row, its bytes in chunks (one write
per chunk, so that no transaction and no memory holds a whole file), the
message it is attached to, and what is removed with a message or unused.

A file is complete once its size is written (finish_file); until then it
cannot be attached or downloaded. Attaching happens in the transaction that
stores the message (messages.insert_messages), so a file goes out with one
message at most.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatroom.domain import ChatMessage, FileInfo
from chatroom.store.dialect import Database, now_ms
from chatroom.store.records import StoredFile

_FILE_COLUMNS = "id, name, size, type, room_name, uploader, inline_type, message_id, width, height"


def _stored_file(row: Sequence[Any]) -> StoredFile:
    file_id, name, size, kind, room, uploader, inline_type, message_id, width, height = row
    return StoredFile(
        FileInfo(file_id, name, int(size), kind, width, height),
        room=room,
        uploader=uploader,
        inline_type=inline_type,
        attached=message_id is not None,
    )


def is_member(db: Database, conn: Any, room: str, user: str) -> str | None:
    """The room's spelling if `room` is one of `user`'s rooms (joined and not
    left, kicked or banned since); None otherwise."""
    row = db.execute(
        conn,
        "SELECT r.name FROM rooms r JOIN user_rooms u ON u.room_key = r.key "
        "WHERE r.key = lower(?) AND u.user_key = lower(?)",
        (room, user),
    ).fetchone()
    return None if row is None else str(row[0])


def create_file(
    db: Database, conn: Any, file_id: str, room: str, uploader: str, name: str, kind: str
) -> None:
    """A new upload to `room` (which exists), with no bytes yet."""
    db.execute(
        conn,
        "INSERT INTO files (id, room_key, room_name, uploader, name, type, created_ms) "
        "SELECT ?, key, name, ?, ?, ?, ? FROM rooms WHERE key = lower(?)",
        (file_id, uploader, name, kind, now_ms(), room),
    )


def add_chunk(db: Database, conn: Any, file_id: str, seq: int, data: bytes) -> None:
    db.execute(
        conn, "INSERT INTO file_chunks (file_id, seq, data) VALUES (?, ?, ?)", (file_id, seq, data)
    )


def finish_file(
    db: Database,
    conn: Any,
    file_id: str,
    size: int,
    inline_type: str | None,
    sides: tuple[int, int] | None = None,
) -> StoredFile | None:
    """The upload has all come: `size` bytes, shown inline as `inline_type`
    (an image's type, by its content) or not at all (None); an image's
    width and height as its header says."""
    width, height = sides if inline_type is not None and sides is not None else (None, None)
    db.execute(
        conn,
        "UPDATE files SET size = ?, inline_type = ?, width = ?, height = ? WHERE id = ?",
        (size, inline_type, width, height, file_id),
    )
    return stored_file(db, conn, file_id)


def discard_file(db: Database, conn: Any, file_id: str) -> None:
    """An upload that failed or was refused half-way, with what it wrote."""
    db.execute(conn, "DELETE FROM file_chunks WHERE file_id = ?", (file_id,))
    db.execute(conn, "DELETE FROM files WHERE id = ?", (file_id,))


def stored_file(db: Database, conn: Any, file_id: str) -> StoredFile | None:
    """A complete file; None if there is none with that id (or not yet)."""
    row = db.execute(
        conn,
        f"SELECT {_FILE_COLUMNS} FROM files WHERE id = ? AND size IS NOT NULL",
        (file_id,),
    ).fetchone()
    return None if row is None else _stored_file(row)


def chunk(db: Database, conn: Any, file_id: str, seq: int) -> bytes | None:
    """The file's `seq`th chunk of bytes; None past its last."""
    row = db.execute(
        conn, "SELECT data FROM file_chunks WHERE file_id = ? AND seq = ?", (file_id, seq)
    ).fetchone()
    return None if row is None else bytes(row[0])


def attachable(
    db: Database, conn: Any, ids: Sequence[str], room: str, user: str, cid: str | None
) -> list[FileInfo]:
    """Of `ids`, in that order, the complete files `user` uploaded to `room`
    that no message has yet, or (a `send` repeated with its `cid`) that
    went out with `user`'s message of that `cid` there."""
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))  # (at most MAX_FILES_PER_MESSAGE)
    rows = db.execute(
        conn,
        f"SELECT {_FILE_COLUMNS} FROM files f WHERE f.room_key = lower(?) "
        "AND lower(f.uploader) = lower(?) AND f.size IS NOT NULL "
        "AND (f.message_id IS NULL OR EXISTS (SELECT 1 FROM messages m "
        "WHERE m.room = f.room_name AND m.id = f.message_id AND m.cid = ?)) "
        f"AND f.id IN ({marks})",
        (room, user, cid, *ids),
    ).fetchall()
    found = {row[0]: _stored_file(row).info for row in rows}
    return [found[i] for i in ids if i in found]


def attach(db: Database, conn: Any, message: ChatMessage) -> tuple[FileInfo, ...]:
    """Give `message` (numbered, not yet inserted) its files: those still
    free, uploaded to its room by its author. A file another message took
    meanwhile (two sends naming it at once) is left out."""
    attached = []
    for file in message.files:
        cursor = db.execute(
            conn,
            "UPDATE files SET message_id = ? WHERE id = ? AND room_key = lower(?) "
            "AND lower(uploader) = lower(?) AND message_id IS NULL AND size IS NOT NULL",
            (message.id, file.id, message.room, message.user),
        )
        if cursor.rowcount == 1:
            attached.append(file)
    return tuple(attached)


def delete_attached(db: Database, conn: Any, room: str, message_id: int) -> None:
    """The files of a message being deleted, bytes and all."""
    where = "WHERE room_key = lower(?) AND message_id = ?"
    db.execute(
        conn,
        f"DELETE FROM file_chunks WHERE file_id IN (SELECT id FROM files {where})",
        (room, message_id),
    )
    db.execute(conn, f"DELETE FROM files {where}", (room, message_id))


def remove_unattached(db: Database, conn: Any, created_before_ms: int, limit: int) -> int:
    """Remove at most `limit` files that no message took and that were
    uploaded (or began to be) before `created_before_ms`; how many."""
    rows = db.execute(
        conn,
        "SELECT id FROM files WHERE message_id IS NULL AND created_ms < ? LIMIT ?",
        (created_before_ms, limit),
    ).fetchall()
    for (file_id,) in rows:
        discard_file(db, conn, file_id)
    return len(rows)
