"""Server-Sent Events framing (sans-I/O): encode events for clients, and parse them back
(for tests and for anything that reads an event stream).

An event is `event:`, `id:` and one `data:` line per line of its data, then a blank line.
Writing the stream, keep-alives' timing and what the data means are left to others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Event:
    data: str
    event: str = "message"
    id: str | None = None


def encode(data: bytes | str, event: str | None = "message", id: str | None = None) -> bytes:
    """One event. Data with line breaks becomes several `data:` lines (a reader joins them
    with `\\n`); a line break in `event` or `id` would end the field early, so it is refused."""
    raw = data.encode() if isinstance(data, str) else data
    parts: list[bytes] = []
    for name, value in (("event", event), ("id", id)):
        if value is not None:
            if _LINE_BREAK.search(value.encode()) or (name == "id" and "\0" in value):
                raise ValueError(f"an SSE `{name}` must be one line")
            parts.append(f"{name}: {value}\n".encode())
    parts += [b"data: " + line + b"\n" for line in _LINE_BREAK.split(raw)]
    parts.append(b"\n")
    return b"".join(parts)


def comment(text: str = "") -> bytes:
    """A comment line: keeps a connection alive, ignored by readers."""
    return b": " + text.encode().replace(b"\n", b" ").replace(b"\r", b" ") + b"\n\n"


class Parser:
    """Incremental SSE reader (the WHATWG event-stream rules, without `retry`)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        buffer = self._buffer + chunk
        held = b""
        if buffer.endswith(b"\r"):  # maybe the first half of a CRLF: decide with more data
            buffer, held = buffer[:-1], b"\r"
        *lines, rest = _LINE_BREAK.split(buffer)
        self._buffer = rest + held
        events: list[Event] = []
        for line in lines:
            event = self._line(line.decode())
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> Event | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return Event("\n".join(data), event or "message", self._id)
