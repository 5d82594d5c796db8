"""The values of the policy language, converted from what the parser lexes.

`Line` is one line of a policy file on its way to a rule: it turns tokens into items with
spans, numbers, sizes (bytes), CPU counts (milli-CPUs) and the text of quoted strings, and
collects a diagnostic for every value that is wrong, so that one line reports all its
problems. The parser (`parser.py`) decides which token is which; this module only reads
them.
"""

from __future__ import annotations

import re
from typing import cast

from . import rules
from .diagnostics import Code, Diagnostic
from .grammar import Token
from .origin import Span

_SIZE_HELP = (
    "write a number of bytes, optionally followed by `K`, `M`, `G` or `T` (powers of 1024),"
    " such as `64M`"
)
_CPUS_HELP = "write a number with at most three decimals, such as `1.5`"
_ESCAPE_HELP = (
    'use `\\"`, `\\\\`, `\\/`, `\\b`, `\\f`, `\\n`, `\\r`, `\\t` or `\\u` and four hex digits'
)

# Patterns compiled at import cost every cold start; one that most policies never need is
# kept as text and compiled by `re` (and cached there) on first use: `_STRING_PART`, by a
# quoted string with a backslash or an unusual character.
_DIGITS = re.compile(r"[0-9]{1,18}")  # 18 digits fit any limit and keep int() cheap
_SIZE = re.compile(r"([0-9]{1,18})(?:([kmgt])(?:i?b)?|b)?", re.IGNORECASE | re.ASCII)
_CPUS = re.compile(r"([0-9]{1,18})(?:\.([0-9]{1,3}))?")
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}
# in a quoted string: an escape, a bad escape, or a character that must be written escaped
# (a control character or line separator other than tab, which the renderer would hide)
_STRING_PART = (
    r'\\u([0-9a-fA-F]{4})|\\(["\\/bfnrt])|(\\.)|([\x00-\x08\n-\x1f\x7f-\x9f\u2028\u2029])'
)
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def show(text: str) -> str:
    """User text for a message, with invisible characters spelt out so that a reader sees them."""
    return "".join(c if c.isprintable() else f"\\u{{{ord(c):x}}}" for c in text)


class Line:
    """One line being turned into a rule: where it is, and what is wrong with its values."""

    __slots__ = ("file", "number", "problems")

    def __init__(self, file: str, number: int) -> None:
        self.file = file
        self.number = number
        self.problems: list[Diagnostic] = []

    def span(self, start: int, end: int) -> Span:
        return Span(self.file, self.number, start, self.number, end)

    def at(self, token: Token) -> Span:
        # tokens from the lexer always have positions; Lark's types allow hand-made ones
        return self.span(cast(int, token.column), cast(int, token.end_column))

    def invalid(self, span: Span, message: str, help: str) -> None:
        self.problems.append(Diagnostic(Code.PARSE_INVALID_VALUE, message, span, help))

    def item(self, token: Token) -> rules.Item:
        return rules.Item(str(token), self.at(token))

    def port(self, token: Token) -> rules.Item:
        self._match(token, _DIGITS, "port", "write a number such as `443`")
        return self.item(token)

    def integer(self, token: Token) -> int:
        match = self._match(token, _DIGITS, "number", "write a whole number such as `1024`")
        return 0 if match is None else int(token)

    def size(self, token: Token) -> int:
        match = self._match(token, _SIZE, "size", _SIZE_HELP)
        if match is None:
            return 0
        digits, unit = match.groups()
        return int(digits) << 10 * _UNITS[(unit or "").lower()]

    def cpus(self, token: Token) -> int:
        """Milli-CPUs, so that `1.5` is exactly 1500."""
        match = self._match(token, _CPUS, "number of CPUs", _CPUS_HELP)
        if match is None:
            return 0
        whole, fraction = match.groups()
        return int(whole) * 1000 + int((fraction or "").ljust(3, "0"))

    def _match(
        self, token: Token, pattern: re.Pattern[str], what: str, help: str
    ) -> re.Match[str] | None:
        match = pattern.fullmatch(token)
        if match is None:
            self.invalid(self.at(token), f"invalid {what} `{show(token)}`", help)
        return match

    def text(self, token: Token) -> str:
        """A bare word as written, or the contents of a quoted string."""
        return self._unquote(token) if token.type == "STRING" else str(token)

    def _unquote(self, token: Token) -> str:
        body, start = token[1:-1], cast(int, token.column) + 1
        if "\\" not in body and body.isprintable():
            return body  # no escape, and no control character or separator: as written
        parts: list[str] = []
        done = 0
        for match in re.finditer(_STRING_PART, body):
            parts.append(body[done : match.start()])
            done = match.end()
            code, simple, bad, control = match.groups()
            at = self.span(start + match.start(), start + match.end())
            if code is not None:
                parts.append(chr(int(code, 16)))
            elif simple is not None:
                parts.append(_ESCAPES[simple])
            elif bad is not None:
                message = f"invalid escape `{show(bad)}` in a quoted string"
                self.invalid(at, message, _ESCAPE_HELP)
            else:
                message = f"control character `{show(control)}` in a quoted string"
                self.invalid(at, message, f"write it as an escape, such as `\\u{ord(control):04x}`")
        parts.append(body[done:])
        decoded = "".join(parts)
        try:
            # joins `\ud83d\ude00` into one character; a lone half of a pair is an error
            return decoded.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
        except UnicodeDecodeError:
            help = "a `\\u` escape from d800 to dfff must be half of a surrogate pair"
            self.invalid(self.at(token), "unpaired surrogate in a quoted string", help)
            return decoded
