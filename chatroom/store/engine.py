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

What is read and written is the query modules' (messages, users, rooms,
markers, tokens): plain functions of the database, a connection and their
arguments, handed to `read`, `write` or `write_soon` with those arguments.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

import attrs
import trio

from chatroom.metrics import Counters
from chatroom.store.dialect import Database
from chatroom.store.marker_buffer import ReadMarkerBuffer
from chatroom.store.markers import mark_read
from chatroom.store.migrations import migrate

log = logging.getLogger("chatroom.store.store")  # (its name before engine.py)

T = TypeVar("T")
P = ParamSpec("P")

WRITE_QUEUE_SIZE = 1024
MAX_JOBS_PER_COMMIT = 1024
# Past this many reads waiting, readers wait to queue theirs.
READ_QUEUE_SIZE = 1024
MAX_READS_PER_TRIP = 64


class StoreUnavailable(Exception):
    """The database cannot be used right now; try again later."""


@attrs.define(eq=False)
class Job:
    """One unit of work in a write transaction, or one read; `error` if it
    failed alone."""

    run: Callable[[Any], object]
    result: object = None
    error: BaseException | None = None


@attrs.define(eq=False)
class _Pending:
    """A write or a read waiting for its turn, then for its waiter."""

    job: Job
    done: trio.Event = attrs.field(factory=trio.Event)
    unavailable: bool = False


class Store:
    """The engine: a database's writer and readers, and the read markers
    waiting to be written (`read_markers`)."""

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
        self.read_markers = ReadMarkerBuffer()

    # -- lifecycle ------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The writer task. Migrates the schema, then commits until cancelled."""
        try:
            self._write_conn = await self._in_thread(self.database.connect, self._write_limiter)
            await self._in_thread(
                lambda: migrate(self.database, self._write_conn), self._write_limiter
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
            markers = await self.read_markers.next_batch()
            if not self.write_soon(mark_read, markers):
                log.warning("write queue full: %d read markers not written", len(markers))

    async def _write_last_read_markers(self) -> None:
        """On the way out, what is still waiting (best effort)."""
        markers = self.read_markers.remaining()
        if not markers or self._write_conn is None:
            return
        conn, database = self._write_conn, self.database
        try:
            job = Job(lambda used: mark_read(database, used, markers))
            await self._in_thread(lambda: _run_in_transaction(database, conn, [job]), None)
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
            database = self.database
            await self._in_thread(
                lambda: _run_in_transaction(database, conn, jobs), self._write_limiter
            )
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

    async def write(
        self,
        command: Callable[Concatenate[Database, Any, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`command(database, conn, *args, **kwargs)` in the writer's next
        transaction (with whatever else waits: group commit); its result.
        Raises StoreUnavailable, or what `command` raised (then rolled back alone)."""
        database = self.database
        return await _queued(self._writes_in, lambda conn: command(database, conn, *args, **kwargs))

    def write_soon(
        self,
        command: Callable[Concatenate[Database, Any, P], object],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> bool:
        """Queue a write nobody waits for; False (and nothing written) while the
        queue is full. Only for what may be lost, never for a message."""
        database = self.database
        pending = _Pending(Job(lambda conn: command(database, conn, *args, **kwargs)))
        try:
            self._writes_in.send_nowait(pending)
        except (trio.WouldBlock, trio.BrokenResourceError):
            return False
        return True

    async def flush(self) -> None:
        """Wait until every write queued before this call is committed."""
        await _queued(self._writes_in, lambda conn: None)

    # -- reads ------------------------------------------------------------------

    async def read(
        self,
        query: Callable[Concatenate[Database, Any, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`query(database, conn, *args, **kwargs)` on a reader's connection,
        in its next trip (with the other reads waiting); its result.
        Raises StoreUnavailable, or what `query` raised."""
        database = self.database
        return await _queued(self._reads_in, lambda conn: query(database, conn, *args, **kwargs))

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
                _run_each(database, used, jobs)
                failed = [job for job in jobs if isinstance(job.error, database.unavailable)]
                if failed and conn is not None and database.broken(used):
                    # This connection died while idle (the database restarted):
                    # its failed reads run again on a new one.
                    _close_quietly(used)
                    used = database.connect()
                    _run_each(database, used, failed)
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


def _run_in_transaction(database: Database, conn: Any, jobs: list[Job]) -> None:
    """Run `jobs` in one transaction; a job that fails alone is rolled back alone.

    An `unavailable` error aborts the whole transaction and propagates.
    """
    database.begin(conn)
    try:
        for job in jobs:
            database.execute(conn, "SAVEPOINT job")
            try:
                job.result = job.run(conn)
            except database.unavailable:
                raise
            except Exception as exc:
                database.execute(conn, "ROLLBACK TO SAVEPOINT job")
                job.error = exc
            database.execute(conn, "RELEASE SAVEPOINT job")
        database.execute(conn, "COMMIT")
    except BaseException:
        database.rollback(conn)
        raise


def _run_each(database: Database, conn: Any, jobs: list[Job]) -> None:
    """Run each read of `jobs`, outside any transaction; each keeps its
    own result or error. Once the connection is broken, the rest fail
    without being tried."""
    for job in jobs:
        job.result, job.error = None, None
        if database.broken(conn):
            job.error = database.unavailable[0]("the connection is broken")
            continue
        try:
            job.result = job.run(conn)
        except Exception as exc:
            job.error = exc
