"""Webhooks: each room's hooks, and the queue of outgoing deliveries, which
outlives the server and which every server on the database claims from
(see chatroom/hooks/deliveries.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chatroom.domain import ChatMessage
from chatroom.domain.hooks import Hook
from chatroom.store.dialect import Database
from chatroom.store.records import Delivery, StoredHook

_HOOK = (
    "SELECT id, room_name, name, target, created_by, created_ms, disabled, "
    "secret_hash, signing_secret FROM hooks"
)


def _stored_hook(row: Sequence[Any]) -> StoredHook:
    hook_id, room, name, target, by, created_ms, disabled, secret_hash, signing_secret = row
    hook = Hook(hook_id, room, name, target, by, int(created_ms), bool(disabled))
    return StoredHook(hook, secret_hash, signing_secret)


def add_hook(db: Database, conn: Any, stored: StoredHook, max_per_room: int) -> bool:
    """Add the hook; False (and nothing added) if its room has `max_per_room`."""
    hook = stored.hook
    # The room's row, locked until the transaction ends: two servers adding
    # hooks to one room at once count one after the other.
    db.execute(conn, "UPDATE rooms SET key = key WHERE key = lower(?)", (hook.room,))
    row = db.execute(
        conn, "SELECT COUNT(*) FROM hooks WHERE room_key = lower(?)", (hook.room,)
    ).fetchone()
    if int(row[0]) >= max_per_room:
        return False
    db.execute(
        conn,
        "INSERT INTO hooks (id, room_key, room_name, name, kind, secret_hash, signing_secret, "
        "target, created_by, created_ms) VALUES (?, lower(?), ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            hook.id,
            hook.room,
            hook.room,
            hook.name,
            "outgoing" if hook.outgoing else "incoming",
            stored.secret_hash,
            stored.signing_secret,
            hook.target,
            hook.created_by,
            hook.created_ms,
        ),
    )
    return True


def room_hooks(db: Database, conn: Any, room: str) -> list[Hook]:
    """The room's hooks, oldest first."""
    rows = db.execute(
        conn, f"{_HOOK} WHERE room_key = lower(?) ORDER BY created_ms, id", (room,)
    ).fetchall()
    return [_stored_hook(row).hook for row in rows]


def hook_by_id(db: Database, conn: Any, hook_id: str) -> StoredHook | None:
    row = db.execute(conn, f"{_HOOK} WHERE id = ?", (hook_id,)).fetchone()
    return None if row is None else _stored_hook(row)


def remove_hook(db: Database, conn: Any, room: str, hook_id: str) -> bool:
    """Remove the room's hook, and what it still had to deliver; False if
    the room has no such hook."""
    cursor = db.execute(
        conn, "DELETE FROM hooks WHERE id = ? AND room_key = lower(?)", (hook_id, room)
    )
    if not cursor.rowcount:
        return False
    db.execute(conn, "DELETE FROM hook_deliveries WHERE hook_id = ?", (hook_id,))
    return True


def rooms_with_outgoing(db: Database, conn: Any) -> set[str]:
    """The keys of the rooms that have outgoing hooks in force."""
    rows = db.execute(
        conn, "SELECT DISTINCT room_key FROM hooks WHERE kind = 'outgoing' AND NOT disabled"
    ).fetchall()
    return {str(key) for (key,) in rows}


def enqueue(
    db: Database,
    conn: Any,
    room: str,
    messages: Sequence[ChatMessage],
    now_ms: int,
    max_queued: int,
    new_id: Callable[[], str],
) -> int:
    """Queue a delivery of each of `messages` (new in `room`) for each of
    the room's outgoing hooks in force, due at once; not a hook's own
    messages (posted under its name), nor more than `max_queued` waiting
    for one hook. How many were dropped for that."""
    hooks = db.execute(
        conn,
        "SELECT id, name FROM hooks WHERE room_key = lower(?) AND kind = 'outgoing' "
        "AND NOT disabled",
        (room,),
    ).fetchall()
    dropped = 0
    insert = db.sql(
        "INSERT INTO hook_deliveries (id, hook_id, body, next_attempt_ms, created_ms) "
        "VALUES (?, ?, ?, ?, ?)"
    )
    for hook_id, name in hooks:
        queued = db.execute(
            conn,
            "SELECT COUNT(*) FROM (SELECT 1 FROM hook_deliveries WHERE hook_id = ? LIMIT ?) q",
            (hook_id, max_queued),
        ).fetchone()
        wanted = [m for m in messages if not (m.bot and m.user.lower() == name.lower())]
        room_left = max(0, max_queued - int(queued[0]))
        rows = [(new_id(), hook_id, m.frame_text, now_ms, now_ms) for m in wanted[:room_left]]
        conn.cursor().executemany(insert, rows)
        dropped += len(wanted) - len(rows)
    return dropped


def next_due(db: Database, conn: Any) -> int | None:
    """When the next delivery is due (ms), if any waits."""
    row = db.execute(conn, "SELECT MIN(next_attempt_ms) FROM hook_deliveries").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def claim_due(
    db: Database, conn: Any, now_ms: int, lease_ms: int, claim: str, limit: int
) -> list[Delivery]:
    """Up to `limit` deliveries due at `now_ms`, taken under `claim` until
    `lease_ms` from now: no other claim takes them before (a server that
    dies with them lets them go then)."""
    # (re-checked on the row itself: on PostgreSQL a row another server
    # claimed meanwhile no longer matches, and SKIP LOCKED passes it by)
    skip_locked = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""
    claimed = db.execute(
        conn,
        "UPDATE hook_deliveries SET claim = ?, next_attempt_ms = ? WHERE id IN ("
        "SELECT id FROM hook_deliveries WHERE next_attempt_ms <= ? "
        f"ORDER BY next_attempt_ms LIMIT ?{skip_locked}) AND next_attempt_ms <= ? RETURNING id",
        (claim, now_ms + lease_ms, now_ms, limit, now_ms),
    ).fetchall()
    rows = db.select_in(
        conn,
        "SELECT d.id, d.hook_id, h.target, h.signing_secret, d.body, d.attempts, d.created_ms "
        "FROM hook_deliveries d JOIN hooks h ON h.id = d.hook_id WHERE d.id",
        [str(delivery_id) for (delivery_id,) in claimed],
    )
    return [
        Delivery(str(i), str(hook), str(target), str(secret), str(body), int(attempts), int(at))
        for i, hook, target, secret, body, attempts, at in rows
    ]


def delivered(db: Database, conn: Any, delivery_id: str, claim: str) -> None:
    db.execute(conn, "DELETE FROM hook_deliveries WHERE id = ? AND claim = ?", (delivery_id, claim))


def retry_at(db: Database, conn: Any, delivery_id: str, claim: str, at_ms: int | None) -> None:
    """A failed attempt: the next one at `at_ms`; None: given up."""
    if at_ms is None:
        delivered(db, conn, delivery_id, claim)
        return
    db.execute(
        conn,
        "UPDATE hook_deliveries SET attempts = attempts + 1, next_attempt_ms = ?, claim = NULL "
        "WHERE id = ? AND claim = ?",
        (at_ms, delivery_id, claim),
    )


def disable_hook(db: Database, conn: Any, hook_id: str) -> None:
    """The target is gone (410): nothing more goes to it."""
    db.execute(conn, "UPDATE hooks SET disabled = ? WHERE id = ?", (True, hook_id))
    db.execute(conn, "DELETE FROM hook_deliveries WHERE hook_id = ?", (hook_id,))
