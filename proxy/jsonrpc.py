"""JSON-RPC 2.0 messages as the proxy sees them (sans-I/O): parse, classify, build errors,
and swap a response's id without re-encoding the rest.

Only what routing needs is looked at; everything else passes through as the peer wrote
it. Which session a message belongs to is the router's business.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603
# The proxy's own errors, sent in the server's place. MCP (2026-07-28, "Error Codes")
# calls -32000 to -32019 legacy: these two keep the meaning the SDKs gave them there
# (the connection closed; the request timed out). -32020 to -32099 is the
# specification's, and a new code for a purpose MCP does not define belongs outside
# JSON-RPC's reserved -32768 to -32000 altogether.
SERVER_GONE = -32000  # the server's stream has ended
REQUEST_TIMEOUT = -32001  # the server did not answer in time
# Ends the HTTP request that carried a JSON-RPC request its client then cancelled: the
# server sends no answer to a cancelled request (MCP), but the POST still needs one, and
# the client ignores it. Not -32002, which MCP used for "resource not found".
REQUEST_CANCELLED = -31001

Id = int | str


class Kind(enum.Enum):
    REQUEST = "request"
    NOTIFICATION = "notification"
    RESPONSE = "response"


class Invalid(Exception):
    """A message the proxy cannot route; `code` is the JSON-RPC error code to answer."""

    def __init__(self, code: int, message: str, id: Id | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.id = id


@dataclass(frozen=True, slots=True)
class Message:
    """One parsed message; `raw` is the peer's own encoding of exactly this message, when
    it is safe to forward as is (a single-line, stand-alone message)."""

    kind: Kind
    body: dict[str, Any]
    raw: bytes | None = None

    @property
    def id(self) -> Id:
        value: Id = self.body["id"]
        return value

    @property
    def method(self) -> str:
        value: str = self.body.get("method", "")
        return value


def loads(data: bytes) -> Any:
    """Parse JSON text that must be UTF-8 (no BOM, no UTF-16: bytes forwarded unchanged
    must mean the same to the server); anything else raises `Invalid(PARSE_ERROR)`."""
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise Invalid(PARSE_ERROR, "parse error") from error


def dumps(value: Any) -> bytes:
    """Compact JSON on one line (json escapes every control character in strings)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def parse_body(data: bytes) -> tuple[list[Message], bool]:
    """An HTTP body: one message or a batch. Returns the messages and whether it was a batch.
    A broken element of a batch raises for the whole batch (the client sent garbage)."""
    value = loads(data)
    if isinstance(value, list):
        if not value:
            raise Invalid(INVALID_REQUEST, "empty batch")
        return [classify(item) for item in value], True
    single_line = b"\n" not in data and b"\r" not in data
    return [classify(value, data.strip() if single_line else None)], False


def classify(value: Any, raw: bytes | None = None) -> Message:
    if not isinstance(value, dict) or value.get("jsonrpc") != "2.0":
        raise Invalid(INVALID_REQUEST, "not a JSON-RPC 2.0 message", _id_of(value))
    has_id = "id" in value
    if has_id and not _valid_id(value["id"]):
        raise Invalid(INVALID_REQUEST, "`id` must be a string or an integer")
    if "method" in value:
        if not isinstance(value["method"], str):
            raise Invalid(INVALID_REQUEST, "`method` must be a string", _id_of(value))
        return Message(Kind.REQUEST if has_id else Kind.NOTIFICATION, value, raw)
    if has_id and (("result" in value) != ("error" in value)):
        return Message(Kind.RESPONSE, value, raw)
    raise Invalid(INVALID_REQUEST, "neither a request, a notification nor a response")


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _id_of(value: Any) -> Id | None:
    if isinstance(value, dict) and _valid_id(value.get("id")):
        found: Id = value["id"]
        return found
    return None


def error(id: Id | None, code: int, message: str) -> bytes:
    return dumps({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})


def result(id: Id, value: Any) -> bytes:
    return dumps({"jsonrpc": "2.0", "id": id, "result": value})


# A server response to one of the proxy's own ids, as stdio servers write them:
# `{"jsonrpc":"2.0","id":17,"result":…` (the SDKs put `jsonrpc` and `id` first).
_RESPONSE_PREFIX = re.compile(
    rb'\{\s*"jsonrpc"\s*:\s*"2\.0"\s*,\s*"id"\s*:\s*(\d{1,18})\s*,\s*"(result|error)"\s*:'
)


def response_id(line: bytes) -> int | None:
    """The proxy id a server response answers, found without parsing the whole line, or
    None when the line does not start like a response (then parse it)."""
    match = _RESPONSE_PREFIX.match(line)
    return int(match.group(1)) if match else None


def is_error(line: bytes) -> bool:
    """Whether the response `line` (that `response_id` matched) is an error."""
    match = _RESPONSE_PREFIX.match(line)
    assert match is not None
    return match.group(2) == b"error"


def after_id(line: bytes) -> bytes:
    """The response `line` (that `response_id` matched) from its `result` or `error` on:
    what it says, whichever id it answers."""
    match = _RESPONSE_PREFIX.match(line)
    assert match is not None
    return line[match.start(2) - 1 :]  # from its opening quote


def swap_response_id(line: bytes, original: bytes) -> bytes:
    """The response `line` (that `response_id` matched) with its id replaced by the
    client's `original` id, already JSON-encoded; the rest is forwarded byte for byte."""
    match = _RESPONSE_PREFIX.match(line)
    assert match is not None
    start, end = match.span(1)
    return line[:start] + original + line[end:]
