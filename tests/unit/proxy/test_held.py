"""The held GET stream's decisions, without sockets (`proxy/held.py`): the bounded event
buffer, what counts as `notifications/initialized`, and the sessions' states."""

from __future__ import annotations

import pytest

from mcp_lok.proxy.held import EventBuffer, Registry, State, is_initialized

ONE = b'event: message\r\nid: 1\r\ndata: {"a":1}\r\n\r\n'
TWO = b'event: message\ndata: {"b":2}\n\n'


# --- notifications/initialized -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"jsonrpc":"2.0","method":"notifications/initialized"}', True),
        (
            b'[{"jsonrpc":"2.0","id":3,"method":"ping"},'
            b'{"jsonrpc":"2.0","method":"notifications/initialized"}]',
            True,
        ),
        (b'{"jsonrpc":"2.0","id":1,"method":"notifications/initialized"}', False),  # a request
        (b'{"jsonrpc":"2.0","method":"notifications/cancelled"}', False),
        (b'{"jsonrpc":"2.0","id":1,"result":{}}', False),
        (b"not json", False),
        (b"\xff\xfe", False),
        (b'"notifications/initialized"', False),
    ],
)
def test_only_the_initialized_notification_counts(body: bytes, expected: bool) -> None:
    assert is_initialized(body) is expected


# --- the buffer ----------------------------------------------------------------------------


def test_events_come_back_in_order_byte_for_byte_and_only_once() -> None:
    buffer = EventBuffer()
    assert buffer.feed(ONE + TWO) == 0
    assert len(buffer) == 2
    assert buffer.take() == ONE + TWO
    assert buffer.take() == b""
    assert len(buffer) == 0


@pytest.mark.parametrize("cut", range(1, len(ONE + TWO)))
def test_an_event_split_anywhere_is_held_whole(cut: int) -> None:
    buffer = EventBuffer()
    data = ONE + TWO
    buffer.feed(data[:cut])
    buffer.feed(data[cut:])
    assert len(buffer) == 2
    assert buffer.take() == data


def test_a_crlf_split_between_chunks_is_one_line_break_not_two() -> None:
    buffer = EventBuffer()
    buffer.feed(b"data: x\r")
    buffer.feed(b"\ndata: y\r\n\r\n")
    assert len(buffer) == 1
    assert buffer.take() == b"data: x\r\ndata: y\r\n\r\n"


def test_keep_alive_comments_are_not_held() -> None:
    buffer = EventBuffer()
    buffer.feed(b": ping\n\n" + ONE + b":\r\n\r\n\n")
    assert len(buffer) == 1
    assert buffer.take() == ONE


def test_take_hands_over_the_part_of_an_event_that_has_arrived() -> None:
    buffer = EventBuffer()
    buffer.feed(ONE + b'event: message\ndata: {"b')
    assert len(buffer) == 1
    assert buffer.take() == ONE + b'event: message\ndata: {"b'
    # the rest arrives afterwards on the live stream, unchanged
    assert buffer.passing(b'":2}\n\n') == b'":2}\n\n'


def test_the_oldest_events_go_beyond_the_count() -> None:
    buffer = EventBuffer(max_events=3)
    events = [f"data: {n}\n\n".encode() for n in range(5)]
    dropped = sum(buffer.feed(event) for event in events)
    assert dropped == 2
    assert buffer.dropped == 2
    assert buffer.take() == b"".join(events[2:])
    assert buffer.dropped == 0


def test_the_oldest_events_go_beyond_the_bytes() -> None:
    events = [f"data: {n:04}\n\n".encode() for n in range(4)]  # 12 bytes each
    buffer = EventBuffer(max_bytes=30)
    assert sum(buffer.feed(event) for event in events) == 2
    assert buffer.size == 24
    assert buffer.take() == b"".join(events[2:])


def test_an_event_larger_than_the_bytes_is_dropped_and_the_next_one_kept() -> None:
    buffer = EventBuffer(max_bytes=40)
    big = b"data: " + b"x" * 100 + b"\n\n"
    dropped = 0
    for start in range(0, len(big), 7):  # its pieces arrive one by one
        dropped += buffer.feed(big[start : start + 7])
    dropped += buffer.feed(TWO)
    assert dropped == 1
    assert buffer.take() == TWO


def test_an_event_of_many_short_lines_over_the_bytes_is_dropped() -> None:
    buffer = EventBuffer(max_bytes=40)
    assert buffer.feed(b"".join(b"data: %d\n" % n for n in range(10))) == 1
    assert buffer.feed(b"\n" + TWO) == 0
    assert buffer.take() == TWO


def test_the_rest_of_a_dropped_event_never_reaches_the_client() -> None:
    buffer = EventBuffer(max_bytes=40)
    buffer.feed(ONE[:0] + b"data: " + b"y" * 60)  # too large already, and not ended
    assert buffer.take() == b""
    assert buffer.passing(b"y" * 10) == b""
    assert buffer.passing(b"yyy\r") == b""
    assert buffer.passing(b"\n\r\n" + TWO) == TWO
    assert buffer.passing(ONE) == ONE


def test_a_dropped_event_cut_before_its_line_break_does_not_end_early() -> None:
    buffer = EventBuffer(max_bytes=32)
    buffer.feed(b"data: " + b"z" * 30)  # skipped from the middle of a line
    buffer.feed(b"\n")  # that line's end, not a blank line
    buffer.feed(b"data: still the big one\n\n" + TWO)
    assert buffer.take() == TWO


# --- sessions ------------------------------------------------------------------------------


def test_a_session_opens_its_stream_once_and_never_after_the_client_took_over() -> None:
    registry = Registry(60.0)
    registry.learn("a", 0.0)
    registry.learn("b", 0.0)
    assert registry.should_open("a") == (True, [])
    assert registry.should_open("a") == (False, [])  # once
    assert registry.should_open("unknown") == (False, [])
    session = registry.get("b")
    assert session is not None
    session.state = State.DIRECT  # its client opened its own GET first
    assert registry.should_open("b") == (False, [])


def test_held_streams_beyond_the_limit_name_the_least_recently_used() -> None:
    registry = Registry(60.0, max_held=2)
    for name in "abc":
        registry.learn(name, 0.0)
    assert registry.should_open("a")[1] == []
    assert registry.should_open("b")[1] == []
    registry.touch("a", 1.0)  # b is now the least recently used
    opening, victims = registry.should_open("c")
    assert opening
    assert [v.id for v in victims] == ["b"]


def test_known_sessions_are_bounded_and_the_oldest_forgotten() -> None:
    registry = Registry(60.0, max_known=2)
    assert registry.learn("a", 0.0) == []
    assert registry.learn("b", 0.0) == []
    assert registry.learn("a", 1.0) == []  # known already: only touched
    forgotten = registry.learn("c", 2.0)
    assert [s.id for s in forgotten] == ["b"]
    assert len(registry) == 2


def test_idle_sessions_are_taken_out_and_ended_ones_forgotten() -> None:
    registry = Registry(10.0)
    registry.learn("old", 0.0)
    registry.learn("new", 5.0)
    assert registry.touch("missing", 5.0) is None
    assert [s.id for s in registry.idle(12.0)] == ["old"]
    assert registry.get("old") is None
    forgotten = registry.forget("new")
    assert forgotten is not None
    assert forgotten.id == "new"
    assert registry.forget("new") is None
    assert len(registry) == 0
