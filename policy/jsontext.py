"""A JSON profile's text, decoded: its data, the span of every value, and its syntax
errors in house style.

The JSON edge of the JSON edge (`profile.py` reads the decoded data into rules): Python's
decoder gives the data and the position of the first syntax error, in its own words;
`decode` reports that error as a diagnostic with advice where it is clear, maps every value
to its span (`jsonspan.scan`), and reports duplicate keys, which the decoder lets through
by keeping the last.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Final

from .diagnostics import Code, Collector
from .jsonspan import SpanMap, scan
from .origin import Pointer, Span

_QUOTED = re.compile(r"'([^']*)'")
_POSITION_WORDS = re.compile(r"( starting)? at$")
_LONGEST_QUOTE: Final = 60

# advice for the decoder's messages, keyed by how they start
_JSON_HELP: Final = {
    "Expecting property name": "field names need double quotes, and JSON allows no comma "
    "after the last entry",
    "Extra data": "a profile is a single JSON object; remove what follows it",
    "Unexpected UTF-8 BOM": "save the file as UTF-8 without a byte order mark",
    "Invalid control character": "write control characters in strings as escapes, "
    "e.g. `\\t` or `\\n`",
}


def decode(text: str, file: str, collector: Collector) -> tuple[Any, SpanMap] | None:
    """Decode the JSON and map its values to spans; report duplicate keys."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        where = Span(file, error.lineno, error.colno, error.lineno, error.colno + 1)
        message, advice = _json_problem(error)
        collector.error(Code.PROFILE_INVALID_JSON, message, where, advice)
        return None
    except ValueError:  # an integer longer than Python will convert
        limit = sys.get_int_max_str_digits()
        digits = re.search(f"[0-9]{{{limit + 1},}}", text)
        start, end = digits.span() if digits else (0, 1)
        where = SpanMap(text, file).span(start, end)
        message = f"a number with more than {limit} digits"
        collector.error(Code.PROFILE_INVALID_JSON, message, where)
        return None
    except RecursionError:
        where = Span(file, 1, 1, 1, 2)
        collector.error(Code.PROFILE_INVALID_JSON, "the profile nests too deeply", where)
        return None
    spans = scan(text, file)
    for pointer, (start, end) in spans.duplicates:
        name = quote(json.loads(text[start:end]))
        collector.error(
            Code.PROFILE_DUPLICATE_KEY,
            f"field `{name}` appears more than once",
            Pointer(file, pointer, spans.span(start, end)),
            f"keep one `{name}` and merge the entries into it",
        )
    return data, spans


def _json_problem(error: json.JSONDecodeError) -> tuple[str, str | None]:
    """The decoder's complaint in house style, with advice where it is clear."""
    text = _POSITION_WORDS.sub("", error.msg)
    message = "invalid JSON: " + _QUOTED.sub(r"`\1`", text[:1].lower() + text[1:])
    advice = next((v for k, v in _JSON_HELP.items() if error.msg.startswith(k)), None)
    if error.msg == "Expecting value" and error.doc[: error.pos].rstrip().endswith(","):
        advice = "JSON allows no comma after the last entry"
    return message, advice


def quote(text: str) -> str:
    """User text made safe to print inside backticks: escaped, and cut when long."""
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    if len(text) > _LONGEST_QUOTE:
        text = text[: _LONGEST_QUOTE - 1] + "…"
    return text
