"""Rooms over time (1.2 "People and rooms"): handed to a new owner,
archived, listed for the operator, deleted with everything in them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from chatroom.store.dialect import Database, now_ms
from chatroom.store.rooms import RoomList, set_listed
from chatroom.store.users import known_user

T = TypeVar("T")


def set_archived(db: Database, conn: Any, room: str, archived: bool) -> bool:
    """False if there is no such room."""
    cursor = db.execute(
        conn, "UPDATE rooms SET archived = ? WHERE key = lower(?)", (archived, room)
    )
    return bool(cursor.rowcount)


def transfer(
    db: Database, conn: Any, room: str, user: str, by: str, by_owner: bool = False
) -> str | None:
    """`user` (an account, or a user who said hello) owns `room` from now
    on, and its owner until now is a moderator; the new owner's spelling,
    or None if no such user (or room), or (`by_owner`) if `by` is not the
    owner now (a server that had not heard of an earlier transfer yet)."""
    new_owner = known_user(db, conn, user)
    lock = " FOR UPDATE" if db.dialect == "postgresql" else ""
    query = f"SELECT owner FROM rooms WHERE key = lower(?){lock}"
    old = db.execute(conn, query, (room,)).fetchone()
    if new_owner is None or old is None:
        return None
    if by_owner and (old[0] or "").lower() != by.lower():
        return None
    db.execute(conn, "UPDATE rooms SET owner = ? WHERE key = lower(?)", (new_owner, room))
    for which in (RoomList.MODERATORS, RoomList.BANS):  # (nobody could unban an owner)
        set_listed(db, conn, which, room, new_owner, by, False)
    if old[0] is not None and old[0].lower() != new_owner.lower():
        set_listed(db, conn, RoomList.MODERATORS, room, old[0], by, True)
    return new_owner


def as_operator(db: Database, conn: Any, change: Callable[..., T], room: str, *args: Any) -> T:
    """`change(db, conn, room, *args)`, noted (if it did anything) in the same
    transaction for the servers running on the database to read."""
    done = change(db, conn, room, *args)
    if done:
        note_operation(db, conn, room)
    return done


def note_operation(db: Database, conn: Any, room: str) -> None:
    """The operator changed or deleted `room`: servers read it again."""
    db.execute(
        conn,
        "INSERT INTO room_operations (key, name, at_ms) VALUES (lower(?), ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET name = excluded.name, at_ms = excluded.at_ms",
        (room, room, now_ms()),
    )


def operations_since(db: Database, conn: Any, since_ms: int) -> list[tuple[str, int]]:
    """The rooms the operator changed at `since_ms` or later, with when."""
    rows = db.execute(
        conn, "SELECT name, at_ms FROM room_operations WHERE at_ms >= ?", (since_ms,)
    ).fetchall()
    return [(str(name), int(at)) for name, at in rows]


@attrs.frozen
class RoomSummary:
    """A room as the operator's `room list` shows it."""

    name: str
    owner: str | None
    private: bool
    archived: bool
    messages: int  # its last id: messages ever sent
    members: int  # users who have it among their rooms


def summaries(db: Database, conn: Any) -> list[RoomSummary]:
    rows = db.execute(
        conn,
        "SELECT r.name, r.owner, r.private, r.archived, r.last_id, "
        "(SELECT COUNT(*) FROM user_rooms u WHERE u.room_key = r.key) "
        "FROM rooms r ORDER BY r.key",
    ).fetchall()
    return [
        RoomSummary(str(name), owner, bool(private), bool(archived), int(last), int(members))
        for name, owner, private, archived, last, members in rows
    ]


# Everything a room holds, by table and the column naming it (its key, or its
# spelling where the table keeps that).
_HOLDINGS = (
    ("file_chunks", "file_id IN (SELECT id FROM files WHERE room_key = lower(?))"),
    ("files", "room_key = lower(?)"),
    ("hook_deliveries", "hook_id IN (SELECT id FROM hooks WHERE room_key = lower(?))"),
    ("hooks", "room_key = lower(?)"),
    ("messages", "room = (SELECT name FROM rooms WHERE key = lower(?))"),
    ("user_rooms", "room_key = lower(?)"),
    ("room_moderators", "room_key = lower(?)"),
    ("room_bans", "room_key = lower(?)"),
    ("room_invitations", "room_key = lower(?)"),
    ("rooms", "key = lower(?)"),
)


def delete_room(db: Database, conn: Any, room: str) -> bool:
    """Delete `room`, its messages, files, hooks and lists; False if none."""
    found = db.execute(conn, "SELECT 1 FROM rooms WHERE key = lower(?)", (room,)).fetchone()
    if found is None:
        return False
    for table, where in _HOLDINGS:
        db.execute(conn, f"DELETE FROM {table} WHERE {where}", (room,))
    return True
