"""Staying connected to Redis: each session until it fails, then again after
a backoff that doubles (with jitter) and starts over once a session lasted."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable, Iterator

import trio

RETRY_MIN = 0.1  # seconds before reconnecting, doubling up to RETRY_MAX
RETRY_MAX = 5.0
HEALTHY_AFTER = 30.0  # a connection that lasted this long starts the backoff over


async def keep_connected(
    session: Callable[[Callable[[], None]], Awaitable[None]],
    lost: Callable[[Exception], None],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `session` again and again, telling `lost` why each one ended;
    never raises but Cancelled. Started once the first session called its
    `ready` or ended."""
    first = True

    def ready() -> None:
        nonlocal first
        if first:
            first = False
            task_status.started()

    delay = RETRY_MIN
    while True:
        started = trio.current_time()
        try:
            with cancelled_quietly():
                await session(ready)
        except Exception as exc:  # any failure means: reconnect
            lost(exc)
        ready()
        if trio.current_time() - started > HEALTHY_AFTER:
            delay = RETRY_MIN
        await trio.sleep(delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, RETRY_MAX)


@contextlib.contextmanager
def cancelled_quietly() -> Iterator[None]:
    """When cancelled, coredis's clean-up may fail too, on a connection
    already closed: not an error of ours to report, so only Cancelled goes on."""
    try:
        yield
    except BaseExceptionGroup as group:
        cancelled, _ = group.split(trio.Cancelled)
        if cancelled is None:
            raise
        raise cancelled from None


def cause(exc: BaseException) -> str:
    """The first leaf of an exception group, as text."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return str(exc) or type(exc).__name__
