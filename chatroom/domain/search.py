"""Search queries as people type them: words, and "quoted phrases".

Sans-IO: a query is parsed here into terms, each a run of words, and the
store turns the terms into its database's own syntax (an FTS5 MATCH
string, a PostgreSQL tsquery). Nothing a user types is an operator:
`*`, `NEAR`, `OR`, `-`, `^`, `x:` and parentheses are not words and are
dropped, and a quote left open runs to the end of the query.
"""

from __future__ import annotations

import re

import attrs

MAX_QUERY_CHARS = 200
MAX_QUERY_TERMS = 10  # words, and phrases counted as one
DEFAULT_SEARCH_LIMIT = 20
MAX_SEARCH_LIMIT = 50
# Searches one connection (over HTTP: one user) may make at once, and then
# per second.
SEARCH_BURST = 10
SEARCHES_PER_SECOND = 1.0

# A word: letters and digits (of any script), as both databases' word
# splitting agrees on them (SQLite's unicode61, PostgreSQL's parser once
# the store has turned ASCII punctuation into spaces).
_WORD = re.compile(r"[^\W_]+")


class QueryError(ValueError):
    """A query over the bounds: its message says which."""


@attrs.frozen
class SearchQuery:
    """What to find: every term, each one word or a phrase of several in
    that order."""

    terms: tuple[tuple[str, ...], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.terms)


def parse_query(text: str) -> SearchQuery:
    """The terms of `text`: each word outside quotes, each quoted phrase
    (its words). A query without words finds nothing; one over
    MAX_QUERY_CHARS or with more than MAX_QUERY_TERMS terms is a QueryError."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"a query is at most {MAX_QUERY_CHARS} characters")
    terms: list[tuple[str, ...]] = []
    # Between quotes (odd pieces) a phrase; an unclosed quote's rest too.
    for index, piece in enumerate(text.split('"')):
        words = tuple(_WORD.findall(piece))
        if index % 2:
            if words:
                terms.append(words)
        else:
            terms += [(word,) for word in words]
    if len(terms) > MAX_QUERY_TERMS:
        raise QueryError(
            f"a query has at most {MAX_QUERY_TERMS} words (a quoted phrase counts as one)"
        )
    return SearchQuery(tuple(terms))
