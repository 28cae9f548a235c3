"""A room's rules and state, sans-IO: what each request, commit and event
from another server does to the room, and what it sends to whom.

The room's task (actor.py) feeds it and does all the waiting: it reads and
writes the store, then tells the core what came of it. The core answers by
queueing frames in its outbox, sent to the members on flush(), and by listing
effects for the task to carry out: events for the other servers and the
user's sessions (cluster/events.py), and store writes that may wait.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import attrs

from chatroom import protocol
from chatroom.cluster.events import (
    ChangedEvent,
    Event,
    ExpelledEvent,
    ForgottenEvent,
    InvitationEvent,
    MembersChanged,
    MessagesEvent,
    PresenceEvent,
    SettingsEvent,
    TypingEvent,
)
from chatroom.domain import ChatMessage, ErrorCode, RoomSettings
from chatroom.domain.reactions import MessageChange, Reaction
from chatroom.domain.rules import (
    Action,
    Change,
    RoomRules,
    may_archive,
    may_change_others,
    may_join,
    may_set_topic,
    refusal,
    why_not_join,
)
from chatroom.net.wsframe import text_frame
from chatroom.protocol import ProtocolError, Ref
from chatroom.rooms.members import Elsewhere, Members
from chatroom.rooms.mentioned import Mentioned, Notify
from chatroom.rooms.outbox import Outbox
from chatroom.rooms.recent import CacheBudget
from chatroom.rooms.requests import (
    ChangeRequest,
    JoinRequest,
    ModerateRequest,
    PublishRequest,
    SettingsRequest,
    Subscriber,
)
from chatroom.rooms.timeline import Timeline

# Fan out before a batch's broadcast bytes pass this, so that one write stays
# well inside a member's outbound limit however large the messages are.
MAX_FLUSH_BYTES = 256 * 1024


@attrs.frozen
class MarkSeen:
    """Write soon: `user` left having seen the room up to `last_id`."""

    user: str
    last_id: int


@attrs.frozen
class ForgetRoom:
    """Write soon: the room is not among `user`'s rooms (their join was refused)."""

    user: str


Effect = Event | MarkSeen | ForgetRoom


def relay_typing(
    room: str, members: Members, outbox: Outbox[Subscriber], user: str, now: float
) -> bool:
    """Tell the members here that `user` is typing, unless they were told
    lately; whether they were told."""
    if not members.may_relay_typing(user, now):
        return False
    frame = text_frame(protocol.encode_typing(room, user))
    for subscriber in members.subscribers:
        if subscriber.user != user:
            outbox.send_to(subscriber, frame)
    return True


def change_frame(message: ChatMessage, reacted: bool, ref: Ref = None) -> str:
    """What members get for a change: `reactions`, or `edited` or `deleted`."""
    if reacted:
        return protocol.encode_reactions(message.room, message.id, message.reactions or (), ref)
    return protocol.encode_change(message, ref)


class RoomCore:
    def __init__(
        self,
        name: str,
        *,
        clock_ms: Callable[[], int],
        budget: CacheBudget,
        elsewhere: Elsewhere | None,
        error_codes: collections.Counter[str],
        is_bot: Callable[[str], bool] = lambda user: False,
    ) -> None:
        self.name = name  # as first spelled: the store's spelling once stored
        self.key = name.lower()
        self.settings = RoomSettings()
        self.settings_read = False  # until then, whether the room is private is not known
        self.settings_stale = False  # changed by another server: read them again
        self.timeline = Timeline(budget)
        self.members = Members(self.key, elsewhere, is_bot)
        self._outbox: Outbox[Subscriber] = Outbox()
        self.clock_ms = clock_ms
        self._error_codes = error_codes
        self.effects: list[Effect] = []
        self.mentioned = Mentioned()

    def take_effects(self) -> list[Effect]:
        effects, self.effects = self.effects, []
        return effects

    @property
    def private(self) -> bool:
        return self.settings.rules.private

    def is_member(self, subscriber: Subscriber) -> bool:
        """Whether `subscriber` joined here (its join handled and accepted)."""
        return subscriber in self.members.subscribers

    def join_refusal(self, user: str) -> str | None:
        """Why `user` may not join, if known here (settings read, not stale); else None."""
        rules = self.settings.rules
        if not self.settings_read or self.settings_stale or may_join(rules, user):
            return None
        return why_not_join(rules, user)

    def read(self, settings: RoomSettings) -> None:
        """The room's settings, as the store has them (its load's first read)."""
        self.settings = settings
        self.settings_read = True

    def load(self, last_id: int, recent: list[ChatMessage]) -> None:
        """The room's last id and latest messages, as the store has them."""
        self.timeline.load(last_id, recent, seen=bool(self.members.subscribers))

    def reread(self, settings: RoomSettings) -> None:
        """The settings as another server left them."""
        self.settings = settings
        self.settings_stale = False
        self._broadcast(protocol.encode_room_info(self.name, settings.info))

    # -- joins and leaves ---------------------------------------------------------

    def refuse(self, request: JoinRequest) -> bool:
        """Refuse the join if the room's rules say so (decided before
        anything is read for it, and never waiting on the store: refusals
        cost the room's members nothing)."""
        subscriber, user = request.subscriber, request.subscriber.user
        if may_join(self.settings.rules, user):
            return False
        why = why_not_join(self.settings.rules, user)
        self.join_failed(
            subscriber, request.ref, ProtocolError(ErrorCode.FORBIDDEN, why, request.ref)
        )
        # Its join remembered the room among the user's rooms.
        self.effects += [ForgetRoom(user), ForgottenEvent(self.name, user)]
        return True

    def admit(self, request: JoinRequest) -> None:
        """A join the rules allow, with every message before what its client
        saw fanned out: it gets `joined`, and the others its presence."""
        subscriber = request.subscriber
        history, truncated = self.timeline.history_since(request.since, request.prefetched)
        if subscriber not in self.members.subscribers:
            rules = self.settings.rules
            if self.members.add(subscriber, rules, self.clock_ms()):
                since = self.members.since(subscriber.user)
                self.effects.append(PresenceEvent(self.name, subscriber.user, since))
            # Its history already holds what was broadcast before this point.
            self._outbox.start_here(subscriber)
        joined = protocol.encode_joined(
            self.name,
            self.members.listed(self.settings.rules),
            history,
            request.ref,
            truncated,
            self.settings.info,
            request.read,
            *self.timeline.changes_up_to(request),
        )
        self._outbox.send_to(subscriber, text_frame(joined))
        self._announce(subscriber.user)

    def leave(self, subscriber: Subscriber, ref: Ref, reply: bool, as_sent: str | None) -> None:
        if subscriber not in self.members.subscribers:  # refused, or it left already
            if reply:
                self._error(subscriber, protocol.not_member_error(as_sent or self.name, ref))
            return
        # A connection that is gone (reply=False) is owed nothing more.
        owed = self._outbox.take(subscriber) if reply else b""
        self._remove(subscriber)
        if reply:
            subscriber.deliver(owed + text_frame(protocol.encode_left(self.name, ref)))

    def expel(self, user: str, by: str, reason: str | None) -> None:
        """Every connection of `user` here gets `kicked` and is no longer a
        member (the others see a presence leave)."""
        kicked = text_frame(protocol.encode_kicked(self.name, by, reason))
        for subscriber in [s for s in self.members.subscribers if s.user.lower() == user.lower()]:
            owed = self._outbox.take(subscriber)
            self._remove(subscriber)
            subscriber.deliver(owed + kicked)

    def _remove(self, subscriber: Subscriber) -> None:
        if subscriber not in self.members.subscribers:
            return
        subscriber.not_in(self.name)
        self._outbox.forget(subscriber)
        if self.members.remove(subscriber):
            user = subscriber.user
            self.effects += [
                MarkSeen(user, self.timeline.last_id),
                PresenceEvent(self.name, user, None),
            ]
            self._announce(user)

    def _announce(self, user: str) -> None:
        """Tell the members when `user` became or stopped being a member on
        any server (a user on two servers is one member)."""
        event = self.members.presence(user)
        if event is not None:
            bot = self.members.is_bot(user)
            self._broadcast(protocol.encode_presence(self.name, event, user, bot))

    # -- members' requests ----------------------------------------------------------

    def list_members(self, subscriber: Subscriber, ref: Ref) -> None:
        listed = self.members.listed(self.settings.rules)
        self._send_to(subscriber, protocol.encode_members(self.name, listed, ref))

    def typing(self, user: str, now: float) -> None:
        """`user` is typing here: the members on every server are told,
        unless they were told lately."""
        if relay_typing(self.name, self.members, self._outbox, user, now):
            self.effects.append(TypingEvent(self.name, user))

    def committed(self, messages: list[ChatMessage], notify: Notify = ()) -> None:
        """New messages, committed here: for the other servers, a direct
        room's users not in it, and the members they mention (`notify`)."""
        self.effects.append(MessagesEvent(self.name, tuple(messages), notify))
        self.mentioned.expect(notify)

    def deliver_saved(self, request: PublishRequest, message: ChatMessage, new: bool) -> None:
        """A send, committed (fanned out from here on) or, `new` False, the
        message its `cid` already stored, for the sender alone."""
        own = text_frame(protocol.encode_message(message, request.ref))
        if not new:
            self._outbox.send_to(request.subscriber, own)
            return
        self._outbox.broadcast(text_frame(protocol.encode_message(message)))
        if request.ref is not None:
            self._outbox.replace_last(request.subscriber, own)
        self.mentioned.tell(message, self.members.subscribers, self._outbox)
        if self._outbox.size > MAX_FLUSH_BYTES:
            self.flush()

    def fan_out(self, messages: list[ChatMessage]) -> None:
        """Messages committed elsewhere (or read from the store), in id
        order, after every message before them."""
        self.timeline.accept(messages)
        for message in messages:
            self._outbox.broadcast(text_frame(protocol.encode_message(message)))
            self.mentioned.tell(message, self.members.subscribers, self._outbox)
            if self._outbox.size > MAX_FLUSH_BYTES:
                self.flush()

    def changed_by(self, request: ChangeRequest, message: ChatMessage, changed: bool) -> None:
        """An edit, delete or reaction committed here (the message fanned out);
        not `changed` (a reaction there already): for the requester alone."""
        reacted = request.emoji is not None
        known = self.change(message, reacted) if changed else None
        if request.ref is not None or known is None:
            own = text_frame(change_frame(known or message, reacted, request.ref))
            # (in place of the broadcast one; or after a later one, or alone)
            reply = self._outbox.replace_last if known is message else self._outbox.send_to
            reply(request.subscriber, own)
        if known is not None:
            self.effects.append(ChangedEvent(self.name, message, reacted))

    def change(self, message: ChatMessage, reacted: bool = False) -> ChatMessage:
        """Members (and later joins) see the message as it is now, unless a
        later change of it came first: the message as members know it."""
        if (newer := self.timeline.newer(message)) is not None:
            return newer
        self.timeline.change(message)
        self._outbox.broadcast(text_frame(change_frame(message, reacted)))
        return message

    def settings_changed(self, request: SettingsRequest, settings: RoomSettings) -> None:
        """The topic, a role, the owner or the archive, changed here (1.2's
        transfer and archive answer `done` first, as the contract writes it)."""
        self.settings = settings
        done = protocol.encode_done(request.ref)
        done_first = request.owner is not None or request.archived is not None
        if done_first:
            self._send_to(request.subscriber, done)
        self._broadcast(protocol.encode_room_info(self.name, settings.info))
        if not done_first:
            self._send_to(request.subscriber, done)
        self.effects.append(SettingsEvent(self.name))

    def moderated(self, request: ModerateRequest, settings: RoomSettings, invited: bool) -> None:
        """An invitation, kick, ban or unban, stored; `invited`: an
        invitation not made before (and not acted on), which is told."""
        subscriber, action, target = request.subscriber, request.action, request.user
        actor = subscriber.user
        role_ended = self.settings.rules.moderators != settings.rules.moderators
        self.settings = settings
        if role_ended:  # (a kick or ban ends a moderator's role)
            self._broadcast(protocol.encode_room_info(self.name, settings.info))
        expelling = action in (Action.KICK, Action.BAN)
        if expelling:
            self.expel(target, actor, request.reason)
            self.effects.append(ExpelledEvent(self.name, target, actor, request.reason))
        if action is Action.INVITE:
            self._send_to(subscriber, protocol.encode_invited(self.name, target, request.ref))
            if invited:
                self.effects.append(InvitationEvent(self.name, target, actor))
                # The members here hear of the room as every server's do.
                self._broadcast(protocol.encode_room_info(self.name, settings.info))
        else:
            self._send_to(subscriber, protocol.encode_done(request.ref))
        if action is not Action.KICK or self.private or role_ended:  # lists changed
            self.effects.append(SettingsEvent(self.name))

    # -- from other servers -----------------------------------------------------------

    def take(self, event: Event, now: float) -> None:
        """What another server did here (its messages and edits are the
        timeline's: see actor.py, which reads what is missing first)."""
        match event:
            case ChangedEvent(_room, message, reacted):
                self.change(message, reacted)
            case SettingsEvent() | InvitationEvent():
                self.settings_stale = True
            case ExpelledEvent(_room, user, by, reason):
                self.expel(user, by, reason)
            case TypingEvent(_room, user):
                relay_typing(self.name, self.members, self._outbox, user, now)
            case MembersChanged(_room, users):
                for user in users:
                    self._announce(user)

    # -- replies and fan-out ------------------------------------------------------------

    def not_member(self, subscriber: Subscriber, ref: Ref) -> None:
        self._error(subscriber, protocol.not_member_error(self.name, ref))

    def unavailable(self, subscriber: Subscriber, ref: Ref) -> None:
        """The store could not be read or written for the request."""
        self._error(subscriber, protocol.unavailable_error(ref))

    def join_failed(
        self, subscriber: Subscriber, ref: Ref, error: ProtocolError | None = None
    ) -> None:
        """A join refused (by default `unavailable`): not a member (unless it was)."""
        if subscriber not in self.members.subscribers:
            subscriber.not_in(self.name)
        self._error(subscriber, error or protocol.unavailable_error(ref))

    def answer(self, subscriber: Subscriber, error: ProtocolError) -> None:
        self._error(subscriber, error)

    def flush(self) -> None:
        """Send the batch so far; members that refuse it are removed (and
        the others then see them leave)."""
        while self._outbox:
            for subscriber in self._outbox.deliver(self.members.subscribers):
                self._remove(subscriber)

    def _broadcast(self, text: str) -> None:
        self._outbox.broadcast(text_frame(text))

    def _send_to(self, subscriber: Subscriber, text: str) -> None:
        """A reply in its place in the member's stream (at once to a non-member)."""
        if subscriber in self.members.subscribers:
            self._outbox.send_to(subscriber, text_frame(text))
        else:
            subscriber.deliver(text_frame(text))

    def _error(self, subscriber: Subscriber, error: ProtocolError) -> None:
        self._error_codes[error.code] += 1
        self._send_to(subscriber, protocol.encode_error(error))


# -- who may ask what of the store (the store decides the rest) --------------------


def changes_asked(rules: RoomRules, requests: list[ChangeRequest]) -> list[MessageChange]:
    """What the store is to change: each reaction, and each edit or delete
    with whether its requester may change others' messages (the store
    decides the rest in the same statement)."""
    role_of = rules.role_of
    return [
        Reaction(r.message_id, r.subscriber.user, r.emoji, r.on)
        if r.emoji is not None
        else (
            r.message_id,
            r.subscriber.user,
            r.text,
            may_change_others(
                Change.EDIT if r.text is not None else Change.DELETE,
                role_of(r.subscriber.user),
            ),
        )
        for r in requests
    ]


def change_refusal(request: ChangeRequest, found: bool) -> ProtocolError:
    """The store changed nothing: the message is someone else's, or none."""
    if found:
        return protocol.not_yours_error(request.ref)
    return protocol.not_found_error(request.message_id, request.ref)


def archived_refusal(rules: RoomRules, request: PublishRequest | ChangeRequest) -> bool:
    """Whether an archived room refuses the request: sends, edits and
    reactions (deletes it takes: moderation goes on)."""
    if not rules.archived:
        return False
    return not isinstance(request, ChangeRequest) or request.text is not None or bool(request.emoji)


def settings_refusal(rules: RoomRules, request: SettingsRequest) -> ProtocolError | None:
    """Why the requester may not change the topic or a role; None if they may."""
    actor = request.subscriber.user
    if request.topic is not None:
        refused = None if may_set_topic(rules, actor) else ErrorCode.FORBIDDEN
    elif request.owner is not None:
        refused = refusal(rules, actor, Action.TRANSFER, request.owner)
    elif request.archived is not None:
        refused = None if may_archive(rules, actor) else ErrorCode.FORBIDDEN
    else:
        assert request.user is not None
        refused = refusal(rules, actor, Action.SET_ROLE, request.user)
    # (A topic cleared to "" is answered as a role is, as it always was.)
    who = "the owner and moderators" if request.topic else "the owner"
    if refused is None:
        return None
    return ProtocolError(refused, f"only {who} may do that here", request.ref)


def moderation_refusal(rules: RoomRules, request: ModerateRequest) -> ProtocolError | None:
    """Why the requester may not invite, kick, ban or unban; None if they may."""
    action, actor = request.action, request.subscriber.user
    refused = refusal(rules, actor, action, request.user)
    if refused is None:
        return None
    why = f"you may not {action.value} {request.user} here"
    return ProtocolError(refused, why, request.ref)
