"""Parsing what clients send: one message or a batch, classified, the client's own bytes
kept only when they are safe to forward as they are."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_lok.proxy import jsonrpc
from mcp_lok.proxy.jsonrpc import Invalid, Kind


def test_a_single_message_keeps_its_bytes_when_they_are_one_line() -> None:
    [message], batch = jsonrpc.parse_body(b' {"jsonrpc":"2.0","method":"n"} ')
    assert (message.kind, batch) == (Kind.NOTIFICATION, False)
    assert message.raw == b'{"jsonrpc":"2.0","method":"n"}'
    [message], _ = jsonrpc.parse_body(b'{"jsonrpc":"2.0",\n"method":"n"}')
    assert message.raw is None  # pretty-printed: re-encoded before it goes to stdin


def test_a_batch_is_each_message_without_bytes() -> None:
    messages, batch = jsonrpc.parse_body(
        b'[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","id":"r","result":{}}]'
    )
    assert batch
    assert [(m.kind, m.raw) for m in messages] == [(Kind.REQUEST, None), (Kind.RESPONSE, None)]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", jsonrpc.PARSE_ERROR),
        (b"\xef\xbb\xbf{}", jsonrpc.PARSE_ERROR),  # a BOM: not forwarded as is
        ('{"jsonrpc":"2.0","method":"x"}'.encode("utf-16"), jsonrpc.PARSE_ERROR),
        (b"[" * 100000, jsonrpc.PARSE_ERROR),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"x"}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":null,"method":"x"}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":5}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"result":1,"error":{}}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1}', jsonrpc.INVALID_REQUEST),
        (b"[1]", jsonrpc.INVALID_REQUEST),
    ],
)
def test_what_cannot_be_routed_is_invalid_with_a_code(body: bytes, code: int) -> None:
    with pytest.raises(Invalid) as caught:
        jsonrpc.parse_body(body)
    assert caught.value.code == code


def test_an_invalid_message_keeps_its_id_for_the_error_when_it_has_one() -> None:
    with pytest.raises(Invalid) as caught:
        jsonrpc.parse_body(b'{"jsonrpc":"2.0","id":"k","method":5}')
    assert caught.value.id == "k"


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_invalid(body: bytes) -> None:
    with contextlib.suppress(Invalid):
        jsonrpc.parse_body(body)


def test_the_response_id_is_found_and_swapped_without_parsing_the_rest() -> None:
    line = b'{"jsonrpc": "2.0", "id": 42, "result": {"x": "\\"id\\": 1"}}'
    assert jsonrpc.response_id(line) == 42
    assert jsonrpc.swap_response_id(line, b'"orig"') == (
        b'{"jsonrpc": "2.0", "id": "orig", "result": {"x": "\\"id\\": 1"}}'
    )
    for other in (
        b'{"id":42,"jsonrpc":"2.0","result":{}}',
        b'{"jsonrpc":"2.0","id":"42","result":{}}',
        b'{"jsonrpc":"2.0","id":42,"method":"x"}',
    ):
        assert jsonrpc.response_id(other) is None


def test_a_response_says_whether_it_is_an_error_and_what_it_answers_after_its_id() -> None:
    ok = b'{"jsonrpc":"2.0","id":7, "result" :{"error":1}}'
    failed = b'{"jsonrpc":"2.0","id":8,"error":{"code":-1,"message":"result"}}'
    assert not jsonrpc.is_error(ok)
    assert jsonrpc.is_error(failed)
    assert jsonrpc.after_id(ok) == b'"result" :{"error":1}}'
    assert jsonrpc.after_id(failed) == b'"error":{"code":-1,"message":"result"}}'
    # the same answer to another id reads the same
    assert jsonrpc.after_id(ok.replace(b":7", b":123")) == jsonrpc.after_id(ok)


def test_the_proxys_own_error_codes_mean_one_thing_each_and_avoid_mcps() -> None:
    """MCP 2026-07-28 ("Error Codes"): -32000 to -32019 is legacy (where the SDKs put
    "connection closed" and "request timeout"), -32020 to -32099 the specification's, and
    -32002 meant "resource not found"; a new code belongs outside -32768 to -32000."""
    codes = [jsonrpc.SERVER_GONE, jsonrpc.REQUEST_TIMEOUT, jsonrpc.REQUEST_CANCELLED]
    assert len(set(codes)) == len(codes)
    assert -32002 not in codes
    assert not any(-32099 <= code <= -32020 for code in codes)
    assert not -32768 <= jsonrpc.REQUEST_CANCELLED <= -32000
