"""Who a message's text names with `@user` (1.2 "Replies, reactions,
mentions, formatting"): the candidates, before the store says which of
them are users it knows."""

from __future__ import annotations

import re

# At most this many distinct names are looked up per message: past it the
# rest of the text mentions nobody.
MAX_MENTIONS = 20

# `@name` not inside a word or an e-mail address (a@b.c names nobody), and
# not the start of a longer word.
_MENTION = re.compile(r"(?<![A-Za-z0-9_.\-@])@([A-Za-z0-9_.\-]{1,32})(?![A-Za-z0-9_.\-])")
# Code (fenced blocks, then inline spans) shows text literally: it names nobody.
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)


def _named(text: str) -> list[tuple[str, ...]]:
    """Each distinct name `text` gives (without case, in order, at most
    MAX_MENTIONS), with its trailing dots and dashes stripped too (`@ann.`
    at the end of a sentence is most likely Ann): the longer form first."""
    if "@" not in text:
        return []
    named: dict[str, tuple[str, ...]] = {}
    for match in _MENTION.finditer(_CODE.sub(" ", text)):
        name = match.group(1)
        stripped = name.rstrip(".-")
        named.setdefault(
            name.lower(), (name, stripped) if stripped and stripped != name else (name,)
        )
        if len(named) == MAX_MENTIONS:
            break
    return list(named.values())


def mention_candidates(text: str) -> list[str]:
    """The names to look up for `text`, in order."""
    return [candidate for forms in _named(text) for candidate in forms]


def mentioned(text: str, known: dict[str, str]) -> tuple[str, ...]:
    """The users `text` mentions, spelled as `known` (lower-case name ->
    spelling) has them, in order of first mention."""
    users: list[str] = []
    for forms in _named(text):
        user = next((known[f.lower()] for f in forms if f.lower() in known), None)
        if user is not None and user not in users:
            users.append(user)
    return tuple(users)
