"""Users: accounts and their passwords, server-wide controls (bans and
logouts), names known without an account, and what a session starts with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatroom.store.dialect import Database, now_ms
from chatroom.store.markers import user_rooms
from chatroom.store.records import Account, SessionStart, UserControl
from chatroom.store.rooms import pending_invitations
from chatroom.store.tokens import is_revoked


def create_user(
    db: Database, conn: Any, name: str, password_hash: str, *, adopt_known: bool = False
) -> bool:
    """False if the name is taken, in any case: by an account, or (unless
    `adopt_known`) by a user known without one, whose rooms and
    conversations an account of that name would inherit."""
    cursor = db.execute(
        conn,
        "INSERT INTO users (name, password_hash, created_ms) SELECT ?, ?, ? "
        "WHERE ? OR NOT EXISTS (SELECT 1 FROM known_users WHERE key = lower(?)) "
        "ON CONFLICT DO NOTHING",
        (name, password_hash, now_ms(), adopt_known, name),
    )
    return bool(cursor.rowcount == 1)


def create_bot(db: Database, conn: Any, name: str, owner: str) -> str | None:
    """A bot account called `name` (no password: it connects with tokens),
    answered for by `owner`, a user's account: the owner's spelling, or None
    if there is no such account. Raises NameTaken if an account, or a user
    known without one, has the name."""
    row = db.execute(
        conn, "SELECT name FROM users WHERE lower(name) = lower(?) AND NOT bot", (owner,)
    ).fetchone()
    if row is None:
        return None
    owner = str(row[0])
    cursor = db.execute(
        conn,
        "INSERT INTO users (name, password_hash, created_ms, bot, owner) "
        "SELECT ?, '', ?, ?, ? "
        "WHERE NOT EXISTS (SELECT 1 FROM known_users WHERE key = lower(?)) "
        "ON CONFLICT DO NOTHING",
        (name, now_ms(), True, owner, name),
    )
    if cursor.rowcount != 1:
        raise NameTaken(name)
    return owner


class NameTaken(Exception):
    """An account, or a user known without one, has that name already."""


def bots(db: Database, conn: Any) -> list[tuple[str, str]]:
    """Every bot and its owner."""
    rows = db.execute(conn, "SELECT name, owner FROM users WHERE bot").fetchall()
    return [(str(name), str(owner)) for name, owner in rows]


def password_hash(db: Database, conn: Any, name: str) -> tuple[str, str] | None:
    """The account's spelling of `name` and its password hash ('' for a bot,
    which has none)."""
    row = db.execute(
        conn, "SELECT name, password_hash FROM users WHERE lower(name) = lower(?)", (name,)
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def set_password(db: Database, conn: Any, name: str, password_hash: str) -> bool:
    """False if there is no account called `name` (or it is a bot's)."""
    cursor = db.execute(
        conn,
        "UPDATE users SET password_hash = ? WHERE lower(name) = lower(?) AND NOT bot",
        (password_hash, name),
    )
    return bool(cursor.rowcount == 1)


def accounts(db: Database, conn: Any) -> list[Account]:
    rows = db.execute(
        conn,
        "SELECT u.name, u.created_ms, c.banned, u.owner FROM users u "
        "LEFT JOIN user_controls c ON c.key = lower(u.name) ORDER BY lower(u.name)",
    ).fetchall()
    return [
        Account(str(name), int(created), bool(banned), None if owner is None else str(owner))
        for name, created, banned, owner in rows
    ]


def control_user(
    db: Database, conn: Any, name: str, *, banned: bool | None = None, logout: bool = False
) -> UserControl:
    """Ban or unban `name` (None: as before), or log out every token of
    theirs issued until now; the control as it now stands."""
    now = now_ms()
    row = db.execute(
        conn, "SELECT banned, not_before_ms FROM user_controls WHERE key = lower(?)", (name,)
    ).fetchone()
    was_banned, not_before = (bool(row[0]), int(row[1])) if row else (False, 0)
    control = UserControl(
        name,
        was_banned if banned is None else banned,
        now if logout else not_before,
        now,
    )
    db.execute(
        conn,
        "INSERT INTO user_controls (key, name, banned, not_before_ms, changed_ms) "
        "VALUES (lower(?), ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
        "name = excluded.name, banned = excluded.banned, "
        "not_before_ms = excluded.not_before_ms, changed_ms = excluded.changed_ms",
        (name, name, control.banned, control.not_before_ms, control.changed_ms),
    )
    return control


def user_controls_since(db: Database, conn: Any, changed_ms: int) -> list[UserControl]:
    """Bans and logouts changed after `changed_ms` (0: all of them)."""
    rows = db.execute(
        conn,
        "SELECT name, banned, not_before_ms, changed_ms FROM user_controls WHERE changed_ms > ?",
        (changed_ms,),
    ).fetchall()
    return [UserControl(str(n), bool(b), int(nb), int(c)) for n, b, nb, c in rows]


def start_session(
    db: Database,
    conn: Any,
    name: str,
    token_id: str | None,
    markers: Mapping[str, int],
) -> SessionStart:
    """The account's spelling of `name`, whether `token_id` is revoked,
    and (unless it is) the user's rooms and pending invitations, their
    unread counts from the newer of the stored read markers and `markers`
    (room key -> a marker not written yet: see ReadMarkerBuffer.unwritten)."""
    row = db.execute(
        conn, "SELECT name, owner FROM users WHERE lower(name) = lower(?)", (name,)
    ).fetchone()
    known = row is not None or _said_hello(db, conn, name)
    revoked = token_id is not None and is_revoked(db, conn, token_id)
    return SessionStart(
        user=name if row is None else str(row[0]),
        revoked=revoked,
        rooms=[] if revoked else user_rooms(db, conn, name, markers),
        invitations=[] if revoked else pending_invitations(db, conn, name),
        known=known,
        owner=None if row is None or row[1] is None else str(row[1]),
    )


def _said_hello(db: Database, conn: Any, name: str) -> bool:
    query = "SELECT 1 FROM known_users WHERE key = lower(?)"
    return db.execute(conn, query, (name,)).fetchone() is not None


def remember_user(db: Database, conn: Any, name: str) -> None:
    """`name` said hello without an account: known from now on."""
    db.execute(
        conn,
        "INSERT INTO known_users (key, name, first_ms) VALUES (lower(?), ?, ?) "
        "ON CONFLICT DO NOTHING",
        (name, name, now_ms()),
    )


def known_user(db: Database, conn: Any, name: str) -> str | None:
    """The spelling of the user called `name` (in any case), with an
    account or a past hello; None if there is none."""
    row = db.execute(
        conn,
        "SELECT name FROM users WHERE lower(name) = lower(?) "
        "UNION ALL SELECT name FROM known_users WHERE key = lower(?)",
        (name, name),
    ).fetchone()
    return None if row is None else str(row[0])


def directory(
    db: Database, conn: Any, prefix: str, after: str | None, limit: int
) -> list[tuple[str, bool]]:
    """At most `limit` users (name, bot) whose names start with `prefix`,
    without case, after `after`, by name in lower case: accounts, and the
    users known from a hello without one."""
    # Names are ASCII from [A-Za-z0-9_.-]: "~" sorts after every character
    # of one, and byte order is what "C" collates by (PostgreSQL's default
    # collation may be a locale's, which skips punctuation).
    collate = ' COLLATE "C"' if db.dialect == "postgresql" else ""
    rows = db.execute(
        conn,
        f"SELECT name, bot FROM (SELECT lower(name) AS key, name, bot FROM users "
        f"UNION ALL SELECT key, name, ? FROM known_users k WHERE NOT EXISTS "
        f"(SELECT 1 FROM users u WHERE lower(u.name) = k.key)) AS known "
        f"WHERE key{collate} >= ? AND key{collate} < ? AND key{collate} > ? "
        f"ORDER BY key{collate} LIMIT ?",
        (False, prefix.lower(), prefix.lower() + "~", (after or "").lower(), limit),
    ).fetchall()
    return [(str(name), bool(bot)) for name, bot in rows]
