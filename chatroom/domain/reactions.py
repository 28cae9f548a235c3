"""Reactions to a message (1.2): emoji, each with the users who reacted
with it, in the order first used. Pure values, applied in the store's
transaction (store/reactions.py)."""

from __future__ import annotations

import json
from typing import Any

import attrs

# Distinct emoji on one message; a reaction with a 21st is refused.
MAX_DISTINCT = 20
# Reactions (and taking them back) one user may send, in bursts of
# REACTION_BURST; past it, `rate_limited`.
REACTIONS_PER_MINUTE = 120
REACTION_BURST = 30

# ((emoji, (user, ...)), ...); () once every reaction was taken back.
Reactions = tuple[tuple[str, tuple[str, ...]], ...]


class TooManyReactions(ValueError):
    pass


@attrs.frozen
class Reaction:
    """`user` adds (`on`) or takes back `emoji` on message `message_id`."""

    message_id: int
    user: str
    emoji: str
    on: bool


# What the store's change of a message takes: a reaction, or an edit (text)
# or delete (None) of a message id by a user who may change any author's
# messages or not (the arguments of store/messages.change_message).
MessageChange = tuple[int, str, str | None, bool] | Reaction


def react(reactions: Reactions, emoji: str, user: str, on: bool) -> Reactions | None:
    """`reactions` with `user`'s `emoji` added (`on`) or taken back; None
    if that changes nothing. TooManyReactions for a new emoji past MAX_DISTINCT."""
    key = user.lower()
    by_emoji = dict(reactions)
    users = by_emoji.get(emoji, ())
    has = any(u.lower() == key for u in users)
    if has == on:
        return None
    if on:
        if emoji not in by_emoji and len(by_emoji) >= MAX_DISTINCT:
            raise TooManyReactions(f"at most {MAX_DISTINCT} different reactions on a message")
        by_emoji[emoji] = (*users, user)
    else:
        left = tuple(u for u in users if u.lower() != key)
        if left:
            by_emoji[emoji] = left
        else:
            del by_emoji[emoji]
    return tuple(by_emoji.items())


def reactions_json(reactions: Reactions) -> dict[str, list[str]]:
    return {emoji: list(users) for emoji, users in reactions}


def reactions_of(value: Any) -> Reactions:
    """Reactions from their JSON form (as stored, or from another node);
    ValueError if it is not one."""
    if not isinstance(value, dict):
        raise ValueError("reactions are an object")
    result = []
    for emoji, users in value.items():
        if not (isinstance(users, list) and users and all(isinstance(u, str) for u in users)):
            raise ValueError("each reaction lists its users")
        result.append((emoji, tuple(users)))
    return tuple(result)


def stored_reactions(reactions: Reactions | None) -> str | None:
    """The `reactions` column's value (None: never reacted to)."""
    if reactions is None:
        return None
    return json.dumps(reactions_json(reactions), ensure_ascii=False, separators=(",", ":"))
