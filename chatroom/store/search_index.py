"""The full-text index of messages, as schema migration 14 makes it (see
schema.py; released, so never changed: a change is a new migration).

SQLite: an FTS5 table with external content (the text stays in `messages`
only), kept by triggers, so that a message, its edit and its deletion
change the index in the same transaction. FTS5 wants an integer rowid,
and messages are keyed by (room, id): each room gets a number
(`rooms.search_key`, given by a trigger as rooms are made), and a
message's rowid in the index is that number times 2^36, plus 2^36 - 1
less its id. A room's messages are then one range of rowids, newest
first, which the search reads room by room from the start (see
search.py): FTS5 seeks forward much faster than it reads backward.
Rooms past 2^27 and ids past 2^36 - 1 are not indexed (neither comes
near in practice). The migration merges what it indexed into one
segment ('optimize'); FTS5 merges what comes after as it goes.

PostgreSQL: a generated `tsvector` column with a GIN index.

Both split words alike: at every character that is not a letter or digit
(SQLite's unicode61 tokenizer does; PostgreSQL's parser, which keeps host
names, e-mail addresses and paths whole, is given the text with ASCII
punctuation turned into spaces), fold case, and neither stems nor drops
stop words (PostgreSQL's 'simple' configuration).
"""

from __future__ import annotations

import string

ROOM_SHIFT = 36  # bits of a message id in an index rowid
MAX_INDEXED_ID = (1 << ROOM_SHIFT) - 1
MAX_SEARCH_KEY = (1 << (63 - ROOM_SHIFT)) - 1

# The rowid of message NEW/OLD (`row`) in the index, from room `r`, and when
# it is indexed at all: the view, the triggers and the search agree on both.
_ROWID = "(r.search_key << {shift}) + {max_id} - {row}.id"
_INDEXED = "{row}.deleted_by IS NULL AND {row}.id <= {max_id} AND r.search_key <= {max_key}"


def _rowid(row: str) -> str:
    return _ROWID.format(shift=ROOM_SHIFT, max_id=MAX_INDEXED_ID, row=row)


def _indexed(row: str) -> str:
    return _INDEXED.format(row=row, max_id=MAX_INDEXED_ID, max_key=MAX_SEARCH_KEY)


def _add(row: str) -> str:
    return (
        f"INSERT INTO message_search (rowid, body) SELECT {_rowid(row)}, {row}.body "
        f"FROM rooms r WHERE r.key = lower({row}.room) AND {_indexed(row)};"
    )


def _remove(row: str) -> str:
    # FTS5's 'delete' takes the values that were indexed (external content).
    return (
        "INSERT INTO message_search (message_search, rowid, body) "
        f"SELECT 'delete', {_rowid(row)}, {row}.body "
        f"FROM rooms r WHERE r.key = lower({row}.room) AND {_indexed(row)};"
    )


SQLITE_MIGRATION = [
    "ALTER TABLE rooms ADD COLUMN search_key INTEGER",
    """UPDATE rooms SET search_key = numbered.n FROM (
        SELECT key AS numbered_key, row_number() OVER (ORDER BY created_ms, key) AS n FROM rooms
    ) AS numbered WHERE rooms.key = numbered.numbered_key""",
    "CREATE UNIQUE INDEX rooms_by_search_key ON rooms (search_key)",
    # (one writer at a time: MAX + 1 is never taken twice)
    """CREATE TRIGGER rooms_search_key AFTER INSERT ON rooms WHEN NEW.search_key IS NULL
    BEGIN
        UPDATE rooms SET search_key = (SELECT COALESCE(MAX(search_key), 0) + 1 FROM rooms)
        WHERE key = NEW.key;
    END""",
    # What the index holds, for FTS5's 'rebuild' (and 'integrity-check').
    f"""CREATE VIEW message_search_rows AS
        SELECT {_rowid("m")} AS search_id, m.body AS body
        FROM messages m JOIN rooms r ON r.key = lower(m.room) WHERE {_indexed("m")}""",
    """CREATE VIRTUAL TABLE message_search USING fts5(
        body, content='message_search_rows', content_rowid='search_id',
        columnsize=0, tokenize='unicode61 remove_diacritics 0'
    )""",
    f"CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN {_add('NEW')} END",
    f"CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN {_remove('OLD')} END",
    f"""CREATE TRIGGER messages_search_update AFTER UPDATE OF body, deleted_by ON messages
    BEGIN {_remove("OLD")} {_add("NEW")} END""",
    # A room removed before its messages takes their entries along (removed
    # after, the messages' trigger does it): a number reused never finds them.
    f"""CREATE TRIGGER rooms_search_delete AFTER DELETE ON rooms BEGIN
        INSERT INTO message_search (message_search, rowid, body)
        SELECT 'delete', (OLD.search_key << {ROOM_SHIFT}) + {MAX_INDEXED_ID} - m.id, m.body
        FROM messages m
        WHERE m.room = OLD.name AND m.deleted_by IS NULL AND m.id <= {MAX_INDEXED_ID}
        AND OLD.search_key <= {MAX_SEARCH_KEY};
    END""",
    "INSERT INTO message_search (message_search) VALUES ('rebuild')",
    "INSERT INTO message_search (message_search) VALUES ('optimize')",
]

# ASCII punctuation, each turned into a space before PostgreSQL parses words
# (escaped: statements must hold neither `?` nor `%`, placeholders both).
_PUNCTUATION = "".join(f"\\{ord(c):04X}" for c in string.punctuation)
PG_WORDS = f"translate(body, U&'{_PUNCTUATION}', '{' ' * len(string.punctuation)}')"

POSTGRESQL_MIGRATION = [
    f"""ALTER TABLE messages ADD COLUMN search tsvector
        GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, {PG_WORDS})) STORED""",
    "CREATE INDEX messages_search ON messages USING GIN (search)",
]
