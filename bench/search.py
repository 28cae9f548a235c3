"""Search on 1,000,000 stored messages, SQLite and PostgreSQL: how long
indexing an existing database takes, search latency p50/p99 by kind of
query, and what the index costs each message's commit.

    .venv/bin/python -m bench.search [--messages 1000000] [--rooms 300]

For each database: the messages are written straight into a database at
the schema before search (bulk inserts, COPY on PostgreSQL), in rooms of
very different sizes (the k-th busiest gets about 1/k of them), 10 % of
them private; their text is 3 to 20 words drawn with the frequencies the
words have in the comments of Python's standard library (English with a
long tail: "the" in about 1 message of 3, most words in a few hundred).
Then the migration indexes them (timed), and a user who belongs to 5 of
the private rooms searches, through the store's own query function on one
connection (no server: what a search costs the database and the reader).
Last, the cost of the index on commits: 20 rooms each committing batches
of 4 messages through the store's writer (group commit, as the server
does it) for --commit-seconds, with the index and again without it
(SQLite: its triggers dropped; PostgreSQL: its column and index dropped).
Between the two, the queries are asked again, of an index that now also
holds what was committed (as a live server's would: FTS5's segments and
PostgreSQL's GIN pending list not merged yet).
PostgreSQL runs with fsync on; SQLite with synchronous=FULL, as served.
"""

from __future__ import annotations

import argparse
import collections
import io
import random
import re
import statistics
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from chatroom.domain import ChatMessage
from chatroom.domain.search import SearchQuery, parse_query
from chatroom.store import Database, Store, open_database
from chatroom.store import messages as messages_db
from chatroom.store import search as search_db
from chatroom.store.migrations import migrate
from tests.postgres import PostgresServer

SEARCH_MIGRATION = 14
SEARCHER = "searcher"
PRIVATE_SHARE = 10  # one room in this many is private
SEARCHER_ROOMS = 5  # private rooms the searcher belongs to
START_MS = 1_700_000_000_000
GAP_MS = 30_000  # between two messages of the chat
COMMIT_ROOMS = 20
COMMIT_BATCH = 4


def vocabulary() -> tuple[list[str], list[int]]:
    """Words and their counts, from the comments of Python's standard library."""
    counts: collections.Counter[str] = collections.Counter()
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if {"test", "tests", "site-packages"} & set(path.parts):
            continue
        for line in path.read_text(errors="ignore").splitlines():
            if line.lstrip().startswith("#"):
                counts.update(re.findall(r"[a-z]{2,14}", line.lower()))
    words = [word for word, _ in counts.most_common()]
    return words, [counts[word] for word in words]


class Chat:
    """What is stored: rooms, and each message's room, id, text and time."""

    def __init__(self, messages: int, rooms: int, seed: int = 26) -> None:
        rng = random.Random(seed)
        self.words, counts = vocabulary()
        self.rooms = [f"room{n:03}" for n in range(rooms)]
        self.private = {room for n, room in enumerate(self.rooms) if n % PRIVATE_SHARE == 3}
        self.member_of = sorted(self.private)[:SEARCHER_ROOMS]
        weights = [1 / (n + 1) for n in range(rooms)]
        chosen = rng.choices(range(rooms), weights, k=messages)
        lengths = [rng.randint(3, 20) for _ in range(messages)]
        drawn = iter(rng.choices(self.words, counts, k=sum(lengths)))
        last_ids = [0] * rooms
        # (room, id, text, ts), in the order they were sent
        self.messages: list[tuple[str, int, str, int]] = []
        for n, (room, length) in enumerate(zip(chosen, lengths, strict=True)):
            last_ids[room] += 1
            text = " ".join(next(drawn) for _ in range(length))
            self.messages.append((self.rooms[room], last_ids[room], text, START_MS + n * GAP_MS))
        self.last_ids = dict(zip(self.rooms, last_ids, strict=True))
        self.rng = rng

    def queries(self, count: int) -> dict[str, list[tuple[SearchQuery, str | None]]]:
        """Queries of each kind, with the room they name (None: everywhere)."""
        rng, words = self.rng, self.words

        def some_text() -> list[str]:
            return rng.choice(self.messages)[2].split()

        def two_of_one_message() -> str:
            return " ".join(rng.sample(some_text(), 2))

        def adjacent() -> str:
            text = some_text()
            at = rng.randrange(len(text) - 1)
            return f'"{text[at]} {text[at + 1]}"'

        kinds: dict[str, Callable[[], tuple[str, str | None]]] = {
            "1 word": lambda: (rng.choice(words), None),
            "1 common word (top 20)": lambda: (rng.choice(words[:20]), None),
            "2 words of one message": lambda: (two_of_one_message(), None),
            "2 words at random": lambda: (f"{rng.choice(words)} {rng.choice(words)}", None),
            "a phrase (2 adjacent words)": lambda: (adjacent(), None),
            "1 word, in one room": lambda: (rng.choice(words), rng.choice(self.rooms[:50])),
        }
        made = {}
        for kind, make in kinds.items():
            asked = [make() for _ in range(count)]
            made[kind] = [(parse_query(text), room) for text, room in asked]
        return made


def fill(db: Database, conn: Any, chat: Chat) -> None:
    """The chat, written in bulk into a database at the schema before search."""
    db.begin(conn)
    rooms = [
        (room.lower(), room, START_MS, chat.last_ids[room], room in chat.private, "owner")
        for room in chat.rooms
    ]
    cursor = conn.cursor()
    cursor.executemany(
        db.sql(
            "INSERT INTO rooms (key, name, created_ms, last_id, private, owner) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        ),
        rooms,
    )
    cursor.executemany(
        db.sql(
            "INSERT INTO user_rooms (user_key, room_key, joined_ms, seen_id) VALUES (?, ?, ?, 0)"
        ),
        [(SEARCHER, room.lower(), START_MS) for room in chat.member_of],
    )
    rows = sorted(chat.messages)  # in key order: appended, not scattered
    if db.dialect == "sqlite":
        cursor.executemany(
            "INSERT INTO messages (room, id, author, body, ts) VALUES (?, ?, 'someone', ?, ?)",
            rows,
        )
    else:
        with cursor.copy("COPY messages (room, id, author, body, ts) FROM STDIN") as copy:
            for room, id_, text, ts in rows:
                copy.write_row((room, id_, "someone", text, ts))
    db.execute(conn, "COMMIT")


def latencies(
    db: Database, conn: Any, queries: list[tuple[SearchQuery, str | None]]
) -> tuple[list[float], int, int]:
    """Each query's time (ms), how many found something, how many were stopped."""
    times, hits, stopped = [], 0, 0
    for query, room in queries:
        started = time.perf_counter()
        try:
            found = search_db.search(db, conn, SEARCHER, query, room=room)
            hits += bool(found.messages)
        except search_db.SearchTooCostly:
            stopped += 1
        times.append((time.perf_counter() - started) * 1000)
    return times, hits, stopped


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def commit_rate(url: str, seconds: float) -> tuple[float, float]:
    """Messages and commits per second, COMMIT_ROOMS rooms committing
    batches of COMMIT_BATCH as fast as the store's writer takes them."""
    store = Store(open_database(url))
    rng = random.Random(7)
    words, counts = vocabulary()
    texts = [" ".join(rng.choices(words, counts, k=rng.randint(3, 20))) for _ in range(1000)]
    committed = 0

    async def room(name: str) -> None:
        nonlocal committed
        while True:
            drafts = [
                ChatMessage(room=name, id=0, user="writer", text=rng.choice(texts), ts=0)
                for _ in range(COMMIT_BATCH)
            ]
            await store.write(messages_db.insert_messages, drafts)
            committed += COMMIT_BATCH

    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        for n in range(COMMIT_ROOMS):
            nursery.start_soon(room, f"commits{n}")
        await trio.sleep(1)  # (warm up)
        committed, transactions, started = 0, store.transactions, trio.current_time()
        await trio.sleep(seconds)
        elapsed = trio.current_time() - started
        rate, commits = committed / elapsed, (store.transactions - transactions) / elapsed
        nursery.cancel_scope.cancel()
    return rate, commits


def drop_index(db: Database, conn: Any) -> None:
    if db.dialect == "sqlite":
        for trigger in ("insert", "update", "delete"):
            db.execute(conn, f"DROP TRIGGER messages_search_{trigger}")
    else:
        db.execute(conn, "DROP INDEX messages_search")
        db.execute(conn, "ALTER TABLE messages DROP COLUMN search")


def run(url: str, chat: Chat, queries: dict[str, Any], seconds: float) -> dict[str, Any]:
    db = open_database(url)
    conn = db.connect()
    result: dict[str, Any] = {}
    started = time.perf_counter()
    migrate(db, conn, up_to=SEARCH_MIGRATION - 1)
    fill(db, conn, chat)
    result["fill_s"] = time.perf_counter() - started
    started = time.perf_counter()
    migrate(db, conn)
    result["index_s"] = time.perf_counter() - started
    if db.dialect == "postgresql":
        db.execute(conn, "VACUUM ANALYZE messages")  # (as autovacuum would soon)
    result["size_mb"] = database_size(db, conn, url)
    latencies(db, conn, queries["1 word"][:20])  # (warm up)
    result["queries"] = {kind: latencies(db, conn, asked) for kind, asked in queries.items()}
    result["commits_indexed"] = trio.run(commit_rate, url, seconds)
    # The same queries again, the index now also holding what was committed.
    result["after"] = {kind: latencies(db, conn, asked) for kind, asked in queries.items()}
    drop_index(db, conn)
    result["commits_bare"] = trio.run(commit_rate, url, seconds)
    conn.close()
    return result


def database_size(db: Database, conn: Any, url: str) -> float:
    if db.dialect == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
    row = db.execute(conn, "SELECT pg_database_size(current_database())").fetchone()
    return float(row[0]) / 1e6


def report(chat: Chat, results: dict[str, dict[str, Any]], count: int) -> str:
    out = io.StringIO()
    print(
        f"{len(chat.messages):,} messages in {len(chat.rooms)} rooms ({len(chat.private)} "
        f"private, the searcher in {SEARCHER_ROOMS}); {count} queries of each kind\n",
        file=out,
    )
    print("| database | bulk write s | indexing s (migration) | size MB |", file=out)
    print("|---|---|---|---|", file=out)
    for name, result in results.items():
        print(
            f"| {name} | {result['fill_s']:.0f} | {result['index_s']:.0f} "
            f"| {result['size_mb']:,.0f} |",
            file=out,
        )
    print(
        "\n| query | database | p50 ms | p99 ms | max ms | found | stopped "
        "| after commits: p50 ms | p99 ms | stopped |",
        file=out,
    )
    print("|---|---|---|---|---|---|---|---|---|---|", file=out)
    for kind in next(iter(results.values()))["queries"]:
        for name, result in results.items():
            times, hits, stopped = result["queries"][kind]
            later, _, later_stopped = result["after"][kind]
            print(
                f"| {kind} | {name} | {statistics.median(times):.1f} "
                f"| {percentile(times, 0.99):.1f} | {max(times):.1f} | {hits}/{len(times)} "
                f"| {stopped} | {statistics.median(later):.1f} | {percentile(later, 0.99):.1f} "
                f"| {later_stopped} |",
                file=out,
            )
    print(f"\nCommits, {COMMIT_ROOMS} rooms x batches of {COMMIT_BATCH}, group commit:\n", file=out)
    print("| database | index | messages/s | commits/s | us per message |", file=out)
    print("|---|---|---|---|---|", file=out)
    for name, result in results.items():
        for label, key in (("with", "commits_indexed"), ("without", "commits_bare")):
            rate, commits = result[key]
            print(
                f"| {name} | {label} | {rate:,.0f} | {commits:,.0f} | {1e6 / rate:,.0f} |",
                file=out,
            )
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=300)
    parser.add_argument("--queries", type=int, default=100, help="of each kind")
    parser.add_argument("--commit-seconds", type=float, default=8.0)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()

    started = time.perf_counter()
    chat = Chat(args.messages, args.rooms)
    queries = chat.queries(args.queries)
    print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for database in args.databases.split(","):
            if database == "sqlite":
                results["SQLite"] = run(
                    f"sqlite:///{Path(tmp) / 'search.db'}", chat, queries, args.commit_seconds
                )
            else:
                postgres = PostgresServer.create(durable=True)
                try:
                    url = postgres.new_database()
                    results["PostgreSQL"] = run(url, chat, queries, args.commit_seconds)
                finally:
                    postgres.destroy()
            print(f"{database} done at {time.perf_counter() - started:.0f} s", flush=True)
    print(report(chat, results, args.queries))


if __name__ == "__main__":
    main()
