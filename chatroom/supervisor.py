"""`--workers N`: one process runs N servers on one port and keeps them running.

Supervisor.run
├── signal watcher: SIGTERM or SIGINT cancels the slots
└── one task per slot: start a worker, wait for it to exit, back off, start
    another; on cancellation, SIGTERM the worker and wait (SIGKILL if it hangs)

A worker is any command that takes `--supervisor-fd FD` (`python -m chatroom
serve ... --reuse-port`): it writes a line to that socket once it listens,
and stops by itself when the supervisor's end closes, so no worker outlives
a supervisor that was killed. Ports, the database and the secret are the
caller's business; this module owns only processes and signals.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Sequence

import attrs
import trio

log = logging.getLogger(__name__)

READY_LINE = b"listening\n"


@attrs.frozen
class RestartPolicy:
    first_delay: float = 0.5  # seconds before restarting a worker that died
    max_delay: float = 30.0  # the delay doubles per restart up to this
    stable_after: float = 60.0  # a worker that ran this long resets the delay
    max_start_failures: int = 5  # exits before listening, in a row, before giving up
    stop_timeout: float = 10.0  # after SIGTERM, before SIGKILL


class CrashLoop(Exception):
    """A worker keeps exiting before it listens: more restarts would not help."""


@attrs.define
class Supervisor:
    """Runs `count` copies of `command` until a signal (or a crash loop)."""

    command: Sequence[str]
    count: int
    policy: RestartPolicy = RestartPolicy()
    # Set once every slot's first worker listens (the caller logs its address).
    on_ready: Callable[[], None] = lambda: None
    # Why run() will return 1: a crash loop, workers that did not stop cleanly.
    stop_failures: list[str] = attrs.field(factory=list)
    # Each slot's worker while it runs.
    _workers: dict[int, trio.Process] = attrs.field(factory=dict)

    async def run(self) -> int:
        """0 when stopped by SIGTERM/SIGINT and every worker exited 0; 1
        otherwise. SIGHUP is passed on to every worker (a renewed certificate)."""
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._on_signals, signals, nursery.cancel_scope)
                    async with trio.open_nursery() as starting:
                        for index in range(1, self.count + 1):
                            starting.start_soon(nursery.start, self._keep_running, index)
                    self.on_ready()
            except* CrashLoop as group:
                self.stop_failures.insert(0, f"giving up: {_first_leaf(group)}")
        for failure in self.stop_failures:
            log.error("%s", failure)
        return 1 if self.stop_failures else 0

    async def _keep_running(self, index: int, task_status: trio.TaskStatus[None]) -> None:
        """Slot `index`: one worker at a time, restarted with backoff when it dies."""
        delay = self.policy.first_delay
        failures = 0  # start-up crashes in a row
        report_listening: Callable[[], None] = task_status.started  # the first worker only
        while True:
            began = trio.current_time()
            process, listened = await self._run_worker(index, report_listening)
            if listened:
                failures = 0
                report_listening = _nothing
            else:
                failures += 1
            if trio.current_time() - began >= self.policy.stable_after:
                delay = self.policy.first_delay
            how = describe_exit(process.returncode)
            if failures >= self.policy.max_start_failures:
                raise CrashLoop(
                    f"worker {index} exited {failures} times in a row before it listened "
                    f"(last: {how}); its log above says why"
                )
            log.warning(
                "worker %d (pid %d) %s; restarting in %.1f s", index, process.pid, how, delay
            )
            await trio.sleep(delay)
            delay = min(2 * delay, self.policy.max_delay)

    async def _run_worker(
        self, index: int, report_listening: Callable[[], None]
    ) -> tuple[trio.Process, bool]:
        """Start one worker and wait for it to exit: (the process, whether it listened)."""
        ours, theirs = socket.socketpair()
        with ours:
            try:
                process = await trio.lowlevel.open_process(
                    [*self.command, "--supervisor-fd", str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL,
                    # Its own session: a terminal's Ctrl-C reaches the
                    # supervisor alone, which then stops each worker once.
                    start_new_session=True,
                )
            finally:
                theirs.close()
            log.info("worker %d started (pid %d)", index, process.pid, extra={"worker": index})
            lifeline = trio.socket.from_stdlib_socket(ours)
            listened = False
            try:
                if await lifeline.recv(len(READY_LINE)):
                    listened = True
                    self._workers[index] = process  # (its signal handlers are set)
                    report_listening()
                await process.wait()
            finally:
                self._workers.pop(index, None)
                if process.returncode is None:
                    with trio.CancelScope(shield=True):
                        await self._stop(index, process, listened)
        return process, listened

    async def _on_signals(self, signals: AsyncIterator[int], scope: trio.CancelScope) -> None:
        async for signum in signals:
            if signum == signal.SIGHUP:
                log.info("received SIGHUP: passing it on to %d workers", len(self._workers))
                for process in self._workers.values():
                    process.send_signal(signal.SIGHUP)
                continue
            log.info("received %s: stopping the workers", signal.Signals(signum).name)
            scope.cancel()
            return

    async def _stop(self, index: int, process: trio.Process, listened: bool) -> None:
        process.send_signal(signal.SIGTERM)
        with trio.move_on_after(self.policy.stop_timeout):
            await process.wait()
        if process.returncode is None:
            log.warning(
                "worker %d (pid %d) still runs %.0f s after SIGTERM: killing it",
                index,
                process.pid,
                self.policy.stop_timeout,
            )
            process.kill()
            await process.wait()
        # A worker stopped before it listened had no clients to lose, and may
        # not have set up its own SIGTERM handling yet: that is not a failure.
        clean = process.returncode == 0 or (not listened and process.returncode == -signal.SIGTERM)
        if not clean:
            how = describe_exit(process.returncode)
            self.stop_failures.append(f"worker {index} (pid {process.pid}) {how}")


def _first_leaf(group: BaseExceptionGroup[CrashLoop]) -> CrashLoop:
    """The first crash loop, from however many nurseries deep."""
    first: BaseExceptionGroup[CrashLoop] | CrashLoop = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


def _nothing() -> None:
    pass


def describe_exit(returncode: int | None) -> str:
    """`exited with code 1`, `was killed by SIGKILL`: for the log."""
    if returncode is None:
        return "is still running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"
