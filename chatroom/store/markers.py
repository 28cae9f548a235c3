"""Where each user got to in their rooms: read markers (sent by clients),
what they were present for, and the unread counts that follow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chatroom.store.dialect import Database
from chatroom.store.records import ReadMarker, SavedRoom, UserView
from chatroom.store.rooms import private_rooms_of

MAX_UNREAD = 1000  # unread counts stop here


def mark_seen(db: Database, conn: Any, user: str, room: str, last_id: int) -> None:
    """`user` was present in `room` up to message `last_id`."""
    db.execute(
        conn,
        "UPDATE user_rooms SET seen_id = ? "
        "WHERE user_key = lower(?) AND room_key = lower(?) AND seen_id < ?",
        (last_id, user, room, last_id),
    )


def mark_read(db: Database, conn: Any, markers: Sequence[ReadMarker]) -> None:
    """Move read markers forward (never back)."""
    for marker in markers:
        db.execute(
            conn,
            "UPDATE user_rooms SET read_id = ? WHERE user_key = lower(?) "
            "AND room_key = lower(?) AND (read_id IS NULL OR read_id < ?)",
            (marker.message_id, marker.user, marker.room, marker.message_id),
        )


def user_rooms(
    db: Database, conn: Any, user: str, markers: Mapping[str, int] | None = None
) -> list[SavedRoom]:
    """`user`'s rooms in the order joined, with their read markers and
    unread counts (at most MAX_UNREAD).

    Unread is what came after the read marker (the newer of the stored
    one and `markers`, room key -> a marker not written yet) or, for
    users whose clients never sent one, after what they were present
    for. Ids are contiguous and deleted messages keep theirs, so that is
    the last id less the marker: no messages are counted."""
    rows = db.execute(
        conn,
        "SELECT r.name, u.read_id, u.seen_id, r.last_id "
        "FROM user_rooms u JOIN rooms r ON r.key = u.room_key "
        "WHERE u.user_key = lower(?) ORDER BY u.joined_ms, r.key",
        (user,),
    ).fetchall()
    saved = []
    for name, stored_read, seen, last_id in rows:
        newer = (markers or {}).get(str(name).lower())
        read = stored_read if newer is None else max(newer, stored_read or 0)
        unread = int(last_id) - int(seen if read is None else read)
        saved.append(
            SavedRoom(
                str(name), min(MAX_UNREAD, max(0, unread)), None if read is None else int(read)
            )
        )
    return saved


def user_view(db: Database, conn: Any, user: str, markers: Mapping[str, int]) -> UserView:
    """What a listing shows only to `user`: private rooms, unread counts
    (from the newer of the stored read markers and `markers`)."""
    unread = {room.name.lower(): room.unread for room in user_rooms(db, conn, user, markers)}
    rows = db.execute(conn, "SELECT key FROM rooms WHERE archived").fetchall()
    return UserView(private_rooms_of(db, conn, user), unread, frozenset(k for (k,) in rows))
