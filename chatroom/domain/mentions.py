"""Who a message's text names with `@user` (1.2 "Replies, reactions,
mentions, formatting"): the candidates, before the store says which of
them are users it knows."""

from __future__ import annotations

import re

# At most this many distinct names are looked up per message: past it the
# rest of the text mentions nobody.
MAX_MENTIONS = 20

# `@name` not inside a word or an e-mail address (a@b.c names nobody).
_MENTION = re.compile(r"(?<![A-Za-z0-9_.\-@])@([A-Za-z0-9_.\-]{1,32})")
# Code (fenced blocks, then inline spans) shows text literally: it names nobody.
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)


def mention_candidates(text: str) -> list[str]:
    """The names `text` mentions, in order, distinct without case; each
    with its trailing dots and dashes also stripped (`@ann.` at the end
    of a sentence is most likely Ann), the longest known one winning."""
    if "@" not in text:
        return []
    found: dict[str, str] = {}
    for match in _MENTION.finditer(_CODE.sub(" ", text)):
        name = match.group(1)
        for candidate in (name, name.rstrip(".-")):
            if candidate and candidate.lower() not in found:
                found[candidate.lower()] = candidate
        if len(found) >= MAX_MENTIONS:
            break
    return list(found.values())[:MAX_MENTIONS]


def mentioned(text: str, known: dict[str, str]) -> tuple[str, ...]:
    """The users `text` mentions, spelled as `known` (lower-case name ->
    spelling) has them, in order of first mention; of a name and its
    stripped form, the longer one known."""
    result: list[str] = []
    for match in _MENTION.finditer(_CODE.sub(" ", text)):
        name = match.group(1)
        for candidate in (name, name.rstrip(".-")):
            user = known.get(candidate.lower())
            if user is not None:
                if user not in result:
                    result.append(user)
                break
        if len(result) >= MAX_MENTIONS:
            break
    return tuple(result)
