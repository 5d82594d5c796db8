"""The span scanner agrees with `json.loads` about every value it locates."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_lok.policy.jsonspan import scan
from mcp_lok.policy.origin import Span

FILE = "t.json"

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=25,
)
layouts = st.fixed_dictionaries(
    {
        "indent": st.sampled_from([None, 0, 2, "\t", "\r\n "]),
        "separators": st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t"), (",\r\n", ":")]),
        "ensure_ascii": st.booleans(),
    }
)


def _offset(text: str, line: int, col: int) -> int:
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    return starts[line - 1] + col - 1


def _slice(text: str, span: Span) -> str:
    return text[_offset(text, span.line, span.col) : _offset(text, span.end_line, span.end_col)]


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _resolve(value: Any, pointer: str) -> Any:
    for token in _tokens(pointer):
        value = value[int(token)] if isinstance(value, list) else value[token]
    return value


def _pointers(value: Any, at: str = "") -> set[str]:
    found = {at}
    if isinstance(value, list):
        for i, item in enumerate(value):
            found |= _pointers(item, f"{at}/{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            escaped = key.replace("~", "~0").replace("/", "~1")
            found |= _pointers(item, f"{at}/{escaped}")
    return found


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a) == json.dumps(b)  # NaN-safe equality


@settings(max_examples=200, deadline=None)
@given(values, layouts)
def test_every_span_reparses_to_the_value_json_loads_gives(
    value: Any, layout: dict[str, Any]
) -> None:
    text = "\n " + json.dumps(value, **layout) + " \r\n"
    loaded = json.loads(text)
    spans = scan(text, FILE)

    assert set(spans.values) == _pointers(loaded)
    for pointer in spans.values:
        span = spans.value(pointer)
        assert span is not None
        assert span.file == FILE
        assert _same(json.loads(_slice(text, span)), _resolve(loaded, pointer))
        assert _same(json.loads(spans.source(pointer)), _resolve(loaded, pointer))
    for pointer in spans.keys:
        span = spans.key(pointer)
        assert span is not None
        assert json.loads(_slice(text, span)) == _tokens(pointer)[-1]
    assert spans.duplicates == []


def test_positions_are_one_based_with_an_exclusive_end() -> None:
    text = '{\n  "read": [\n\t"/a", 12 ]\n}'
    spans = scan(text, FILE)

    assert spans.value("/read/0") == Span(FILE, 3, 2, 3, 6)
    assert spans.value("/read/1") == Span(FILE, 3, 8, 3, 10)
    assert spans.value("/read") == Span(FILE, 2, 11, 3, 12)
    assert spans.key("/read") == Span(FILE, 2, 3, 2, 9)
    assert spans.value("") == Span(FILE, 1, 1, 4, 2)


def test_only_newline_starts_a_line_like_json_errors() -> None:
    text = '{"a":\r1,\n"b": 2}'
    spans = scan(text, FILE)

    assert spans.value("/a") == Span(FILE, 1, 7, 1, 8)
    assert spans.value("/b") == Span(FILE, 2, 6, 2, 7)


def test_empty_containers_and_scalars_at_the_top() -> None:
    assert scan("[]", FILE).values == {"": (0, 2)}
    assert scan(" { } ", FILE).values == {"": (1, 4)}
    assert scan('[{}, [], ""]', FILE).values == {
        "": (0, 12),
        "/0": (1, 3),
        "/1": (5, 7),
        "/2": (9, 11),
    }
    assert scan("-Infinity", FILE).values == {"": (0, 9)}


def test_keys_with_escapes_and_pointer_characters() -> None:
    text = r'{"a/b": 1, "m~n": 2, "\u0041\"": 3, "": 4}'
    spans = scan(text, FILE)

    assert set(spans.values) == {"", "/a~1b", "/m~0n", '/A"', "/"}
    assert spans.source('/A"') == "3"
    assert spans.source("/") == "4"


def test_a_repeated_key_maps_to_its_last_occurrence_and_is_listed() -> None:
    text = '{"a": 1, "b": {"c": 2, "c": 3}, "a": 4}'
    spans = scan(text, FILE)

    assert spans.source("/a") == "4"
    assert spans.source("/b/c") == "3"
    assert spans.duplicates == [("/b/c", (23, 26)), ("/a", (32, 35))]
    assert text[32:35] == '"a"'


def test_unknown_pointers_have_no_span() -> None:
    spans = scan("{}", FILE)

    assert spans.value("/missing") is None
    assert spans.key("/missing") is None
    assert spans.source("/missing") == ""


def test_deep_nesting_needs_no_recursion() -> None:
    depth = 20_000
    spans = scan("[" * depth + "]" * depth, FILE)

    assert len(spans.values) == depth
    assert spans.value("/0" * (depth - 1)) == Span(FILE, 1, depth, 1, depth + 2)
