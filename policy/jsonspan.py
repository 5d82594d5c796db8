"""Where each value of a JSON text sits: a map from JSON pointers (RFC 6901) to spans.

Python's `json` module decodes but forgets positions, so the profile loader decodes with
`json.loads` first and then asks this scanner where each value and each object key was
written, for origins and for diagnostics that underline them. The scanner trusts its
input: it is only ever given text that `json.loads` accepted (including Python's
`NaN`/`Infinity` extensions), and it does no validation of its own. It is iterative, so
nesting depth costs no recursion.

Lines and columns are 1-based and count characters; like `json`'s own error positions,
only `\\n` starts a new line. When an object repeats a key, its pointer maps to the last
occurrence (the one `json.loads` keeps) and every repetition is listed in `duplicates`.
"""

from __future__ import annotations

import bisect
import json
import re

from .origin import Span, join_pointer

_WHITESPACE = re.compile(r"[ \t\n\r]*")
# a complete JSON string; the text is known to be valid, so escapes need no checking
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# numbers, `true`, `false`, `null`, `NaN`, `Infinity`: all run up to the next delimiter
_SCALAR = re.compile(r"[^,\]} \t\n\r]+")


class SpanMap:
    """Offsets (start, end exclusive) of every value and object key of one JSON text."""

    __slots__ = ("_line_starts", "duplicates", "file", "keys", "text", "values")

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.values: dict[str, tuple[int, int]] = {}
        self.keys: dict[str, tuple[int, int]] = {}
        # the pointer and key offsets of every repeated key, in the order they appear
        self.duplicates: list[tuple[str, tuple[int, int]]] = []
        self._line_starts: list[int] | None = None

    def value(self, pointer: str) -> Span | None:
        """The span of the value at `pointer`, or None when there is none."""
        offsets = self.values.get(pointer)
        return None if offsets is None else self.span(*offsets)

    def key(self, pointer: str) -> Span | None:
        """The span of the key that names the object member at `pointer`."""
        offsets = self.keys.get(pointer)
        return None if offsets is None else self.span(*offsets)

    def source(self, pointer: str) -> str:
        """The text of the value at `pointer` as written (empty when there is none)."""
        start, end = self.values.get(pointer, (0, 0))
        return self.text[start:end]

    def span(self, start: int, end: int) -> Span:
        """Turn offsets into a Span."""
        line, col = self._position(start)
        end_line, end_col = self._position(end)
        return Span(self.file, line, col, end_line, end_col)

    def _position(self, offset: int) -> tuple[int, int]:
        if self._line_starts is None:
            starts = [0]
            at = self.text.find("\n")
            while at != -1:
                starts.append(at + 1)
                at = self.text.find("\n", at + 1)
            self._line_starts = starts
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1


class _Container:
    """An object or array being scanned: where it is and what it holds so far."""

    __slots__ = ("count", "is_object", "pointer", "seen", "start")

    def __init__(self, pointer: str, start: int, is_object: bool) -> None:
        self.pointer = pointer
        self.start = start
        self.is_object = is_object
        self.count = 0
        self.seen: set[str] = set()


def scan(text: str, file: str) -> SpanMap:
    """Map every pointer of `text` (already accepted by `json.loads`) to its offsets."""
    spans = SpanMap(text, file)
    stack: list[_Container] = []
    pointer = ""
    pos = _skip(text, 0)
    while True:
        start = pos
        if text[pos] in "{[":
            container = _Container(pointer, start, text[pos] == "{")
            pos = _skip(text, pos + 1)
            if text[pos] not in "}]":
                stack.append(container)
                pointer, pos = _member(spans, container, pos)
                continue
            pos += 1
        elif text[pos] == '"':
            pos = _end(_STRING, text, pos)
        else:
            pos = _end(_SCALAR, text, pos)
        spans.values[pointer] = (start, pos)
        pointer, pos = _close(spans, stack, pos)
        if not stack:
            return spans


def _close(spans: SpanMap, stack: list[_Container], pos: int) -> tuple[str, int]:
    """After a value: close finished containers, then step to the next member, if any."""
    text = spans.text
    while stack:
        pos = _skip(text, pos)
        container = stack[-1]
        if text[pos] == ",":
            container.count += 1
            return _member(spans, container, _skip(text, pos + 1))
        pos += 1
        spans.values[container.pointer] = (container.start, pos)
        stack.pop()
    return "", pos


def _member(spans: SpanMap, container: _Container, pos: int) -> tuple[str, int]:
    """The pointer of the next member of `container` and where its value starts."""
    if not container.is_object:
        return join_pointer(container.pointer, container.count), pos
    text = spans.text
    end = _end(_STRING, text, pos)
    raw = text[pos:end]
    name = raw[1:-1] if "\\" not in raw else json.loads(raw)
    pointer = join_pointer(container.pointer, name)
    if name in container.seen:
        spans.duplicates.append((pointer, (pos, end)))
    container.seen.add(name)
    spans.keys[pointer] = (pos, end)
    colon = _skip(text, end)
    return pointer, _skip(text, colon + 1)


def _skip(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    assert match is not None  # INVARIANT: `*` always matches, possibly empty
    return match.end()


def _end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    match = pattern.match(text, pos)
    assert match is not None  # INVARIANT: the text was accepted by `json.loads`
    return match.end()
