"""The database schema, as forward migrations, for both SQL dialects."""

from __future__ import annotations

from typing import Literal

from chatroom.store.search_index import POSTGRESQL_MIGRATION, SQLITE_MIGRATION

Dialect = Literal["sqlite", "postgresql"]


def _rooms_people_run(*, boolean: str, false: str) -> list[str]:
    """Migration 5, in a dialect's words for a boolean."""
    return [
        "ALTER TABLE rooms ADD COLUMN owner TEXT",
        f"ALTER TABLE rooms ADD COLUMN private {boolean} NOT NULL DEFAULT {false}",
        "ALTER TABLE rooms ADD COLUMN topic TEXT NOT NULL DEFAULT ''",
        """UPDATE rooms SET owner = (SELECT author FROM messages
            WHERE messages.room = rooms.name ORDER BY id LIMIT 1)""",
        *(
            f"""CREATE TABLE {table} (
                room_key TEXT NOT NULL,
                user_key TEXT NOT NULL,
                user_name TEXT NOT NULL,
                by_user TEXT NOT NULL,
                at_ms BIGINT NOT NULL,
                PRIMARY KEY (room_key, user_key)
            )"""
            for table in ("room_moderators", "room_invitations", "room_bans")
        ),
    ]


_INTEGERS: dict[Dialect, str] = {"sqlite": "INTEGER", "postgresql": "BIGINT"}
# A dialect's words for a big integer, a boolean, and false.
_WORDS: dict[Dialect, tuple[str, str, str]] = {
    "sqlite": ("INTEGER", "INTEGER", "0"),
    "postgresql": ("BIGINT", "BOOLEAN", "FALSE"),
}

# Each version's statements, applied in order in one transaction. A new
# version is appended; released ones never change.
_MIGRATIONS: dict[int, dict[Dialect, list[str]]] = {
    1: {
        "sqlite": [
            """CREATE TABLE users (
                name TEXT PRIMARY KEY,
                password_hash TEXT NOT NULL,
                created_ms INTEGER NOT NULL
            ) WITHOUT ROWID""",
            """CREATE TABLE messages (
                room TEXT NOT NULL,
                id INTEGER NOT NULL,
                author TEXT NOT NULL,
                body TEXT NOT NULL,
                ts INTEGER NOT NULL,
                PRIMARY KEY (room, id)
            ) WITHOUT ROWID""",
        ],
        "postgresql": [
            """CREATE TABLE users (
                name TEXT PRIMARY KEY,
                password_hash TEXT NOT NULL,
                created_ms BIGINT NOT NULL
            )""",
            """CREATE TABLE messages (
                room TEXT NOT NULL,
                id BIGINT NOT NULL,
                author TEXT NOT NULL,
                body TEXT NOT NULL,
                ts BIGINT NOT NULL,
                PRIMARY KEY (room, id)
            )""",
        ],
    },
    # Names unique without regard to case; rooms with their first spelling;
    # each user's rooms; client ids of sends; revoked tokens.
    2: {
        "sqlite": [
            "CREATE UNIQUE INDEX users_name_key ON users (lower(name))",
            """CREATE TABLE rooms (
                key TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                created_ms INTEGER NOT NULL
            ) WITHOUT ROWID""",
            """INSERT INTO rooms (key, name, created_ms)
                SELECT lower(room), room, MIN(ts) FROM messages GROUP BY room""",
            """CREATE TABLE user_rooms (
                user_key TEXT NOT NULL,
                room_key TEXT NOT NULL,
                joined_ms INTEGER NOT NULL,
                seen_id INTEGER NOT NULL,
                PRIMARY KEY (user_key, room_key)
            ) WITHOUT ROWID""",
            "ALTER TABLE messages ADD COLUMN cid TEXT",
            """CREATE UNIQUE INDEX messages_cid ON messages (room, author, cid)
                WHERE cid IS NOT NULL""",
            """CREATE TABLE revoked_tokens (
                jti TEXT PRIMARY KEY,
                expires_ms INTEGER NOT NULL
            ) WITHOUT ROWID""",
        ],
        "postgresql": [
            "CREATE UNIQUE INDEX users_name_key ON users (lower(name))",
            """CREATE TABLE rooms (
                key TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                created_ms BIGINT NOT NULL
            )""",
            """INSERT INTO rooms (key, name, created_ms)
                SELECT lower(room), room, MIN(ts) FROM messages GROUP BY room""",
            """CREATE TABLE user_rooms (
                user_key TEXT NOT NULL,
                room_key TEXT NOT NULL,
                joined_ms BIGINT NOT NULL,
                seen_id BIGINT NOT NULL,
                PRIMARY KEY (user_key, room_key)
            )""",
            "ALTER TABLE messages ADD COLUMN cid TEXT",
            """CREATE UNIQUE INDEX messages_cid ON messages (room, author, cid)
                WHERE cid IS NOT NULL""",
            """CREATE TABLE revoked_tokens (
                jti TEXT PRIMARY KEY,
                expires_ms BIGINT NOT NULL
            )""",
        ],
    },
    # Each room's last message id, handed out in the writing transaction, so
    # that several servers on one database number a room's messages as one.
    3: {
        "sqlite": [
            "ALTER TABLE rooms ADD COLUMN last_id INTEGER NOT NULL DEFAULT 0",
            """UPDATE rooms SET last_id =
                (SELECT COALESCE(MAX(id), 0) FROM messages WHERE messages.room = rooms.name)""",
        ],
        "postgresql": [
            "ALTER TABLE rooms ADD COLUMN last_id BIGINT NOT NULL DEFAULT 0",
            """UPDATE rooms SET last_id =
                (SELECT COALESCE(MAX(id), 0) FROM messages WHERE messages.room = rooms.name)""",
        ],
    },
    # Edit and delete: when a message's text last changed, and who deleted
    # it (its text is then erased; its id stays, so ids stay contiguous).
    4: {
        "sqlite": [
            "ALTER TABLE messages ADD COLUMN edited_ms INTEGER",
            "ALTER TABLE messages ADD COLUMN deleted_by TEXT",
        ],
        "postgresql": [
            "ALTER TABLE messages ADD COLUMN edited_ms BIGINT",
            "ALTER TABLE messages ADD COLUMN deleted_by TEXT",
        ],
    },
    # Rooms people run: an owner (rooms from before: their first message's
    # author), private rooms, topics; moderators, invitations and bans.
    5: {
        "sqlite": _rooms_people_run(boolean="INTEGER", false="0"),
        "postgresql": _rooms_people_run(boolean="BOOLEAN", false="FALSE"),
    },
    # Listing the private rooms a user may see: by their invitations, their
    # roles, and the rooms they own (see Database.private_rooms_of).
    6: {
        dialect: [
            "CREATE INDEX room_invitations_by_user ON room_invitations (user_key)",
            "CREATE INDEX room_moderators_by_user ON room_moderators (user_key)",
            "CREATE INDEX rooms_by_owner ON rooms (lower(owner))",
        ]
        for dialect in ("sqlite", "postgresql")
    },
    # Read markers: how far each user has read each of their rooms (NULL:
    # never said; unread counts then start from what they were present for).
    7: {
        "sqlite": ["ALTER TABLE user_rooms ADD COLUMN read_id INTEGER"],
        "postgresql": ["ALTER TABLE user_rooms ADD COLUMN read_id BIGINT"],
    },
    # Users known without an account (tokens minted elsewhere), for direct
    # messages: everyone who said hello, from their messages before this.
    8: {
        dialect: [
            f"""CREATE TABLE known_users (
                key TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                first_ms {integer} NOT NULL
            )""",
            """INSERT INTO known_users (key, name, first_ms)
                SELECT lower(author), MIN(author), MIN(ts) FROM messages GROUP BY lower(author)""",
        ]
        for dialect, integer in _INTEGERS.items()
    },
    # Server-wide bans and logouts (`python -m chatroom user ...`), with or
    # without an account: each server reads what changed every few seconds.
    9: {
        dialect: [
            f"""CREATE TABLE user_controls (
                key TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                banned {boolean} NOT NULL DEFAULT {false},
                not_before_ms {integer} NOT NULL DEFAULT 0,
                changed_ms {integer} NOT NULL
            )""",
            "CREATE INDEX user_controls_by_change ON user_controls (changed_ms)",
        ]
        for dialect, (integer, boolean, false) in _WORDS.items()
    },
    # Every name the server knows is known_users' (or has an account), so
    # that registering it is refused: owners, members, and names on a
    # room's lists before this (an invitation of an unknown name included).
    # An invitation is pending until the user joins the room (or declines).
    # When a message was last edited or deleted, for a reconnect's `changes`.
    10: {
        dialect: [
            f"ALTER TABLE messages ADD COLUMN changed_ms {integer}",
            "UPDATE messages SET changed_ms = edited_ms WHERE edited_ms IS NOT NULL",
            """CREATE INDEX messages_changed ON messages (room, changed_ms)
                WHERE changed_ms IS NOT NULL""",
            f"ALTER TABLE room_invitations ADD COLUMN accepted {boolean} NOT NULL DEFAULT {false}",
            """UPDATE room_invitations SET accepted = NOT accepted
                WHERE substr(room_key, 1, 1) = '@' OR EXISTS (
                SELECT 1 FROM user_rooms u WHERE u.user_key = room_invitations.user_key
                AND u.room_key = room_invitations.room_key)""",
            *(
                f"""INSERT INTO known_users (key, name, first_ms)
                    SELECT {key}, MIN({name}), MIN({at}) FROM {table} WHERE {name} IS NOT NULL
                    GROUP BY {key} ON CONFLICT DO NOTHING"""
                # (user_rooms last: it has no spelling, only the key)
                for table, key, name, at in (
                    ("rooms", "lower(owner)", "owner", "created_ms"),
                    ("room_moderators", "user_key", "user_name", "at_ms"),
                    ("room_invitations", "user_key", "user_name", "at_ms"),
                    ("room_bans", "user_key", "user_name", "at_ms"),
                    ("user_rooms", "user_key", "user_key", "joined_ms"),
                )
            ),
        ]
        for dialect, (integer, boolean, false) in _WORDS.items()
    },
    # Bots: accounts without a password, each with the account that answers
    # for it; messages say whether a bot (or a webhook) sent them.
    11: {
        dialect: [
            f"ALTER TABLE users ADD COLUMN bot {boolean} NOT NULL DEFAULT {false}",
            "ALTER TABLE users ADD COLUMN owner TEXT",
            f"ALTER TABLE messages ADD COLUMN bot {boolean} NOT NULL DEFAULT {false}",
            # (every server reads the bots every few seconds: few rows)
            "CREATE INDEX users_bots ON users (name) WHERE bot",
        ]
        for dialect, (_integer, boolean, false) in _WORDS.items()
    },
    # Webhooks: each room's hooks (the SHA-256 of the secret in a hook's
    # URL, never the secret; an outgoing hook's signing secret and target),
    # and the deliveries of outgoing hooks not yet made: a queue that
    # outlives the server, which every server on the database claims from.
    12: {
        dialect: [
            f"""CREATE TABLE hooks (
                id TEXT PRIMARY KEY,
                room_key TEXT NOT NULL,
                room_name TEXT NOT NULL,
                name TEXT NOT NULL,
                kind TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                signing_secret TEXT,
                target TEXT,
                created_by TEXT NOT NULL,
                created_ms {integer} NOT NULL,
                disabled {boolean} NOT NULL DEFAULT {false}
            )""",
            "CREATE INDEX hooks_by_room ON hooks (room_key)",
            f"""CREATE TABLE hook_deliveries (
                id TEXT PRIMARY KEY,
                hook_id TEXT NOT NULL,
                body TEXT NOT NULL,
                attempts {integer} NOT NULL DEFAULT 0,
                next_attempt_ms {integer} NOT NULL,
                created_ms {integer} NOT NULL,
                claim TEXT
            )""",
            "CREATE INDEX hook_deliveries_due ON hook_deliveries (next_attempt_ms)",
            "CREATE INDEX hook_deliveries_by_hook ON hook_deliveries (hook_id)",
        ]
        for dialect, (integer, boolean, false) in _WORDS.items()
    },
    # Files shared in rooms: each upload (its size unknown until it has all
    # come), its bytes in chunks, and the message it went out with; a
    # message keeps its files' descriptions (JSON) beside its text.
    13: {
        dialect: [
            f"""CREATE TABLE files (
                id TEXT PRIMARY KEY,
                room_key TEXT NOT NULL,
                room_name TEXT NOT NULL,
                uploader TEXT NOT NULL,
                name TEXT NOT NULL,
                type TEXT NOT NULL,
                size {integer},
                inline_type TEXT,
                created_ms {integer} NOT NULL,
                message_id {integer}
            )""",
            "CREATE INDEX files_by_message ON files (room_key, message_id)",
            "CREATE INDEX files_unattached ON files (created_ms) WHERE message_id IS NULL",
            f"""CREATE TABLE file_chunks (
                file_id TEXT NOT NULL,
                seq {integer} NOT NULL,
                data {"BLOB" if dialect == "sqlite" else "BYTEA"} NOT NULL,
                PRIMARY KEY (file_id, seq)
            )""",
            "ALTER TABLE messages ADD COLUMN files TEXT",
        ]
        for dialect, (integer, _boolean, _false) in _WORDS.items()
    },
    # Search: a full-text index of messages' current text (search_index.py),
    # filled here with what an existing database holds.
    14: {"sqlite": SQLITE_MIGRATION, "postgresql": POSTGRESQL_MIGRATION},
    # An image's size, read from its header as it is uploaded: pages reserve
    # its room before it loads.
    15: {
        dialect: [
            "ALTER TABLE files ADD COLUMN width INTEGER",
            "ALTER TABLE files ADD COLUMN height INTEGER",
        ]
        for dialect in ("sqlite", "postgresql")
    },
    # Replies, mentions and reactions (JSON, NULL: never reacted to) beside
    # each message's text; rooms their owners archived.
    16: {
        dialect: [
            f"ALTER TABLE messages ADD COLUMN reply_to {integer}",
            "ALTER TABLE messages ADD COLUMN mentions TEXT",
            "ALTER TABLE messages ADD COLUMN reactions TEXT",
            # How many times the message was changed: servers that hear of
            # two changes out of order keep the later one.
            f"ALTER TABLE messages ADD COLUMN change_seq {integer} NOT NULL DEFAULT 0",
            f"ALTER TABLE rooms ADD COLUMN archived {boolean} NOT NULL DEFAULT {false}",
            # What the operator changed in rooms (`python -m chatroom room`),
            # by room: running servers read it every few seconds.
            f"""CREATE TABLE room_operations (
                key TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                at_ms {integer} NOT NULL
            )""",
        ]
        for dialect, (integer, boolean, false) in _WORDS.items()
    },
}
# From this version on, user and room names are unique without regard to case.
NAMES_FOLDED_FROM = 2

SCHEMA_VERSION = max(_MIGRATIONS)

CREATE_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_ms BIGINT NOT NULL
)"""


def migrations_after(version: int, dialect: Dialect) -> list[tuple[int, list[str]]]:
    """The migrations a database at `version` still needs, oldest first."""
    return [(v, _MIGRATIONS[v][dialect]) for v in sorted(_MIGRATIONS) if v > version]
