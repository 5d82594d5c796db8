"""The attach stream's framing: frames split anywhere still demultiplex to the same bytes,
and stdout re-splits into the same lines, whatever the chunking."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_lok.proxy.framing import (
    Demuxer,
    FramingError,
    LineSplitter,
    LineTooLong,
    Stream,
    encode_stdin,
    frame,
)

frames = st.lists(
    st.tuples(st.sampled_from([Stream.STDOUT, Stream.STDERR]), st.binary(max_size=300)),
    max_size=20,
)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _joined(pieces: list[tuple[Stream, bytes]]) -> dict[Stream, bytes]:
    out = {Stream.STDOUT: b"", Stream.STDERR: b""}
    for stream, payload in pieces:
        out[stream] += payload
    return out


@given(frames, st.lists(st.integers(min_value=0), max_size=40))
def test_any_split_of_the_stream_gives_the_same_bytes_per_stream(
    sent: list[tuple[Stream, bytes]], cuts: list[int]
) -> None:
    wire = b"".join(frame(stream, payload) for stream, payload in sent)
    demuxer = Demuxer()
    pieces = [piece for chunk in _chunks(wire, cuts) for piece in demuxer.feed(chunk)]
    assert _joined(pieces) == _joined(sent)
    assert demuxer.idle


def test_a_frame_header_split_across_feeds_is_held_until_complete() -> None:
    demuxer = Demuxer()
    wire = frame(Stream.STDOUT, b"hello")
    assert demuxer.feed(wire[:3]) == []
    assert not demuxer.idle
    assert demuxer.feed(wire[3:9]) == [(Stream.STDOUT, b"h")]
    assert demuxer.feed(wire[9:]) == [(Stream.STDOUT, b"ello")]


def test_pieces_of_one_stream_in_one_feed_are_joined() -> None:
    wire = frame(Stream.STDOUT, b"a") + frame(Stream.STDOUT, b"b") + frame(Stream.STDERR, b"c")
    assert Demuxer().feed(wire) == [(Stream.STDOUT, b"ab"), (Stream.STDERR, b"c")]


def test_an_empty_frame_yields_nothing() -> None:
    assert Demuxer().feed(frame(Stream.STDOUT, b"")) == []


@pytest.mark.parametrize(
    "header",
    [b"\x00\x00\x00\x00\x00\x00\x00\x01", b"\x03\x00\x00\x00\x00\x00\x00\x01", b'{"jsonrp'],
    ids=["stdin", "unknown stream", "a TTY stream (no framing)"],
)
def test_a_bad_header_is_an_error(header: bytes) -> None:
    with pytest.raises(FramingError):
        Demuxer().feed(header)


lines = st.lists(st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"")), max_size=20)


@given(lines, st.lists(st.integers(min_value=0), max_size=40))
def test_lines_come_out_whole_whatever_the_chunks(sent: list[bytes], cuts: list[int]) -> None:
    data = b"".join(line + b"\n" for line in sent)
    splitter = LineSplitter()
    got = [line for chunk in _chunks(data, cuts) for line in splitter.feed(chunk)]
    expected = [line[:-1] if line.endswith(b"\r") else line for line in sent]
    assert got == [line for line in expected if line.strip()]
    assert splitter.pending == 0


def test_a_partial_line_is_kept_for_the_next_feed() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b'{"a":') == []
    assert splitter.pending == 5
    assert splitter.feed(b'1}\r\n{"b"') == [b'{"a":1}']
    assert splitter.feed(b":2}\n") == [b'{"b":2}']


def test_blank_lines_are_skipped() -> None:
    assert LineSplitter().feed(b"\n  \n{}\n\r\n") == [b"{}"]


def test_a_line_longer_than_the_limit_is_an_error_even_before_its_newline() -> None:
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"12345678") == []
    with pytest.raises(LineTooLong):
        splitter.feed(b"9")
    with pytest.raises(LineTooLong):
        LineSplitter(max_line=8).feed(b"1234\n123456789\n")
    with pytest.raises(LineTooLong):
        LineSplitter(max_line=8).feed(b"123456789\n")


def test_stdin_is_one_line_per_message_and_refuses_raw_line_breaks() -> None:
    assert encode_stdin(b'{"a":1}') == b'{"a":1}\n'
    for bad in (b'{"a":\n1}', b'{"a":\r1}'):
        with pytest.raises(ValueError, match="line break"):
            encode_stdin(bad)
