"""SSE framing: what `encode` writes, `Parser` reads back the same, however it is chunked."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_lok.proxy import sse


def test_an_event_is_its_fields_then_one_data_line_per_line() -> None:
    assert sse.encode('{"a":1}') == b'event: message\ndata: {"a":1}\n\n'
    assert sse.encode(b"x\ny", event="endpoint", id="7") == (
        b"event: endpoint\nid: 7\ndata: x\ndata: y\n\n"
    )
    assert sse.encode("a\r\nb\rc", event=None) == b"data: a\ndata: b\ndata: c\n\n"


@pytest.mark.parametrize(("field", "value"), [("event", "a\nb"), ("id", "1\r2"), ("id", "a\0")])
def test_fields_must_be_one_line(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        sse.encode("x", **{field: value})  # type: ignore[arg-type]


def test_a_comment_is_one_line_and_ignored_by_readers() -> None:
    assert sse.comment("keep\nalive") == b": keep alive\n\n"
    assert sse.Parser().feed(sse.comment("x")) == []


# event data is UTF-8 text: lone surrogates cannot be encoded, so they are not generated
texts = st.text(
    alphabet=st.characters(blacklist_characters="\r", blacklist_categories=("Cs",)), max_size=60
)


@given(
    st.lists(st.tuples(texts, st.sampled_from(["message", "endpoint"])), max_size=8),
    st.lists(st.integers(min_value=0), max_size=30),
)
def test_what_is_encoded_parses_back_whatever_the_chunks(
    events: list[tuple[str, str]], cuts: list[int]
) -> None:
    wire = b"".join(sse.encode(data, event=event) for data, event in events)
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    parser = sse.Parser()
    got = []
    for start, end in itertools.pairwise(points):
        got += parser.feed(wire[start:end])
    assert [(e.data, e.event) for e in got] == events


def test_crlf_split_between_chunks_is_one_line_break() -> None:
    parser = sse.Parser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n\r") == []
    assert parser.feed(b"\nid: 3\r\ndata: b\r\n\r\n") == [
        sse.Event("a"),
        sse.Event("b", id="3"),
    ]


def test_a_reader_keeps_the_last_id_and_skips_unknown_fields() -> None:
    events = sse.Parser().feed(b"id: 1\nretry: 5\nfoo\ndata:x\n\ndata: y\n\n")
    assert events == [sse.Event("x", id="1"), sse.Event("y", id="1")]
