"""What a room commits to the store: sends, edits and deletes (a run of
each in one transaction), its settings and moderation. Never a message out
before it is committed; a write that fails is answered `unavailable`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from chatroom.domain import ChatMessage, ErrorCode
from chatroom.domain.rules import ARCHIVED
from chatroom.metrics import Counters
from chatroom.protocol import ProtocolError
from chatroom.rooms import storage
from chatroom.rooms.catchup import CatchUp
from chatroom.rooms.core import (
    RoomCore,
    archived_refusal,
    change_refusal,
    changes_asked,
    moderation_refusal,
    settings_refusal,
)
from chatroom.rooms.requests import (
    ChangeRequest,
    ModerateRequest,
    PublishRequest,
    SettingsRequest,
)
from chatroom.store import Store, StoreUnavailable
from chatroom.store import messages as messages_db

log = logging.getLogger("chatroom.rooms.room")

T = TypeVar("T")
R = TypeVar("R", PublishRequest, ChangeRequest)
FORBIDDEN, BAD_REQUEST = ErrorCode.FORBIDDEN, ErrorCode.BAD_REQUEST


def no_reply_to_error(request: PublishRequest) -> ProtocolError:
    why = f"no message {request.reply_to} here to reply to"
    return ProtocolError(ErrorCode.NOT_FOUND, why, request.ref)


class Commits:
    def __init__(
        self,
        *,
        core: RoomCore,
        store: Store,
        counters: Counters,
        catch_up: CatchUp,
        load: Callable[[], Awaitable[bool]],
        carry_out: Callable[[], None],
    ) -> None:
        self._core = core
        self._store = store
        self._counters = counters
        self._catch_up = catch_up
        self._load = load  # the room's messages and settings, read if not yet
        self._carry_out = carry_out  # the core's effects, now

    async def publish_all(self, requests: list[PublishRequest]) -> None:
        """Commit the messages, then queue them for every member.

        A message is never sent before it is committed; the senders of those
        that could not be committed get `unavailable`. A send whose `cid` its
        user already used here is answered with the stored message, to the
        sender alone. With group commit the batch is one transaction; without,
        one each (to measure what grouping saves).
        """
        if not requests:
            return
        core = self._core
        if not await self._load():
            for request in requests:
                core.unavailable(request.subscriber, request.ref)
            return
        requests = self._unless_archived(requests)
        if not requests:
            return
        chunks = [requests] if self._store.group_commit else [[r] for r in requests]
        for at, chunk in enumerate(chunks):
            now = core.clock_ms()
            # Ids here are drafts: the store numbers the messages.
            drafts = [self._draft(request, now) for request in chunk]
            try:
                saved = await self._store.write(messages_db.insert_messages, drafts)
                self._counters.messages_committed += sum(s.new for s in saved)
            except Exception as exc:
                if not isinstance(exc, StoreUnavailable):
                    log.exception(
                        "room %s: saving %d messages failed",
                        self._core.name,
                        len(chunk),
                        extra={"room": self._core.name},
                    )
                # The store stays the truth: reread it before the next batch.
                core.timeline.forget()
                for request in [r for later in chunks[at:] for r in later]:
                    core.unavailable(request.subscriber, request.ref)
                return
            new = [s.message for s in saved if s.new]
            if new:
                core.committed(new, tuple((s.message.id, s.notify) for s in saved if s.notify))
                self._carry_out()
                if not await self._catch_up.fill_gap_before(new[0].id):
                    # Committed, but what others committed before it cannot be
                    # read now: it goes out after them (its sender included).
                    core.timeline.requeue(new)
                    continue
                core.timeline.accept(new)
            for request, result in zip(chunk, saved, strict=True):
                if result.no_reply_to:
                    core.answer(request.subscriber, no_reply_to_error(request))
                else:
                    core.deliver_saved(request, result.message, result.new)

    def _draft(self, request: PublishRequest, now: int) -> ChatMessage:
        user = request.subscriber.user
        bot = request.posted or self._core.members.is_bot(user)
        return ChatMessage(
            *(self._core.name, 0, user, request.text, now, request.cid),
            bot=bot,
            files=request.files,
            reply_to=request.reply_to,
        )

    def _unless_archived(self, requests: list[R]) -> list[R]:
        """The requests an archived room takes; the others get `forbidden`."""
        rules = self._core.settings.rules
        if not rules.archived:
            return requests
        taken = []
        for request in requests:
            if archived_refusal(rules, request):
                refused = ProtocolError(FORBIDDEN, ARCHIVED, request.ref)
                self._core.answer(request.subscriber, refused)
            else:
                taken.append(request)
        return taken

    async def change_all(self, requests: list[ChangeRequest]) -> None:
        """Edit or delete messages, each if the policy lets its requester, in
        one commit: one member's flood of them costs the room one wait."""
        if not requests:
            return
        core = self._core
        if not await self._load():
            for request in requests:
                core.unavailable(request.subscriber, request.ref)
            return
        requests = self._unless_archived(requests)
        if not requests:
            return
        changes = changes_asked(core.settings.rules, requests)
        try:
            results = await self._store.write(messages_db.change_messages, self._core.name, changes)
        except Exception as exc:
            if not isinstance(exc, StoreUnavailable):
                log.exception(
                    "room %s: %d changes failed",
                    self._core.name,
                    len(changes),
                    extra={"room": self._core.name},
                )
            for request in requests:
                core.unavailable(request.subscriber, request.ref)
            return
        for request, result in zip(requests, results, strict=True):
            if result.refused is not None:
                refused = ProtocolError(BAD_REQUEST, result.refused, request.ref)
                core.answer(request.subscriber, refused)
                continue
            if result.message is None:
                core.answer(request.subscriber, change_refusal(request, result.found))
                continue
            if request.message_id > core.timeline.last_id:  # the message itself goes first
                await self._catch_up.fill_gap_before(request.message_id + 1)
            core.changed_by(request, result.message, result.changed)
        self._carry_out()

    async def set(self, request: SettingsRequest) -> None:
        """Change the topic or a role, if the policy lets the requester."""
        core = self._core
        refused = settings_refusal(core.settings.rules, request)
        if refused is not None:
            core.answer(request.subscriber, refused)
            return
        change = storage.change_settings(self._store, self._core.name, request, core.settings)
        if (settings := await self._write(request, "changing its settings", change)) is not None:
            core.settings_changed(request, settings)

    async def moderate(self, request: ModerateRequest) -> None:
        """Invite, kick, ban or unban, if the policy lets the requester."""
        core = self._core
        refused = moderation_refusal(core.settings.rules, request)
        if refused is not None:
            core.answer(request.subscriber, refused)
            return
        moderate = storage.moderate(self._store, self._core.name, request, core.settings)
        if (done := await self._write(request, request.action.value, moderate)) is not None:
            core.moderated(request, *done)

    async def _write(
        self, request: SettingsRequest | ModerateRequest, what: str, write: Awaitable[T]
    ) -> T | None:
        """What a store write for a request gave; None after answering its
        refusal, or `unavailable` (logged when not just the store being away)."""
        try:
            return await write
        except ProtocolError as refused:  # (the store knew better than the cached settings)
            self._core.answer(request.subscriber, refused)
            return None
        except Exception as exc:
            if not isinstance(exc, StoreUnavailable):
                log.exception(
                    "room %s: %s failed", self._core.name, what, extra={"room": self._core.name}
                )
            self._core.unavailable(request.subscriber, request.ref)
            return None
