"""Search queries without a server: what a query's terms are, the `search`
frame, and that nothing typed ever makes SQLite's FTS5 raise (Hypothesis,
against a real FTS5 table made as the migration makes it)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatroom import protocol
from chatroom.domain.search import (
    MAX_QUERY_CHARS,
    MAX_QUERY_TERMS,
    QueryError,
    SearchQuery,
    parse_query,
)
from chatroom.store.search import fts5_match, tsquery


def test_words_and_phrases() -> None:
    assert parse_query("Hello world").terms == (("Hello",), ("world",))
    assert parse_query('say "brown fox" now').terms == (("say",), ("brown", "fox"), ("now",))
    assert parse_query('"one"').terms == (("one",),)
    # A quote left open runs to the end.
    assert parse_query('a "b c').terms == (("a",), ("b", "c"))
    # Operators and punctuation are not words.
    assert parse_query("NEAR(a b) OR -c ^d x:y e* (((").terms == tuple(
        (w,) for w in ("NEAR", "a", "b", "OR", "c", "d", "x", "y", "e")
    )
    assert parse_query("snake_case foo-bar").terms == tuple(
        (w,) for w in ("snake", "case", "foo", "bar")
    )
    assert parse_query("été 日本 x²").terms == (("été",), ("日本",), ("x²",))
    for nothing in ("", " ", '"', '""', "*", "(((", '" "'):
        assert not parse_query(nothing)


def test_bounds() -> None:
    parse_query("x" * MAX_QUERY_CHARS)
    with pytest.raises(QueryError):
        parse_query("x" * (MAX_QUERY_CHARS + 1))
    parse_query(" ".join(["w"] * MAX_QUERY_TERMS))
    with pytest.raises(QueryError):
        parse_query(" ".join(["w"] * (MAX_QUERY_TERMS + 1)))
    # A phrase is one term, however many words.
    assert len(parse_query('"' + " ".join(["w"] * 50) + '"').terms) == 1


def test_what_the_databases_are_given() -> None:
    query = parse_query('say "brown fox"')
    assert fts5_match(query) == '"say" AND "brown fox"'
    assert tsquery(query) == (
        "(phraseto_tsquery('simple', ?) && phraseto_tsquery('simple', ?))",
        ["say", "brown fox"],
    )


def test_the_search_frame() -> None:
    request = protocol.parse_request(
        json.dumps({"type": "search", "query": "a b", "room": "r", "before": 9, "ref": 1})
    )
    assert request == protocol.Search(parse_query("a b"), "r", 9, 20, 1)
    request = protocol.parse_request('{"type":"search","query":"x","limit":50}')
    assert isinstance(request, protocol.Search)
    assert (request.room, request.before, request.limit) == (None, None, 50)
    for bad in (
        {"type": "search"},
        {"type": "search", "query": 1},
        {"type": "search", "query": "x", "limit": 0},
        {"type": "search", "query": "x", "limit": 51},
        {"type": "search", "query": "x", "room": "no room!"},
        {"type": "search", "query": "x", "before": -1},
        {"type": "search", "query": "x" * 201},
        {"type": "search", "query": "a b c d e f g h i j k"},
    ):
        with pytest.raises(protocol.ProtocolError) as error:
            protocol.parse_request(json.dumps(bad))
        assert error.value.code == protocol.ErrorCode.BAD_REQUEST
    assert json.loads(protocol.encode_results([], False, "r")) == {
        "type": "results",
        "messages": [],
        "more": False,
        "ref": "r",
    }


@pytest.fixture(scope="module")
def fts5() -> Iterator[sqlite3.Connection]:
    """An FTS5 table with the migration's options (contentless, like its
    external content: no copy of the text), holding a few messages."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE t USING fts5(body, content='', columnsize=0, "
        "tokenize='unicode61 remove_diacritics 0')"
    )
    texts = ["the quick brown fox", "NEAR AND OR NOT", "été à 日本", 'a "quoted" * thing']
    conn.executemany("INSERT INTO t (rowid, body) VALUES (?, ?)", enumerate(texts, 1))
    yield conn
    conn.close()


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=MAX_QUERY_CHARS))
def test_no_query_makes_fts5_raise(fts5: sqlite3.Connection, text: str) -> None:
    try:
        query = parse_query(text)
    except QueryError:
        return
    if query:
        fts5.execute("SELECT rowid FROM t WHERE t MATCH ?", (fts5_match(query),)).fetchall()


_SOME_WORDS = st.lists(
    st.sampled_from(["near", "and", "or", "not", "quick", "Fox", "été", "x1", "日本"]),
    min_size=1,
    max_size=MAX_QUERY_TERMS,
)


@settings(max_examples=200, deadline=None)
@given(_SOME_WORDS, st.sampled_from([" ", "-", ", ", "*", '"', ":", "(", "^", " ) "]))
def test_a_message_is_found_by_its_words_and_phrases(
    fts5: sqlite3.Connection, words: list[str], glue: str
) -> None:
    text = " ".join(words)
    rowid = 1000
    fts5.execute("INSERT INTO t (rowid, body) VALUES (?, ?)", (rowid, text))
    try:
        for query in (glue.join(words), '"' + " ".join(words).upper() + '"'):
            match = fts5_match(parse_query(query))
            rows = fts5.execute("SELECT rowid FROM t WHERE t MATCH ?", (match,)).fetchall()
            assert (rowid,) in rows, (query, match)
    finally:
        fts5.execute("INSERT INTO t (t, rowid, body) VALUES ('delete', ?, ?)", (rowid, text))


def test_an_empty_query_is_no_query() -> None:
    assert SearchQuery() == parse_query("")
    assert not SearchQuery()
