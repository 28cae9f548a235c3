"""Protocol 1.2, search: the `search` request parsed, its `results` encoded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from chatroom.domain.messages import MAX_ID, ChatMessage
from chatroom.domain.search import (
    DEFAULT_SEARCH_LIMIT,
    MAX_SEARCH_LIMIT,
    QueryError,
    SearchQuery,
    parse_query,
)
from chatroom.protocol._errors import Ref
from chatroom.protocol._events import _with_ref
from chatroom.protocol._fields import Fields


@attrs.frozen
class Search:
    """Messages matching `query` in the rooms the user may read (or in
    `room`), with ids below `before` if given, newest first."""

    query: SearchQuery
    room: str | None = None
    before: int | None = None
    limit: int = DEFAULT_SEARCH_LIMIT
    ref: Ref = None


def parse_search_request(kind: str, fields: Fields) -> Search | None:
    """The request of frame type `kind`, if it is a search."""
    if kind != "search":
        return None
    try:
        query = parse_query(fields.string("query"))
    except QueryError as exc:
        raise fields.error(str(exc)) from None
    room = fields.room_or_none("room")
    before = fields.optional_int("before", 0, MAX_ID)
    limit = fields.optional_int("limit", 1, MAX_SEARCH_LIMIT)
    limit = DEFAULT_SEARCH_LIMIT if limit is None else limit
    return Search(query, room, before, limit, fields.ref)


def results_json(messages: Sequence[ChatMessage], more: bool) -> dict[str, Any]:
    """The `results` frame's object (also what GET /api/search answers)."""
    return {"type": "results", "messages": [m.as_json() for m in messages], "more": more}


def encode_results(messages: Sequence[ChatMessage], more: bool, ref: Ref = None) -> str:
    return _with_ref(results_json(messages, more), ref)
