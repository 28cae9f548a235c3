"""The async store: one writer with group commit, a few readers, all in
worker threads so the event loop never waits on the disk or the network.

Writes (messages, new users) queue on a bounded channel. The writer task
takes everything waiting, runs it in one transaction on its own connection in
a worker thread, and wakes the waiters; whatever arrives meanwhile goes into
the next transaction together. Reads queue the same way for the database's
reader tasks, each taking what waits and running it, one read after another,
on its own connection in one trip to a worker thread: a trip costs the event
loop about 100 µs of CPU, and every thread running at once contends for the
GIL, while a SQLite read takes tens of µs. A connection that
fails with an availability error is thrown away and a new one is opened on
next use: the store recovers by itself.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import attrs
import trio

from chatroom.domain import HISTORY_PAGE_BYTES, MAX_ID, ChatMessage, HistoryPage, RoomSettings
from chatroom.metrics import Counters
from chatroom.store.sql import (
    Account,
    Change,
    Database,
    Job,
    MessageChange,
    ReadMarker,
    Remembered,
    RoomList,
    Saved,
    SessionStart,
    StoredRoom,
    UserControl,
    UserView,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

WRITE_QUEUE_SIZE = 1024
MAX_JOBS_PER_COMMIT = 1024
# Past this many reads waiting, readers wait to queue theirs.
READ_QUEUE_SIZE = 1024
MAX_READS_PER_TRIP = 64
# Read markers wait this long to be written together, a user's latest for a
# room replacing the ones before; past the cap, new ones are dropped.
READ_MARKER_DELAY = 0.5
MAX_WAITING_READ_MARKERS = 100_000


class StoreUnavailable(Exception):
    """The database cannot be used right now; try again later."""


@attrs.define(eq=False)
class _Pending:
    """A write or a read waiting for its turn, then for its waiter."""

    job: Job
    done: trio.Event = attrs.field(factory=trio.Event)
    unavailable: bool = False


class Store:
    def __init__(
        self,
        database: Database,
        *,
        group_commit: bool = True,
        counters: Counters | None = None,
    ) -> None:
        self.database = database
        self.group_commit = group_commit
        self._writes_in, self._writes_out = trio.open_memory_channel[_Pending](WRITE_QUEUE_SIZE)
        self._reads_in, self._reads_out = trio.open_memory_channel[_Pending](READ_QUEUE_SIZE)
        self._write_conn: Any = None
        self._write_limiter = trio.CapacityLimiter(1)
        self.transactions = 0  # write transactions committed
        self.counters = Counters() if counters is None else counters
        # (user key, room key) -> the newest marker not yet written
        self._read_markers: dict[tuple[str, str], ReadMarker] = {}
        # user key -> room key -> marker id: those waiting and those of the
        # last batch (perhaps not committed yet), so that a user's listings
        # count from the newest marker, written or not.
        self._markers_by_user: dict[str, dict[str, int]] = {}
        self._markers_sent: dict[str, dict[str, int]] = {}
        self._read_markers_waiting = trio.Event()

    # -- lifecycle ------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The writer task. Migrates the schema, then commits until cancelled."""
        try:
            self._write_conn = await self._in_thread(self.database.connect, self._write_limiter)
            await self._in_thread(
                lambda: self.database.migrate(self._write_conn), self._write_limiter
            )
            task_status.started()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write_read_markers)
                for _ in range(self.database.read_connections):
                    nursery.start_soon(self._serve_reads)
                await self._commit_writes()
        finally:
            with trio.CancelScope(shield=True):
                await self._write_last_read_markers()
                await self._close_all()
            self._refuse_waiting()

    def _refuse_waiting(self) -> None:
        """The store has stopped: what still waits is unavailable, and so is
        whatever is asked of it from now on."""
        for waiting in (self._reads_out, self._writes_out):
            while True:
                try:
                    pending = waiting.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break
                pending.unavailable = True
                pending.done.set()
            waiting.close()

    async def _commit_writes(self) -> None:
        limit = MAX_JOBS_PER_COMMIT if self.group_commit else 1
        async for first in self._writes_out:
            batch = _with_waiting(first, self._writes_out, limit)
            with _finishing(batch):
                await self._commit(batch)

    async def _write_read_markers(self) -> None:
        """Queue the waiting read markers, in one job, every READ_MARKER_DELAY."""
        while True:
            await self._read_markers_waiting.wait()
            await trio.sleep(READ_MARKER_DELAY)
            self._read_markers_waiting = trio.Event()
            markers = list(self._read_markers.values())
            self._read_markers.clear()
            self._markers_sent, self._markers_by_user = self._markers_by_user, {}
            if not self._write_soon(functools.partial(self.database.mark_read, markers=markers)):
                log.warning("write queue full: %d read markers not written", len(markers))

    async def _write_last_read_markers(self) -> None:
        """On the way out, what is still waiting (best effort)."""
        markers = list(self._read_markers.values())
        if not markers or self._write_conn is None:
            return
        conn = self._write_conn
        try:
            job = Job(functools.partial(self.database.mark_read, markers=markers))
            await self._in_thread(lambda: self.database.run_jobs(conn, [job]), None)
        except Exception as exc:
            log.warning("%d read markers not written: %s", len(markers), exc)

    async def _close_all(self) -> None:
        conn, self._write_conn = self._write_conn, None
        if conn is not None:
            await trio.to_thread.run_sync(_close_quietly, conn)

    # -- writes -----------------------------------------------------------------

    async def _commit(self, batch: list[_Pending]) -> None:
        jobs = [pending.job for pending in batch]
        try:
            if self._write_conn is None:
                self._write_conn = await self._in_thread(self.database.connect, self._write_limiter)
            conn = self._write_conn
            started = trio.current_time()
            await self._in_thread(lambda: self.database.run_jobs(conn, jobs), self._write_limiter)
            self.counters.store_commit_seconds.observe(trio.current_time() - started)
            self.counters.store_commit_jobs.observe(len(jobs))
            self.transactions += 1
        except Exception as exc:
            # Any failure of the transaction fails its writes, not the writer.
            if isinstance(exc, self.database.unavailable):
                log.warning("database write failed (%d jobs): %s", len(batch), exc)
            else:
                log.exception("database write failed (%d jobs)", len(batch))
            self.counters.store_write_failures += len(batch)
            await self._discard_writer()
            for pending in batch:
                pending.unavailable = True
        for pending in batch:
            pending.done.set()

    async def _discard_writer(self) -> None:
        conn, self._write_conn = self._write_conn, None
        if conn is not None:
            await trio.to_thread.run_sync(_close_quietly, conn)

    async def _write(self, run: Callable[[Any], T]) -> T:
        return await _queued(self._writes_in, run)

    def _write_soon(self, run: Callable[[Any], object]) -> bool:
        """Queue a write nobody waits for; False (and nothing written) while the
        queue is full. Only for what may be lost, never for a message."""
        try:
            self._writes_in.send_nowait(_Pending(Job(run)))
        except (trio.WouldBlock, trio.BrokenResourceError):
            return False
        return True

    async def flush(self) -> None:
        """Wait until every write queued before this call is committed."""
        await self._write(lambda conn: None)

    async def save_messages(self, drafts: list[ChatMessage]) -> list[Saved]:
        """Commit the drafts of one room (all or none; see Database.insert_messages);
        raises StoreUnavailable."""
        saved = await self._write(lambda conn: self.database.insert_messages(conn, drafts))
        self.counters.messages_committed += sum(s.new for s in saved)
        return saved

    async def change_messages(self, room: str, changes: list[MessageChange]) -> list[Change]:
        """Edits and deletes in `room`, in one job (so one commit, with
        whatever else waits); each as Database.change_message decides."""
        return await self._write(
            lambda conn: [self.database.change_message(conn, room, *change) for change in changes]
        )

    async def create_user(
        self, name: str, password_hash: str, *, adopt_known: bool = False
    ) -> bool:
        """Add a user; False if the name is taken, in any case (see
        Database.create_user)."""
        return await self._write(
            lambda conn: self.database.create_user(
                conn, name, password_hash, adopt_known=adopt_known
            )
        )

    async def create_room(self, name: str, owner: str | None = None) -> str:
        """The room's name as first spelled, creating it (owned by `owner`) if new."""
        return await self._write(lambda conn: self.database.create_room(conn, name, owner))

    async def make_room(self, name: str, owner: str, *, private: bool, topic: str) -> bool:
        """Create the room; False if its name (in any case) is taken."""
        return await self._write(
            lambda conn: self.database.make_room(conn, name, owner, private, topic)
        )

    async def make_direct_room(self, name: str, users: list[str]) -> str:
        """See Database.make_direct_room."""
        return await self._write(lambda conn: self.database.make_direct_room(conn, name, users))

    async def remember_user(self, name: str) -> None:
        """Record that `name` said hello."""
        await self._write(lambda conn: self.database.remember_user(conn, name))

    async def set_password(self, name: str, password_hash: str) -> bool:
        """False if there is no account called `name`."""
        return await self._write(lambda conn: self.database.set_password(conn, name, password_hash))

    async def control_user(
        self, name: str, *, banned: bool | None = None, logout: bool = False
    ) -> UserControl:
        """See Database.control_user."""
        return await self._write(
            lambda conn: self.database.control_user(conn, name, banned=banned, logout=logout)
        )

    async def set_topic(self, room: str, topic: str) -> None:
        await self._write(lambda conn: self.database.set_topic(conn, room, topic))

    async def set_listed(
        self, table: RoomList, room: str, user: str, by: str, listed: bool
    ) -> None:
        """Put `user` on the room's moderators, bans or invitations, or off."""
        await self._write(
            lambda conn: self.database.set_listed(conn, table, room, user, by, listed)
        )

    async def invite(self, room: str, user: str, by: str) -> bool:
        """False if `user` has an invitation to `room` not acted on yet, or is in it."""
        return await self._write(lambda conn: self.database.invite(conn, room, user, by))

    async def decline(self, room: str, user: str) -> bool:
        """False if `user` has no pending invitation to `room`."""
        return await self._write(lambda conn: self.database.decline(conn, room, user))

    async def remember_room(self, user: str, room: str, max_rooms: int) -> Remembered:
        """Add `room` to the user's rooms, unless they have `max_rooms` others
        or its rules keep them out (see Database.remember_room)."""
        return await self._write(
            lambda conn: self.database.remember_room(conn, user, room, max_rooms)
        )

    async def forget_room(self, user: str, room: str) -> bool:
        self._drop_unwritten_marker(user, room)
        return await self._write(lambda conn: self.database.forget_room(conn, user, room))

    def forget_room_soon(self, user: str, room: str) -> None:
        """forget_room, queued without waiting (lost if the write queue is
        full: the room then stays listed among the user's until they leave it)."""
        self._write_soon(lambda conn: self.database.forget_room(conn, user, room))

    def mark_seen(self, user: str, room: str, last_id: int) -> None:
        """Record, soon, that `user` saw `room` up to `last_id` (lost if the
        write queue is full: an unread count then starts a little early)."""
        self._write_soon(lambda conn: self.database.mark_seen(conn, user, room, last_id))

    def mark_read(self, user: str, room: str, message_id: int) -> None:
        """Record, soon, that `user` read `room` up to `message_id` (with
        others, in one transaction; lost in a crash, which loses no message)."""
        key = (user.lower(), room.lower())
        waiting = self._read_markers.get(key)
        if waiting is not None and waiting.message_id >= message_id:
            return
        if waiting is None and len(self._read_markers) >= MAX_WAITING_READ_MARKERS:
            return
        self._read_markers[key] = ReadMarker(user, room, message_id)
        self._markers_by_user.setdefault(key[0], {})[key[1]] = message_id
        self._read_markers_waiting.set()

    def _drop_unwritten_marker(self, user: str, room: str) -> None:
        """A room left: a marker of before must not count when it is joined again."""
        for markers in (self._markers_by_user, self._markers_sent):
            markers.get(user.lower(), {}).pop(room.lower(), None)
        self._read_markers.pop((user.lower(), room.lower()), None)

    def _unwritten_markers(self, user: str) -> dict[str, int]:
        """Room key -> `user`'s newest read marker that may not be committed yet."""
        key = user.lower()
        return {**self._markers_sent.get(key, {}), **self._markers_by_user.get(key, {})}

    async def revoke(self, token_id: str, expires_ms: int) -> None:
        await self._write(lambda conn: self.database.revoke(conn, token_id, expires_ms))

    # -- reads ------------------------------------------------------------------

    async def _read(self, query: Callable[[Any], T]) -> T:
        return await _queued(self._reads_in, query)

    async def _serve_reads(self) -> None:
        """One reader: its connection, and the reads waiting, in trips."""
        conn = None
        try:
            async for first in self._reads_out:
                batch = _with_waiting(first, self._reads_out, MAX_READS_PER_TRIP)
                with _finishing(batch):
                    conn = await self._run_reads(conn, batch)
        finally:
            if conn is not None:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(_close_quietly, conn)

    async def _run_reads(self, conn: Any, batch: list[_Pending]) -> Any:
        """Run `batch` on `conn` (opened first if None), each read failing
        alone; the connection to use next, None if it failed."""
        jobs = [pending.job for pending in batch]
        database = self.database

        def run() -> Any:
            used = database.connect() if conn is None else conn
            try:
                database.run_reads(used, jobs)
                failed = [job for job in jobs if isinstance(job.error, database.unavailable)]
                if failed and conn is not None and database.broken(used):
                    # This connection died while idle (the database restarted):
                    # its failed reads run again on a new one.
                    _close_quietly(used)
                    used = database.connect()
                    database.run_reads(used, failed)
            except Exception:
                _close_quietly(used)
                raise
            return used

        try:
            conn = await self._in_thread(run, None)
        except Exception as exc:
            # (the connection is closed) every read of the trip is refused.
            if isinstance(exc, self.database.unavailable):
                log.warning("database read failed (%d reads): %s", len(batch), exc)
            else:
                log.exception("database read failed (%d reads)", len(batch))
            for pending in batch:
                pending.unavailable = True
            return None
        if conn is not None and self.database.broken(conn):
            await trio.to_thread.run_sync(_close_quietly, conn)
            conn = None
        failed = [p for p in batch if isinstance(p.job.error, self.database.unavailable)]
        for pending in failed:
            pending.unavailable = True
        if failed:
            log.warning(
                "database reads failed (%d of %d): %s", len(failed), len(batch), failed[0].job.error
            )
        return conn

    async def last_id(self, room: str) -> int:
        return await self._read(lambda conn: self.database.last_id(conn, room))

    async def history(
        self, room: str, before: int | None, limit: int, *, max_bytes: int | None = None
    ) -> list[ChatMessage]:
        """At most `limit` messages just before `before` (or the latest), oldest
        first, and at most `max_bytes` of them if given."""
        budget = MAX_ID if max_bytes is None else max_bytes
        return (
            await self._read(lambda conn: self.database.page(conn, room, 0, before, limit, budget))
        ).messages

    async def history_page(
        self, room: str, before: int | None, limit: int, *, after: int = 0
    ) -> HistoryPage:
        """The newest messages between `after` and `before` (or the latest):
        at most `limit`, and HISTORY_PAGE_BYTES; `more` if older ones there
        were left out."""
        return await self._read(
            lambda conn: self.database.page(conn, room, after, before, limit, HISTORY_PAGE_BYTES)
        )

    async def between(self, room: str, after: int, before: int, limit: int) -> list[ChatMessage]:
        return await self._read(
            lambda conn: self.database.between(conn, room, after, before, limit)
        )

    async def changes_since(self, room: str, since: int, limit: int) -> list[ChatMessage]:
        """What changed up to message `since` after it was sent (Database.changes_since)."""
        return await self._read(lambda conn: self.database.changes_since(conn, room, since, limit))

    async def room_settings(self, room: str) -> RoomSettings | None:
        return await self._read(lambda conn: self.database.room_settings(conn, room))

    async def last_ids(self, keys: list[str]) -> dict[str, int]:
        """The last id committed in each room (by key), whoever committed it."""
        return await self._read(lambda conn: self.database.last_ids(conn, keys))

    async def password_hash(self, name: str) -> tuple[str, str] | None:
        """The account's spelling of `name` and its password hash."""
        return await self._read(lambda conn: self.database.password_hash(conn, name))

    async def start_session(self, user: str, token_id: str | None) -> SessionStart:
        markers = self._unwritten_markers(user)
        return await self._read(
            lambda conn: self.database.start_session(conn, user, token_id, markers)
        )

    async def rooms(self) -> list[StoredRoom]:
        return await self._read(self.database.rooms)

    async def privacy(self, keys: list[str]) -> list[StoredRoom]:
        return await self._read(lambda conn: self.database.privacy(conn, keys))

    async def user_view(self, user: str) -> UserView:
        """What a listing shows only to `user`: private rooms, unread counts."""
        markers = self._unwritten_markers(user)
        return await self._read(lambda conn: self.database.user_view(conn, user, markers))

    async def accounts(self) -> list[Account]:
        return await self._read(self.database.accounts)

    async def user_controls_since(self, changed_ms: int) -> list[UserControl]:
        return await self._read(lambda conn: self.database.user_controls_since(conn, changed_ms))

    async def known_user(self, name: str) -> str | None:
        return await self._read(lambda conn: self.database.known_user(conn, name))

    async def revoked_among(self, token_ids: list[str]) -> set[str]:
        return await self._read(lambda conn: self.database.revoked_among(conn, token_ids))

    async def is_revoked(self, token_id: str) -> bool:
        return await self._read(lambda conn: self.database.is_revoked(conn, token_id))

    async def _in_thread(self, fn: Callable[[], T], limiter: trio.CapacityLimiter | None) -> T:
        return await trio.to_thread.run_sync(fn, limiter=limiter)


async def _queued(channel: trio.MemorySendChannel[_Pending], run: Callable[[Any], T]) -> T:
    """Queue `run` for its task (the writer or a reader); its result."""
    pending = _Pending(Job(run))
    try:
        await channel.send(pending)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        raise StoreUnavailable("the store has stopped") from None
    await pending.done.wait()
    if pending.unavailable:
        raise StoreUnavailable("the database is unavailable")
    if pending.job.error is not None:
        raise pending.job.error
    return pending.job.result  # type: ignore[return-value]


def _with_waiting(
    first: _Pending, channel: trio.MemoryReceiveChannel[_Pending], limit: int
) -> list[_Pending]:
    """`first`, and what waits behind it on `channel`, up to `limit` in all."""
    batch = [first]
    while len(batch) < limit:
        try:
            batch.append(channel.receive_nowait())
        except trio.WouldBlock:
            break
    return batch


@contextlib.contextmanager
def _finishing(batch: list[_Pending]) -> Iterator[None]:
    """Wake the waiters of `batch` on the way out, however it goes: if it is
    cancelled (the store stopping), as unavailable."""
    try:
        yield
    except BaseException:
        for pending in batch:
            pending.unavailable = True
        raise
    finally:
        for pending in batch:
            pending.done.set()


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:
        pass
