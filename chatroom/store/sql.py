"""Blocking SQL over one DB-API connection, for SQLite and PostgreSQL alike.

Everything here runs in a worker thread (see store.py): nothing awaits.
Statements are written with `?` placeholders; PostgreSQL gets `%s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import attrs

from chatroom.domain import MAX_ID, ChatMessage, HistoryPage, direct_room_users, encoded_size
from chatroom.domain.rooms import RoomSettings
from chatroom.domain.rules import RoomRules
from chatroom.store.schema import (
    CREATE_VERSION_TABLE,
    NAMES_FOLDED_FROM,
    SCHEMA_VERSION,
    Dialect,
    migrations_after,
)

_COLUMNS = "room, id, author, body, ts, cid, edited_ms, deleted_by"
MAX_UNREAD = 1000  # unread counts stop here
MAX_PENDING_INVITATIONS = 100  # listed in a welcome, oldest first
CLOCK_MARGIN_MS = 60_000  # see Database.changes_since
PAGE_READ_ROWS = 50  # rows read at a time for a page bounded in bytes
IN_CHUNK = 500  # values per IN (...) query (SQLite allows 32,766 parameters)
# The PostgreSQL advisory lock that migrations hold: any number, the same in
# every chatroom ("chatroom" in ASCII).
MIGRATION_LOCK = 0x63686174726F6F6D


class SchemaTooNew(Exception):
    """The database was written by a newer chatroom; refuse to touch it."""


class NameClash(Exception):
    """Names that differ only by case, which the schema cannot take in."""


@attrs.frozen
class SavedRoom:
    """One of a user's rooms, with what arrived since the user was last there."""

    name: str
    unread: int
    read: int | None = None  # the user's read marker there, if they ever sent one


@attrs.frozen
class UserView:
    """What room listings show one user only."""

    private_rooms: list[str]  # names of the private rooms they may see
    unread: dict[str, int]  # room key -> unread count, for each of their rooms


@attrs.frozen
class ReadMarker:
    user: str
    room: str
    message_id: int


@attrs.frozen
class Invitation:
    """An invitation to a private room that its user has not acted on."""

    room: str
    by: str


@attrs.frozen
class SessionStart:
    """What a new session needs from the database."""

    user: str  # the account's spelling of the name, or the token's without an account
    revoked: bool
    rooms: list[SavedRoom]
    known: bool = True  # False: no account, and never said hello before
    invitations: list[Invitation] = attrs.field(factory=list)


@attrs.frozen
class UserControl:
    """A server-wide ban of one user, or a logout of their tokens issued
    before `not_before_ms` (0: none)."""

    name: str
    banned: bool
    not_before_ms: int
    changed_ms: int


@attrs.frozen
class Account:
    name: str
    created_ms: int
    banned: bool


@attrs.frozen
class Saved:
    """A message as committed: new, or the one already stored for its cid."""

    message: ChatMessage
    new: bool


def _row(m: ChatMessage) -> tuple[Any, ...]:
    return (m.room, m.id, m.user, m.text, m.ts, m.cid, m.edited, m.deleted_by)


def _stored_room(row: Sequence[Any]) -> StoredRoom:
    name, has_history, private = row
    return StoredRoom(str(name), bool(has_history), bool(private))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@attrs.define(eq=False)
class Job:
    """One unit of work in a write transaction, or one read; `error` if it
    failed alone."""

    run: Callable[[Any], object]
    result: object = None
    error: BaseException | None = None


def _message(row: Sequence[Any]) -> ChatMessage:
    room, id_, author, body, ts, cid, edited, deleted_by = row
    return ChatMessage(
        room=room,
        id=int(id_),
        user=author,
        text=body,
        ts=int(ts),
        cid=cid,
        edited=None if edited is None else int(edited),
        deleted_by=deleted_by,
    )


RoomList = Literal["room_moderators", "room_bans", "room_invitations"]


@attrs.frozen
class StoredRoom:
    name: str
    has_history: bool
    private: bool


@attrs.frozen
class Change:
    """An edit or delete: the message as it is now, or why not."""

    message: ChatMessage | None  # None: not changed
    found: bool  # whether the message exists (and is not deleted)


# What remember_room did.
Remembered = Literal["remembered", "full", "banned", "uninvited"]

# Of an invitation `i`: not acted on (joined, or declined) by a user not in
# the room, and not one of a direct room's two users' (they hold it anyway).
_PENDING = (
    "NOT i.accepted AND substr(i.room_key, 1, 1) <> '@' AND NOT EXISTS (SELECT 1 FROM "
    "user_rooms u WHERE u.user_key = i.user_key AND u.room_key = i.room_key)"
)

# An edit (text) or delete (None) of a message id by a user, who may change
# any author's messages or not: the arguments of Database.change_message.
MessageChange = tuple[int, str, str | None, bool]


@attrs.frozen
class Database:
    """How to connect, and the SQL chatroom runs, in one dialect."""

    dialect: Dialect
    connect: Callable[[], Any]
    # Exceptions that mean "the database cannot be reached or used now".
    unavailable: tuple[type[BaseException], ...]
    description: str
    # Reads at once, each on its connection in a worker thread.
    read_connections: int
    # Whether a connection is gone (closed by the server, say), not just a
    # query failed on it.
    broken: Callable[[Any], bool]

    def _sql(self, statement: str) -> str:
        return statement if self.dialect == "sqlite" else statement.replace("?", "%s")

    def _execute(self, conn: Any, statement: str, params: Sequence[Any] = ()) -> Any:
        cursor = conn.cursor()
        cursor.execute(self._sql(statement), params)
        return cursor

    def _begin(self, conn: Any) -> None:
        # IMMEDIATE takes SQLite's write lock up front instead of failing to
        # upgrade a read lock half-way through.
        self._execute(conn, "BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")

    def migrate(self, conn: Any) -> int:
        """Bring the schema up to date; return the version it had.

        Each migration is a transaction that reads the version under a lock,
        so servers starting together on a new database take turns: those that
        waited find the migrations done and go on.
        """
        found = None
        while True:
            self._begin(conn)
            try:
                if self.dialect == "postgresql":
                    # SQLite's BEGIN IMMEDIATE is lock enough; PostgreSQL would
                    # let two servers read version 0 and both create tables.
                    self._execute(conn, "SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
                self._execute(conn, CREATE_VERSION_TABLE)
                row = self._execute(conn, "SELECT MAX(version) FROM schema_migrations").fetchone()
                version = int(row[0]) if row and row[0] is not None else 0
                found = version if found is None else found
                if version > SCHEMA_VERSION:
                    raise SchemaTooNew(
                        f"{self.description} has schema version {version}, newer than this "
                        f"chatroom understands ({SCHEMA_VERSION}); run a newer chatroom or "
                        "another database"
                    )
                pending = migrations_after(version, self.dialect)
                if pending:
                    self._apply(conn, *pending[0])
                self._execute(conn, "COMMIT")
            except BaseException:
                self._rollback(conn)
                raise
            if not pending:
                return found

    def _apply(self, conn: Any, version: int, statements: list[str]) -> None:
        if version == NAMES_FOLDED_FROM:
            self._refuse_name_clashes(conn)
        for statement in statements:
            self._execute(conn, statement)
        self._execute(
            conn,
            "INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)",
            (version, _now_ms()),
        )

    def _refuse_name_clashes(self, conn: Any) -> None:
        clashes = []
        for what, query in (
            ("users", "SELECT name FROM users"),
            ("rooms", "SELECT DISTINCT room FROM messages"),
        ):
            by_key: dict[str, list[str]] = {}
            for (name,) in self._execute(conn, query).fetchall():
                by_key.setdefault(name.lower(), []).append(name)
            clashes += [
                f"{what} {' and '.join(map(repr, sorted(names)))}"
                for names in by_key.values()
                if len(names) > 1
            ]
        if clashes:
            raise NameClash(
                f"{self.description} holds names that differ only by case, which this "
                f"chatroom treats as one: {'; '.join(clashes)}. Rename or remove all but one "
                "of each (users in table users, rooms in table messages), then start again."
            )

    def _rollback(self, conn: Any) -> None:
        try:
            self._execute(conn, "ROLLBACK")
        except Exception:  # the connection may be gone; it is discarded anyway
            pass

    def run_jobs(self, conn: Any, jobs: list[Job]) -> None:
        """Run `jobs` in one transaction; a job that fails alone is rolled back alone.

        An `unavailable` error aborts the whole transaction and propagates.
        """
        self._begin(conn)
        try:
            for job in jobs:
                self._execute(conn, "SAVEPOINT job")
                try:
                    job.result = job.run(conn)
                except self.unavailable:
                    raise
                except Exception as exc:
                    self._execute(conn, "ROLLBACK TO SAVEPOINT job")
                    job.error = exc
                self._execute(conn, "RELEASE SAVEPOINT job")
            self._execute(conn, "COMMIT")
        except BaseException:
            self._rollback(conn)
            raise

    def run_reads(self, conn: Any, jobs: list[Job]) -> None:
        """Run each read of `jobs`, outside any transaction; each keeps its
        own result or error. Once the connection is broken, the rest fail
        without being tried."""
        for job in jobs:
            job.result, job.error = None, None
            if self.broken(conn):
                job.error = self.unavailable[0]("the connection is broken")
                continue
            try:
                job.result = job.run(conn)
            except Exception as exc:
                job.error = exc

    # -- messages -------------------------------------------------------------

    def insert_messages(self, conn: Any, drafts: Sequence[ChatMessage]) -> list[Saved]:
        """Store `drafts` of one room (their ids are ignored), numbered after
        the room's last id, which this transaction holds locked: every server
        writing to this database numbers the room as one.

        A draft whose user already stored a message with its `cid` is not
        stored again: the stored message stands in its place and takes no id.
        """
        stored = [
            None
            if draft.cid is None
            else self._execute(
                conn,
                f"SELECT {_COLUMNS} FROM messages WHERE room = ? AND author = ? AND cid = ?",
                (draft.room, draft.user, draft.cid),
            ).fetchone()
            for draft in drafts
        ]
        fresh = sum(row is None for row in stored)
        next_id = self._allocate_ids(conn, drafts[0].room, fresh) if fresh else 0
        saved = []
        for draft, row in zip(drafts, stored, strict=True):
            if row is not None:
                saved.append(Saved(_message(row), False))
            else:
                saved.append(Saved(attrs.evolve(draft, id=next_id), True))
                next_id += 1
        insert = self._sql(f"INSERT INTO messages ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        conn.cursor().executemany(insert, [_row(s.message) for s in saved if s.new])
        return saved

    def _allocate_ids(self, conn: Any, room: str, count: int) -> int:
        """The first of `count` new ids in `room`; its row stays locked until
        the transaction ends."""
        row = self._execute(
            conn,
            "INSERT INTO rooms (key, name, created_ms, last_id) VALUES (lower(?), ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET last_id = rooms.last_id + ? RETURNING last_id",
            (room, room, _now_ms(), count, count),
        ).fetchone()
        return int(row[0]) - count + 1

    def between(
        self, conn: Any, room: str, after: int, before: int, limit: int
    ) -> list[ChatMessage]:
        """At most `limit` messages with ids between `after` and `before`, oldest first."""
        rows = self._execute(
            conn,
            f"SELECT {_COLUMNS} FROM messages WHERE room = ? AND id > ? AND id < ? "
            "ORDER BY id LIMIT ?",
            (room, after, before, limit),
        ).fetchall()
        return [_message(row) for row in rows]

    def change_message(
        self,
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
            change, params = "body = '', deleted_by = ?, changed_ms = ?", [by, _now_ms()]
        else:
            now = _now_ms()
            change, params = "body = ?, edited_ms = ?, changed_ms = ?", [text, now, now]
        row = self._execute(
            conn,
            f"UPDATE messages SET {change} WHERE room = ? AND id = ? AND deleted_by IS NULL "
            f"AND (lower(author) = lower(?) OR ?) RETURNING {_COLUMNS}",
            [*params, room, message_id, by, any_author],
        ).fetchone()
        if row is not None:
            return Change(_message(row), True)
        found = self._execute(
            conn,
            "SELECT 1 FROM messages WHERE room = ? AND id = ? AND deleted_by IS NULL",
            (room, message_id),
        ).fetchone()
        return Change(None, found is not None)

    def changes_since(self, conn: Any, room: str, since: int, limit: int) -> list[ChatMessage]:
        """Messages up to id `since` edited or deleted since message `since`
        was sent, as they are now: the newest `limit` changes, oldest first.
        Servers' clocks differ (and step back): changes up to CLOCK_MARGIN_MS
        before are included too, as clients apply them idempotently."""
        rows = self._execute(
            conn,
            f"SELECT {_COLUMNS} FROM messages WHERE room = ? AND id <= ? AND changed_ms >= "
            "(SELECT ts FROM messages WHERE room = ? AND id = ?) - ? "
            "ORDER BY changed_ms DESC LIMIT ?",
            (room, since, room, since, CLOCK_MARGIN_MS, limit),
        ).fetchall()
        return [_message(row) for row in reversed(rows)]

    def room_settings(self, conn: Any, room: str) -> RoomSettings | None:
        """Who runs the room and who may come in; None if it does not exist."""
        row = self._execute(
            conn, "SELECT private, owner, topic FROM rooms WHERE key = lower(?)", (room,)
        ).fetchone()
        if row is None:
            return None
        private, owner, topic = row

        def users(table: str) -> list[str]:
            rows = self._execute(
                conn,
                f"SELECT user_name FROM {table} WHERE room_key = lower(?) ORDER BY at_ms",
                (room,),
            ).fetchall()
            return [user for (user,) in rows]

        moderators = users("room_moderators")
        rules = RoomRules(
            private=bool(private),
            owner=None if owner is None else owner.lower(),
            moderators=frozenset(m.lower() for m in moderators),
            banned=frozenset(u.lower() for u in users("room_bans")),
            invited=frozenset(u.lower() for u in users("room_invitations")),
            direct=direct_room_users(room) is not None,
        )
        return RoomSettings(rules, owner, topic, moderators)

    def set_topic(self, conn: Any, room: str, topic: str) -> None:
        self._execute(conn, "UPDATE rooms SET topic = ? WHERE key = lower(?)", (topic, room))

    def set_listed(
        self, conn: Any, table: RoomList, room: str, user: str, by: str, listed: bool
    ) -> None:
        """`user` is on the room's list (moderators, bans) from now on, or no longer."""
        self._execute(
            conn,
            f"DELETE FROM {table} WHERE room_key = lower(?) AND user_key = lower(?)",
            (room, user),
        )
        if listed:
            self._execute(
                conn,
                f"INSERT INTO {table} (room_key, user_key, user_name, by_user, at_ms) "
                "VALUES (lower(?), lower(?), ?, ?, ?)",
                (room, user, user, by, _now_ms()),
            )

    def invite(self, conn: Any, room: str, user: str, by: str) -> bool:
        """Invite `user` to `room`; True if that made an invitation pending
        (news for them): False if one was pending already, or they are in
        the room (then it is theirs, acted on)."""
        in_room = (
            "EXISTS (SELECT 1 FROM user_rooms u "
            "WHERE u.user_key = lower(?) AND u.room_key = lower(?))"
        )
        cursor = self._execute(
            conn,
            "INSERT INTO room_invitations "
            "(room_key, user_key, user_name, by_user, at_ms, accepted) "
            f"VALUES (lower(?), lower(?), ?, ?, ?, {in_room}) "
            "ON CONFLICT (room_key, user_key) DO UPDATE "
            "SET by_user = excluded.by_user, at_ms = excluded.at_ms, accepted = ? "
            f"WHERE room_invitations.accepted AND NOT {in_room}",
            (room, user, user, by, _now_ms(), user, room, False, user, room),
        )
        if cursor.rowcount != 1:
            return False
        row = self._execute(
            conn,
            f"SELECT 1 FROM room_invitations AS i WHERE i.room_key = lower(?) "
            f"AND i.user_key = lower(?) AND {_PENDING}",
            (room, user),
        ).fetchone()
        return row is not None

    def decline(self, conn: Any, room: str, user: str) -> bool:
        """Withdraw `user`'s pending invitation to `room`; False if there is none."""
        cursor = self._execute(
            conn,
            f"DELETE FROM room_invitations AS i WHERE i.room_key = lower(?) "
            f"AND i.user_key = lower(?) AND {_PENDING}",
            (room, user),
        )
        return bool(cursor.rowcount)

    def pending_invitations(self, conn: Any, user: str) -> list[Invitation]:
        """`user`'s invitations not yet acted on, oldest first."""
        rows = self._execute(
            conn,
            "SELECT r.name, i.by_user FROM room_invitations i JOIN rooms r ON r.key = i.room_key "
            f"WHERE i.user_key = lower(?) AND {_PENDING} ORDER BY i.at_ms LIMIT ?",
            (user, MAX_PENDING_INVITATIONS),
        ).fetchall()
        return [Invitation(str(room), str(by)) for room, by in rows]

    def last_ids(self, conn: Any, keys: Sequence[str]) -> dict[str, int]:
        """The last committed id of each room (by key) that exists."""
        rows = self._select_in(conn, "SELECT key, last_id FROM rooms WHERE key", keys)
        return {key: int(last_id) for key, last_id in rows}

    def _select_in(self, conn: Any, query: str, values: Sequence[str]) -> list[Any]:
        """The rows of `query` + " IN (values)", a chunk of values at a time."""
        rows: list[Any] = []
        for start in range(0, len(values), IN_CHUNK):
            chunk = values[start : start + IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows += self._execute(conn, f"{query} IN ({marks})", chunk).fetchall()
        return rows

    def last_id(self, conn: Any, room: str) -> int:
        row = self._execute(
            conn, "SELECT COALESCE(MAX(id), 0) FROM messages WHERE room = ?", (room,)
        ).fetchone()
        return int(row[0])

    def page(
        self, conn: Any, room: str, after: int, before: int | None, count: int, budget: int
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
            rows = self._execute(
                conn,
                f"SELECT {_COLUMNS} FROM messages WHERE room = ? AND id > ? AND id <= ? "
                "ORDER BY id DESC LIMIT ?",
                (room, after, ceiling, wanted),
            ).fetchall()
            for row in rows:
                if len(kept) == count:
                    return HistoryPage(kept[::-1], more=True)
                message = _message(row)
                size += encoded_size(message)
                if kept and size > budget:
                    return HistoryPage(kept[::-1], more=True)
                kept.append(message)
            if len(rows) < wanted:
                return HistoryPage(kept[::-1], more=False)
            ceiling = kept[-1].id - 1

    # -- users ------------------------------------------------------------------

    def create_user(
        self, conn: Any, name: str, password_hash: str, *, adopt_known: bool = False
    ) -> bool:
        """False if the name is taken, in any case: by an account, or (unless
        `adopt_known`) by a user known without one, whose rooms and
        conversations an account of that name would inherit."""
        cursor = self._execute(
            conn,
            "INSERT INTO users (name, password_hash, created_ms) SELECT ?, ?, ? "
            "WHERE ? OR NOT EXISTS (SELECT 1 FROM known_users WHERE key = lower(?)) "
            "ON CONFLICT DO NOTHING",
            (name, password_hash, _now_ms(), adopt_known, name),
        )
        return bool(cursor.rowcount == 1)

    def password_hash(self, conn: Any, name: str) -> tuple[str, str] | None:
        """The account's spelling of `name` and its password hash."""
        row = self._execute(
            conn, "SELECT name, password_hash FROM users WHERE lower(name) = lower(?)", (name,)
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def set_password(self, conn: Any, name: str, password_hash: str) -> bool:
        """False if there is no account called `name`."""
        cursor = self._execute(
            conn,
            "UPDATE users SET password_hash = ? WHERE lower(name) = lower(?)",
            (password_hash, name),
        )
        return bool(cursor.rowcount == 1)

    def accounts(self, conn: Any) -> list[Account]:
        rows = self._execute(
            conn,
            "SELECT u.name, u.created_ms, c.banned FROM users u "
            "LEFT JOIN user_controls c ON c.key = lower(u.name) ORDER BY lower(u.name)",
        ).fetchall()
        return [Account(str(name), int(created), bool(banned)) for name, created, banned in rows]

    def control_user(
        self, conn: Any, name: str, *, banned: bool | None = None, logout: bool = False
    ) -> UserControl:
        """Ban or unban `name` (None: as before), or log out every token of
        theirs issued until now; the control as it now stands."""
        now = _now_ms()
        row = self._execute(
            conn, "SELECT banned, not_before_ms FROM user_controls WHERE key = lower(?)", (name,)
        ).fetchone()
        was_banned, not_before = (bool(row[0]), int(row[1])) if row else (False, 0)
        control = UserControl(
            name,
            was_banned if banned is None else banned,
            now if logout else not_before,
            now,
        )
        self._execute(
            conn,
            "INSERT INTO user_controls (key, name, banned, not_before_ms, changed_ms) "
            "VALUES (lower(?), ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "name = excluded.name, banned = excluded.banned, "
            "not_before_ms = excluded.not_before_ms, changed_ms = excluded.changed_ms",
            (name, name, control.banned, control.not_before_ms, control.changed_ms),
        )
        return control

    def user_controls_since(self, conn: Any, changed_ms: int) -> list[UserControl]:
        """Bans and logouts changed after `changed_ms` (0: all of them)."""
        rows = self._execute(
            conn,
            "SELECT name, banned, not_before_ms, changed_ms FROM user_controls "
            "WHERE changed_ms > ?",
            (changed_ms,),
        ).fetchall()
        return [UserControl(str(n), bool(b), int(nb), int(c)) for n, b, nb, c in rows]

    def start_session(
        self,
        conn: Any,
        name: str,
        token_id: str | None,
        markers: Mapping[str, int] | None = None,
    ) -> SessionStart:
        row = self._execute(
            conn, "SELECT name FROM users WHERE lower(name) = lower(?)", (name,)
        ).fetchone()
        known = row is not None or self._said_hello(conn, name)
        revoked = token_id is not None and self.is_revoked(conn, token_id)
        return SessionStart(
            user=name if row is None else str(row[0]),
            revoked=revoked,
            rooms=[] if revoked else self.user_rooms(conn, name, markers),
            invitations=[] if revoked else self.pending_invitations(conn, name),
            known=known,
        )

    def _said_hello(self, conn: Any, name: str) -> bool:
        query = "SELECT 1 FROM known_users WHERE key = lower(?)"
        return self._execute(conn, query, (name,)).fetchone() is not None

    def remember_user(self, conn: Any, name: str) -> None:
        """`name` said hello without an account: known from now on."""
        self._execute(
            conn,
            "INSERT INTO known_users (key, name, first_ms) VALUES (lower(?), ?, ?) "
            "ON CONFLICT DO NOTHING",
            (name, name, _now_ms()),
        )

    def known_user(self, conn: Any, name: str) -> str | None:
        """The spelling of the user called `name` (in any case), with an
        account or a past hello; None if there is none."""
        row = self._execute(
            conn,
            "SELECT name FROM users WHERE lower(name) = lower(?) "
            "UNION ALL SELECT name FROM known_users WHERE key = lower(?)",
            (name, name),
        ).fetchone()
        return None if row is None else str(row[0])

    # -- rooms and each user's rooms ----------------------------------------------

    def rooms(self, conn: Any) -> list[StoredRoom]:
        rows = self._execute(
            conn,
            "SELECT r.name, EXISTS (SELECT 1 FROM messages m WHERE m.room = r.name), r.private "
            "FROM rooms r",
        ).fetchall()
        return [
            StoredRoom(str(name), bool(history), bool(private)) for name, history, private in rows
        ]

    def privacy(self, conn: Any, keys: Sequence[str]) -> list[StoredRoom]:
        """The rooms among `keys` (that exist): names, history, privacy."""
        query = "SELECT name, last_id > 0, private FROM rooms WHERE key"
        return [_stored_room(row) for row in self._select_in(conn, query, keys)]

    def private_rooms_of(self, conn: Any, user: str) -> list[str]:
        """The private rooms `user` may join: owns, runs, or is invited to
        (direct rooms: one of its two users)."""
        rows = self._execute(
            conn,
            "SELECT name FROM rooms WHERE private = ? AND (lower(owner) = lower(?) OR key IN ("
            "SELECT room_key FROM room_invitations WHERE user_key = lower(?) "
            "UNION SELECT room_key FROM room_moderators WHERE user_key = lower(?)))",
            (True, user, user, user),
        ).fetchall()
        return [str(name) for (name,) in rows]

    def create_room(self, conn: Any, name: str, owner: str | None) -> str:
        """The room's name as first spelled, creating the room (owned by
        `owner`) if it is new."""
        self._execute(
            conn,
            "INSERT INTO rooms (key, name, created_ms, owner) VALUES (lower(?), ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (name, name, _now_ms(), owner),
        )
        row = self._execute(conn, "SELECT name FROM rooms WHERE key = lower(?)", (name,))
        return str(row.fetchone()[0])

    def make_room(self, conn: Any, name: str, owner: str, private: bool, topic: str) -> bool:
        """Create the room; False if a room of that name (in any case) exists."""
        cursor = self._execute(
            conn,
            "INSERT INTO rooms (key, name, created_ms, owner, private, topic) "
            "VALUES (lower(?), ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (name, name, _now_ms(), owner, private, topic),
        )
        return bool(cursor.rowcount)

    def make_direct_room(self, conn: Any, name: str, users: Sequence[str]) -> str:
        """The direct room `name` of `users` (as first spelled), made if new:
        private, owned by nobody, its two users invited and holding it among
        their rooms (outside their cap on rooms), so that it lists for both."""
        self._execute(
            conn,
            "INSERT INTO rooms (key, name, created_ms, private) VALUES (lower(?), ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (name, name, _now_ms(), True),
        )
        for user in users:
            self._execute(  # (accepted: nobody is invited to a direct room to decline)
                conn,
                "INSERT INTO room_invitations "
                "(room_key, user_key, user_name, by_user, at_ms, accepted) "
                "VALUES (lower(?), lower(?), ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (name, user, user, user, _now_ms(), True),
            )
            self._execute(
                conn,
                "INSERT INTO user_rooms (user_key, room_key, joined_ms, seen_id) "
                "VALUES (lower(?), lower(?), ?, 0) ON CONFLICT DO NOTHING",
                (user, name, _now_ms()),
            )
        row = self._execute(conn, "SELECT name FROM rooms WHERE key = lower(?)", (name,))
        return str(row.fetchone()[0])

    def remember_room(self, conn: Any, user: str, room: str, max_rooms: int) -> Remembered:
        """`room` is one of `user`'s rooms from now on, read up to its last
        message; else (and nothing written) "full" if they have `max_rooms`
        others (direct rooms are not counted, and never refused), "banned" or
        "uninvited" if the room's rules as stored keep them out (as policy.py
        decides), so that a refused join leaves nothing to forget."""
        rules = self._execute(
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
        self._execute(
            conn,
            "INSERT INTO user_rooms (user_key, room_key, joined_ms, seen_id) "
            "SELECT lower(?), lower(?), ?, "
            "(SELECT COALESCE(MAX(id), 0) FROM messages "
            " WHERE room = (SELECT name FROM rooms WHERE key = lower(?))) "
            "WHERE ((SELECT COUNT(*) FROM user_rooms WHERE user_key = lower(?) "
            "AND substr(room_key, 1, 1) <> '@') < ? OR substr(?, 1, 1) = '@') "
            "ON CONFLICT DO NOTHING",
            (user, room, _now_ms(), room, user, max_rooms, room),
        )
        row = self._execute(
            conn,
            "SELECT 1 FROM user_rooms WHERE user_key = lower(?) AND room_key = lower(?)",
            (user, room),
        ).fetchone()
        if row is None:
            return "full"
        self._execute(  # acting on the invitation there, if any
            conn,
            "UPDATE room_invitations SET accepted = ? "
            "WHERE room_key = lower(?) AND user_key = lower(?)",
            (True, room, user),
        )
        return "remembered"

    def forget_room(self, conn: Any, user: str, room: str) -> bool:
        """False if `room` was not one of `user`'s rooms."""
        cursor = self._execute(
            conn,
            "DELETE FROM user_rooms WHERE user_key = lower(?) AND room_key = lower(?)",
            (user, room),
        )
        return bool(cursor.rowcount)

    def mark_seen(self, conn: Any, user: str, room: str, last_id: int) -> None:
        """`user` was present in `room` up to message `last_id`."""
        self._execute(
            conn,
            "UPDATE user_rooms SET seen_id = ? "
            "WHERE user_key = lower(?) AND room_key = lower(?) AND seen_id < ?",
            (last_id, user, room, last_id),
        )

    def user_rooms(
        self, conn: Any, user: str, markers: Mapping[str, int] | None = None
    ) -> list[SavedRoom]:
        """`user`'s rooms in the order joined, with their read markers and
        unread counts (at most MAX_UNREAD).

        Unread is what came after the read marker (the newer of the stored
        one and `markers`, room key -> a marker not written yet) or, for
        users whose clients never sent one, after what they were present
        for. Ids are contiguous and deleted messages keep theirs, so that is
        the last id less the marker: no messages are counted."""
        rows = self._execute(
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

    def user_view(self, conn: Any, user: str, markers: Mapping[str, int] | None = None) -> UserView:
        unread = {room.name.lower(): room.unread for room in self.user_rooms(conn, user, markers)}
        return UserView(self.private_rooms_of(conn, user), unread)

    def mark_read(self, conn: Any, markers: Sequence[ReadMarker]) -> None:
        """Move read markers forward (never back)."""
        for marker in markers:
            self._execute(
                conn,
                "UPDATE user_rooms SET read_id = ? WHERE user_key = lower(?) "
                "AND room_key = lower(?) AND (read_id IS NULL OR read_id < ?)",
                (marker.message_id, marker.user, marker.room, marker.message_id),
            )

    # -- revoked tokens -------------------------------------------------------------

    def revoke(self, conn: Any, token_id: str, expires_ms: int) -> None:
        now = _now_ms()
        self._execute(conn, "DELETE FROM revoked_tokens WHERE expires_ms < ?", (now,))
        self._execute(
            conn,
            "INSERT INTO revoked_tokens (jti, expires_ms) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (token_id, expires_ms),
        )

    def revoked_among(self, conn: Any, token_ids: Sequence[str]) -> set[str]:
        rows = self._select_in(conn, "SELECT jti FROM revoked_tokens WHERE jti", token_ids)
        return {row[0] for row in rows}

    def is_revoked(self, conn: Any, token_id: str) -> bool:
        row = self._execute(conn, "SELECT 1 FROM revoked_tokens WHERE jti = ?", (token_id,))
        return row.fetchone() is not None
