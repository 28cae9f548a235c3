"""Outgoing webhooks' deliveries: every new message of a room with outgoing
hooks is queued, in the database, for each of them, by the server that
committed it; one task per server claims what is due and POSTs it, signed
(signing.py), retrying on the schedule below with the same webhook-id.

The queue outlives the server: what a server did not deliver before it
stopped, it (or another server on the database) delivers after. A claim
holds a delivery for LEASE_MS, so that two servers never POST one at once,
and one that dies holding it lets it go then.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

import trio

from chatroom.cluster.events import MessagesEvent
from chatroom.hooks.addresses import AddressRefused, Network
from chatroom.hooks.client import DeliveryFailed, post, tls_context
from chatroom.hooks.signing import new_webhook_id, signed_headers
from chatroom.rooms.registry import wall_clock_ms
from chatroom.store import Delivery, Store, StoreUnavailable
from chatroom.store import hooks as hooks_db

log = logging.getLogger(__name__)

# After each failed attempt, the wait before the next: the first retry
# within seconds, then Standard Webhooks' schedule; 27.6 hours in all.
RETRY_DELAYS = (2.0, 5.0, 5 * 60.0, 30 * 60.0, 2 * 3600.0, 5 * 3600.0, 10 * 3600.0, 10 * 3600.0)
ANSWER_WITHIN = 15.0  # seconds for the target to answer an attempt, from the start
LEASE_MS = 60_000  # a claimed delivery is anyone's again after this
POLL_INTERVAL = 5.0  # seconds at most between looks at the queue
MAX_AT_ONCE = 32  # attempts in flight on one server
MAX_QUEUED_PER_HOOK = 1000  # waiting deliveries of one hook; past it new ones are dropped
REFRESH_INTERVAL = 2.0  # seconds between reads of which rooms have outgoing hooks
COMMITTED_QUEUE = 1024  # batches of committed messages waiting to be queued


def next_attempt_ms(attempts: int, now_ms: int) -> int | None:
    """When to try again after `attempts` attempts failed; None: give up."""
    if attempts > len(RETRY_DELAYS):
        return None
    return now_ms + round(RETRY_DELAYS[attempts - 1] * 1000)


class Deliveries:
    def __init__(
        self,
        *,
        store: Store,
        allowed: tuple[Network, ...] = (),
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self._store = store
        self._allowed = allowed  # networks the operator lets hooks reach (--webhook-allow)
        self._clock_ms = clock_ms
        # Keys of the rooms with outgoing hooks in force (as of the last
        # read), and those made here since that read began.
        self._rooms: set[str] = set()
        self._made_here: set[str] = set()
        self._committed_in, self._committed_out = trio.open_memory_channel[MessagesEvent](
            COMMITTED_QUEUE
        )
        self._slots = trio.Semaphore(MAX_AT_ONCE)
        self._wake = trio.Event()
        self._tls = tls_context()  # (the system's authorities, loaded once)

    # -- what the rest of the server tells ----------------------------------------------

    def committed(self, event: MessagesEvent) -> None:
        """Messages this server committed: queued for the room's outgoing hooks."""
        if event.room.lower() not in self._rooms:
            return
        try:
            self._committed_in.send_nowait(event)
        except trio.WouldBlock:
            first, last = event.messages[0].id, event.messages[-1].id
            log.warning(
                "room %s: messages %d to %d not queued for webhooks: too many wait",
                event.room,
                first,
                last,
            )

    def hook_made(self, room: str) -> None:
        """An outgoing hook of `room` was just made here: it counts at once."""
        self._rooms.add(room.lower())
        self._made_here.add(room.lower())

    # -- tasks ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Queue what is committed, and deliver what is due, until cancelled."""
        await self._refresh()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._queue_committed)
            nursery.start_soon(self._refresh_every)
            task_status.started()
            while True:
                self._wake = trio.Event()
                wait = await self._start_due(nursery)
                with trio.move_on_after(wait):
                    await self._wake.wait()

    async def _refresh_every(self) -> None:
        """Hooks made or removed on other servers count here within REFRESH_INTERVAL."""
        while True:
            await trio.sleep(REFRESH_INTERVAL)
            await self._refresh()

    async def _refresh(self) -> None:
        self._made_here = set()
        try:
            found = await self._store.read(hooks_db.rooms_with_outgoing)
        except Exception as exc:  # kept as they were until the next read
            if not isinstance(exc, StoreUnavailable):
                log.exception("reading which rooms have webhooks failed")
            return
        self._rooms = found | self._made_here

    async def _queue_committed(self) -> None:
        async for event in self._committed_out:
            try:
                dropped = await self._store.write(
                    hooks_db.enqueue,
                    event.room,
                    event.messages,
                    self._clock_ms(),
                    MAX_QUEUED_PER_HOOK,
                    new_webhook_id,
                )
            except Exception as exc:
                if not isinstance(exc, StoreUnavailable):
                    log.exception("queueing webhook deliveries failed")
                first, last = event.messages[0].id, event.messages[-1].id
                log.warning(
                    "room %s: messages %d to %d not queued for its webhooks: %s",
                    event.room,
                    first,
                    last,
                    exc,
                )
                continue
            if dropped:
                log.warning(
                    "room %s: %d webhook deliveries dropped: more than %d wait for one hook",
                    event.room,
                    dropped,
                    MAX_QUEUED_PER_HOOK,
                )
            self._wake.set()

    async def _start_due(self, nursery: trio.Nursery) -> float:
        """Claim what is due (as many as there are free slots) and start an
        attempt of each; how long to wait before looking again, unless woken."""
        free = self._slots.value
        if not free:
            return POLL_INTERVAL  # (a finished attempt wakes the loop)
        try:
            due = await self._store.read(hooks_db.next_due)
            now = self._clock_ms()
            if due is None or due > now:
                return POLL_INTERVAL if due is None else min(POLL_INTERVAL, (due - now) / 1000)
            claim = secrets.token_hex(8)
            claimed = await self._store.write(hooks_db.claim_due, now, LEASE_MS, claim, free)
        except Exception as exc:
            if not isinstance(exc, StoreUnavailable):
                log.exception("claiming webhook deliveries failed")
            return POLL_INTERVAL
        for delivery in claimed:
            self._slots.acquire_nowait()
            nursery.start_soon(self._attempt, delivery, claim)
        # (none claimed: another server took them; it has them for LEASE_MS)
        return 0.0 if claimed else 0.1

    async def _attempt(self, delivery: Delivery, claim: str) -> None:
        try:
            status, failure = await self._post(delivery)
            await self._settle(delivery, claim, status, failure)
        except Exception as exc:  # the claim lapses: it is tried again after LEASE_MS
            if not isinstance(exc, StoreUnavailable):
                log.exception("webhook delivery %s failed", delivery.id)
        finally:
            self._slots.release()
            self._wake.set()

    async def _post(self, delivery: Delivery) -> tuple[int | None, str]:
        """The target's status, or None and why there is none."""
        body = delivery.body.encode()
        timestamp = self._clock_ms() // 1000
        headers = signed_headers(delivery.signing_secret, delivery.id, timestamp, body)
        with trio.move_on_after(ANSWER_WITHIN):
            try:
                status = await post(
                    delivery.target, body, headers, allowed=self._allowed, tls=self._tls
                )
            except (DeliveryFailed, AddressRefused) as exc:
                return None, str(exc)
            except Exception as exc:  # (a failed attempt all the same: retried, then dropped)
                log.exception("webhook %s: delivery %s failed", delivery.hook_id, delivery.id)
                return None, type(exc).__name__
            return status, f"status {status}"
        return None, f"no answer within {ANSWER_WITHIN:g} s"

    async def _settle(
        self, delivery: Delivery, claim: str, status: int | None, failure: str
    ) -> None:
        if status is not None and 200 <= status < 300:
            await self._store.write(hooks_db.delivered, delivery.id, claim)
            return
        if status == 410:
            await self._store.write(hooks_db.disable_hook, delivery.hook_id)
            log.warning(
                "webhook %s disabled: its target %s answered 410 Gone",
                delivery.hook_id,
                delivery.target,
            )
            return
        attempts = delivery.attempts + 1
        at = next_attempt_ms(attempts, self._clock_ms())
        await self._store.write(hooks_db.retry_at, delivery.id, claim, at)
        if at is None:
            log.warning(
                "webhook %s: delivery %s dropped after %d attempts (the last: %s)",
                delivery.hook_id,
                delivery.id,
                attempts,
                failure,
            )
        else:
            log.info(
                "webhook %s: delivery %s failed (%s); attempt %d in %g s",
                delivery.hook_id,
                delivery.id,
                failure,
                attempts + 1,
                RETRY_DELAYS[attempts - 1],
            )
