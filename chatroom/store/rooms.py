"""Rooms: made and named, their settings and lists (moderators, bans,
invitations), and each user's rooms, remembered and forgotten."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from chatroom.domain import RoomSettings, direct_room_users
from chatroom.domain.rules import RoomRules
from chatroom.store.dialect import Database, now_ms
from chatroom.store.records import Invitation, Remembered, StoredRoom

MAX_PENDING_INVITATIONS = 100  # listed in a welcome, oldest first

# Of an invitation `i`: not acted on (joined, or declined) by a user not in
# the room, and not one of a direct room's two users' (they hold it anyway).
_PENDING = (
    "NOT i.accepted AND substr(i.room_key, 1, 1) <> '@' AND NOT EXISTS (SELECT 1 FROM "
    "user_rooms u WHERE u.user_key = i.user_key AND u.room_key = i.room_key)"
)


class RoomList(enum.Enum):
    """A room's lists of users, each a table of the same columns."""

    MODERATORS = "room_moderators"
    BANS = "room_bans"
    INVITATIONS = "room_invitations"


# Each list's statements, written out here once: SQL is never built from a
# caller's string (a list not among these is a KeyError).
_LISTED = {
    which: f"SELECT user_name FROM {which.value} WHERE room_key = lower(?) ORDER BY at_ms"
    for which in RoomList
}
_UNLIST = {
    which: f"DELETE FROM {which.value} WHERE room_key = lower(?) AND user_key = lower(?)"
    for which in RoomList
}
_LIST = {
    which: f"INSERT INTO {which.value} (room_key, user_key, user_name, by_user, at_ms) "
    "VALUES (lower(?), lower(?), ?, ?, ?)"
    for which in RoomList
}


def _stored_room(row: Sequence[Any]) -> StoredRoom:
    name, has_history, private = row
    return StoredRoom(str(name), bool(has_history), bool(private))


def all_rooms(db: Database, conn: Any) -> list[StoredRoom]:
    """Every room: names, history, privacy."""
    rows = db.execute(
        conn,
        "SELECT r.name, EXISTS (SELECT 1 FROM messages m WHERE m.room = r.name), r.private "
        "FROM rooms r",
    ).fetchall()
    return [StoredRoom(str(name), bool(history), bool(private)) for name, history, private in rows]


def privacy(db: Database, conn: Any, keys: Sequence[str]) -> list[StoredRoom]:
    """The rooms among `keys` (that exist): names, history, privacy."""
    query = "SELECT name, last_id > 0, private FROM rooms WHERE key"
    return [_stored_room(row) for row in db.select_in(conn, query, keys)]


def private_rooms_of(db: Database, conn: Any, user: str) -> list[str]:
    """The private rooms `user` may join: owns, runs, or is invited to
    (direct rooms: one of its two users)."""
    rows = db.execute(
        conn,
        "SELECT name FROM rooms WHERE private = ? AND (lower(owner) = lower(?) OR key IN ("
        "SELECT room_key FROM room_invitations WHERE user_key = lower(?) "
        "UNION SELECT room_key FROM room_moderators WHERE user_key = lower(?)))",
        (True, user, user, user),
    ).fetchall()
    return [str(name) for (name,) in rows]


def create_room(db: Database, conn: Any, name: str, owner: str | None = None) -> str:
    """The room's name as first spelled, creating the room (owned by
    `owner`) if it is new."""
    db.execute(
        conn,
        "INSERT INTO rooms (key, name, created_ms, owner) VALUES (lower(?), ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (name, name, now_ms(), owner),
    )
    row = db.execute(conn, "SELECT name FROM rooms WHERE key = lower(?)", (name,))
    return str(row.fetchone()[0])


def make_room(db: Database, conn: Any, name: str, owner: str, *, private: bool, topic: str) -> bool:
    """Create the room; False if a room of that name (in any case) exists."""
    cursor = db.execute(
        conn,
        "INSERT INTO rooms (key, name, created_ms, owner, private, topic) "
        "VALUES (lower(?), ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (name, name, now_ms(), owner, private, topic),
    )
    return bool(cursor.rowcount)


def make_direct_room(db: Database, conn: Any, name: str, users: Sequence[str]) -> str:
    """The direct room `name` of `users` (as first spelled), made if new:
    private, owned by nobody, its two users invited and holding it among
    their rooms (outside their cap on rooms), so that it lists for both."""
    db.execute(
        conn,
        "INSERT INTO rooms (key, name, created_ms, private) VALUES (lower(?), ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (name, name, now_ms(), True),
    )
    for user in users:
        db.execute(  # (accepted: nobody is invited to a direct room to decline)
            conn,
            "INSERT INTO room_invitations "
            "(room_key, user_key, user_name, by_user, at_ms, accepted) "
            "VALUES (lower(?), lower(?), ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (name, user, user, user, now_ms(), True),
        )
        db.execute(
            conn,
            "INSERT INTO user_rooms (user_key, room_key, joined_ms, seen_id) "
            "VALUES (lower(?), lower(?), ?, 0) ON CONFLICT DO NOTHING",
            (user, name, now_ms()),
        )
    row = db.execute(conn, "SELECT name FROM rooms WHERE key = lower(?)", (name,))
    return str(row.fetchone()[0])


def room_settings(db: Database, conn: Any, room: str) -> RoomSettings | None:
    """Who runs the room and who may come in; None if it does not exist."""
    row = db.execute(
        conn, "SELECT private, owner, topic, archived FROM rooms WHERE key = lower(?)", (room,)
    ).fetchone()
    if row is None:
        return None
    private, owner, topic, archived = row

    def users(which: RoomList) -> list[str]:
        rows = db.execute(conn, _LISTED[which], (room,)).fetchall()
        return [user for (user,) in rows]

    moderators = users(RoomList.MODERATORS)
    rules = RoomRules(
        private=bool(private),
        owner=None if owner is None else owner.lower(),
        moderators=frozenset(m.lower() for m in moderators),
        banned=frozenset(u.lower() for u in users(RoomList.BANS)),
        invited=frozenset(u.lower() for u in users(RoomList.INVITATIONS)),
        direct=direct_room_users(room) is not None,
        archived=bool(archived),
    )
    return RoomSettings(rules, owner, topic, moderators)


def set_topic(db: Database, conn: Any, room: str, topic: str) -> None:
    db.execute(conn, "UPDATE rooms SET topic = ? WHERE key = lower(?)", (topic, room))


def set_listed(
    db: Database, conn: Any, which: RoomList, room: str, user: str, by: str, listed: bool
) -> None:
    """`user` is on the room's list `which` from now on, or no longer."""
    db.execute(conn, _UNLIST[which], (room, user))
    if listed:
        db.execute(conn, _LIST[which], (room, user, user, by, now_ms()))


def invite(db: Database, conn: Any, room: str, user: str, by: str) -> bool:
    """Invite `user` to `room`; True if that made an invitation pending
    (news for them): False if one was pending already, or they are in
    the room (then it is theirs, acted on)."""
    in_room = (
        "EXISTS (SELECT 1 FROM user_rooms u WHERE u.user_key = lower(?) AND u.room_key = lower(?))"
    )
    cursor = db.execute(
        conn,
        "INSERT INTO room_invitations "
        "(room_key, user_key, user_name, by_user, at_ms, accepted) "
        f"VALUES (lower(?), lower(?), ?, ?, ?, {in_room}) "
        "ON CONFLICT (room_key, user_key) DO UPDATE "
        "SET by_user = excluded.by_user, at_ms = excluded.at_ms, accepted = ? "
        f"WHERE room_invitations.accepted AND NOT {in_room}",
        (room, user, user, by, now_ms(), user, room, False, user, room),
    )
    if cursor.rowcount != 1:
        return False
    row = db.execute(
        conn,
        f"SELECT 1 FROM room_invitations AS i WHERE i.room_key = lower(?) "
        f"AND i.user_key = lower(?) AND {_PENDING}",
        (room, user),
    ).fetchone()
    return row is not None


def decline(db: Database, conn: Any, room: str, user: str) -> bool:
    """Withdraw `user`'s pending invitation to `room`; False if there is none."""
    cursor = db.execute(
        conn,
        f"DELETE FROM room_invitations AS i WHERE i.room_key = lower(?) "
        f"AND i.user_key = lower(?) AND {_PENDING}",
        (room, user),
    )
    return bool(cursor.rowcount)


def pending_invitations(db: Database, conn: Any, user: str) -> list[Invitation]:
    """`user`'s invitations not yet acted on, oldest first."""
    rows = db.execute(
        conn,
        "SELECT r.name, i.by_user FROM room_invitations i JOIN rooms r ON r.key = i.room_key "
        f"WHERE i.user_key = lower(?) AND {_PENDING} ORDER BY i.at_ms LIMIT ?",
        (user, MAX_PENDING_INVITATIONS),
    ).fetchall()
    return [Invitation(str(room), str(by)) for room, by in rows]


def remember_room(db: Database, conn: Any, user: str, room: str, max_rooms: int) -> Remembered:
    """`room` is one of `user`'s rooms from now on, read up to its last
    message; else (and nothing written) "full" if they have `max_rooms`
    others (direct rooms are not counted, and never refused), "banned" or
    "uninvited" if the room's rules as stored keep them out (as policy.py
    decides), so that a refused join leaves nothing to forget."""
    rules = db.execute(
        conn,
        "SELECT EXISTS (SELECT 1 FROM room_bans b "
        "  WHERE b.room_key = r.key AND b.user_key = lower(?)), "
        " r.private AND lower(COALESCE(r.owner, '')) <> lower(?) "
        " AND NOT EXISTS (SELECT 1 FROM room_invitations i "
        "  WHERE i.room_key = r.key AND i.user_key = lower(?)) "
        " AND NOT EXISTS (SELECT 1 FROM room_moderators m "
        "  WHERE m.room_key = r.key AND m.user_key = lower(?)) "
        "FROM rooms r WHERE r.key = lower(?)",
        (user, user, user, user, room),
    ).fetchone()
    if rules is not None and rules[0]:
        return "banned"
    if rules is not None and rules[1]:
        return "uninvited"
    db.execute(
        conn,
        "INSERT INTO user_rooms (user_key, room_key, joined_ms, seen_id) "
        "SELECT lower(?), lower(?), ?, "
        "(SELECT COALESCE(MAX(id), 0) FROM messages "
        " WHERE room = (SELECT name FROM rooms WHERE key = lower(?))) "
        "WHERE ((SELECT COUNT(*) FROM user_rooms WHERE user_key = lower(?) "
        "AND substr(room_key, 1, 1) <> '@') < ? OR substr(?, 1, 1) = '@') "
        "ON CONFLICT DO NOTHING",
        (user, room, now_ms(), room, user, max_rooms, room),
    )
    row = db.execute(
        conn,
        "SELECT 1 FROM user_rooms WHERE user_key = lower(?) AND room_key = lower(?)",
        (user, room),
    ).fetchone()
    if row is None:
        return "full"
    db.execute(  # acting on the invitation there, if any
        conn,
        "UPDATE room_invitations SET accepted = ? "
        "WHERE room_key = lower(?) AND user_key = lower(?)",
        (True, room, user),
    )
    return "remembered"


def forget_room(db: Database, conn: Any, user: str, room: str) -> bool:
    """False if `room` was not one of `user`'s rooms."""
    cursor = db.execute(
        conn,
        "DELETE FROM user_rooms WHERE user_key = lower(?) AND room_key = lower(?)",
        (user, room),
    )
    return bool(cursor.rowcount)
