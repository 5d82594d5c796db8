"""The policy language's parser: the text of one policy file in, its rules out.

`parse` turns each statement into a `Rule` (see `rules.py`) that knows its span, or raises
one `PolicyError` carrying every syntax error in the file. It converts what it lexes
(quoted strings, sizes, CPU counts, numbers; `values.py`) but judges nothing: whether a
path is absolute, a host well formed, a port in range or an `insecure` marker needed is
the check pass's business, and `extends` rules come back as written for `loader` to
resolve.

The grammar is `grammar.lark` (one statement). Its LALR tables are generated ahead of
time into `_lalr.py` by Lark's standalone tool (`make parser`, see
`scripts/generate_parser.py`), because importing Lark and building its tables cost a cold
start more than everything else the command does. `parse` runs the grammar once per line,
so a bad line never hides the errors on the lines after it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypedDict, cast

from . import rules
from ._lalr import Lark, Lark_StandAlone, Token, Tree, UnexpectedCharacters, UnexpectedToken
from .diagnostics import Code, Collector, Diagnostic, did_you_mean
from .origin import Span
from .record import record
from .values import Line, show

# How an error names what a position wanted; keywords are named by themselves.
_PHRASES = {
    "$END": "end of line",
    "PATH": "a path starting with `/`",
    "STRING": "a quoted string",
    "HOST": "a host name",
    "USER": "a user name or `uid[:gid]`",
    "TRANSPORT": "a transport",
    "SYSCALL": "a system call",
    "CAP_NAME": "a capability",
    "VARIABLE": "a variable name",
    "VALUE": "a value",
    "PORT": "a port",
    "SIZE": "a size such as `64M`",
    "CPUS": "a number of CPUs such as `1.5`",
    "NUMBER": "a number",
}
_STATEMENT_HELP = "a statement starts with a keyword such as `read`, `write`, `allow` or `limit`"

# Patterns compiled at import cost every cold start: this one, which only errors need, is
# kept as text and compiled by `re` (and cached there) on first use. Blank lines and lone
# surrogates are found without a pattern (see their uses).
_WORD = r"[A-Za-z][A-Za-z0-9_-]*"


def parse(text: str, file: str) -> list[rules.Rule]:
    """The rules of a policy file in source order, or a `PolicyError` with every syntax error.

    `file` names the file in every span; it is not read."""
    grammar = _grammar()
    # an editor's byte-order mark reads as a blank, so columns still match the text
    lines = (" " + text[1:] if text.startswith("\ufeff") else text).split("\n")
    out = Collector()
    parsed: list[rules.Rule] = []
    # lines end at `\n` (after an optional `\r`), as `diagnostics.render` reads them, so
    # spans and excerpts agree; any other line separator is a stray character
    for number, ending in enumerate(lines, start=1):
        source = ending.removesuffix("\r")
        words = source.lstrip(" \t")
        if not words or words[0] == "#":  # blank, or only a comment
            continue
        line = Line(file, number)
        rule = _parse_line(grammar, source, line)
        out.extend(line.problems)
        if rule is not None and not line.problems:
            parsed.append(rule)
    out.raise_if_errors_with({file: text})
    return parsed


def _parse_line(grammar: _Grammar, source: str, line: Line) -> rules.Rule | None:
    # No UTF-8 file holds a lone surrogate and no engine takes one. Looking for them here
    # keeps their range out of the grammar, where it would slow every lexer's compilation,
    # and out of any pattern (0.4 ms to compile): UTF-8 encodes every character but a
    # surrogate, and its error gives the first one.
    try:
        source.encode("utf-8")
    except UnicodeEncodeError as stray:
        line.problems.append(_bad_character(source[stray.start], stray.start + 1, source, line))
        return None
    # The common case, a good line, takes Lark's plain parse; only a line that fails is
    # parsed again interactively, which hands over every token for a precise diagnostic.
    start = len(source) - len(source.lstrip(" \t")) + 1
    try:
        tree = grammar.lark.parse(source)
    except (UnexpectedCharacters, UnexpectedToken):
        pass
    else:
        return _rule(tree, line.span(start, _statement_end(source)), line)
    parser = grammar.lark.parse_interactive(source)
    try:
        tokens = parser.exhaust_lexer()  # never empty: blank lines do not get here
        parser.feed_eof(tokens[-1])  # type: ignore[no-untyped-call]  # Lark omits types
    except UnexpectedCharacters as error:
        line.problems.append(_bad_character(error.char, error.column, source, line))
        return None
    except UnexpectedToken as error:
        expected: set[str] = parser.accepts()  # type: ignore[no-untyped-call]  # as above
        line.problems.append(grammar.unexpected(error.token, expected, line))
        return None
    # the same grammar refused this line a moment ago
    raise AssertionError(f"line {line.number} parsed only interactively")  # pragma: no cover


def _statement_end(source: str) -> int:
    """The column just after a well-formed statement: before a trailing comment (a `#`
    after a blank, outside quotes) and trailing blanks."""
    quoted = escaped = False
    end = len(source)
    for index, char in enumerate(source):
        if quoted:
            escaped, quoted = (not escaped and char == "\\"), (escaped or char != '"')
        elif char == '"':
            quoted = True
        elif char == "#" and index and source[index - 1] in " \t":
            end = index
            break
    return len(source[:end].rstrip(" \t")) + 1


# --- the grammar, loaded once per process -------------------------------


@record
class _Grammar:
    lark: Lark
    words: dict[str, str]  # terminal name → how an error message names it
    keywords: dict[str, str]  # keyword terminal name → the keyword itself

    def describe(self, terminals: Iterable[str]) -> str:
        names = set(terminals)
        if self._starts_statement(names):
            return "a statement"
        # `,` and keywords first, then what a value should be, and the end of the line last
        *rest, last = sorted((self.words[n] for n in names), key=lambda p: (p == "end of line", p))
        return f"{', '.join(rest)} or {last}" if rest else last

    def unexpected(self, token: Token, expected: set[str], line: Line) -> Diagnostic:
        if token.type == "$END":  # Lark's end token borrows the position of the last token
            end = cast(int, token.end_column)
            message = f"unexpected end of line: expected {self.describe(expected)}"
            return Diagnostic(Code.PARSE_UNEXPECTED_EOF, message, line.span(end, end))
        known = token in self.keywords.values()  # a keyword out of place, not a misspelling
        misspelt = not known and re.fullmatch(_WORD, token) is not None
        choices = [self.keywords[t] for t in expected if t in self.keywords]
        help = None if known else did_you_mean(token.lower(), choices)
        if self._starts_statement(expected):
            help = help or _STATEMENT_HELP
            if misspelt:
                message = f"unknown statement `{token}`"
                return Diagnostic(Code.PARSE_UNKNOWN_KEYWORD, message, line.at(token), help)
            message = f"unexpected `{show(token)}`: expected a statement"
            return Diagnostic(Code.PARSE_UNEXPECTED_TOKEN, message, line.at(token), help)
        # a misspelt word where only a fixed set of words fits, like `network opne`
        fixed = misspelt and len(choices) == len(expected)
        code = Code.PARSE_UNKNOWN_KEYWORD if fixed else Code.PARSE_UNEXPECTED_TOKEN
        message = f"unexpected `{show(token)}`: expected {self.describe(expected)}"
        return Diagnostic(code, message, line.at(token), help)

    def _starts_statement(self, terminals: set[str]) -> bool:
        return any(self.keywords.get(t) == "read" for t in terminals)


@functools.cache
def _grammar() -> _Grammar:
    parser: Lark = Lark_StandAlone()  # type: ignore[no-untyped-call]  # generated, untyped
    # the grammar's literals: keywords, `,` and `=` (`raw` is the literal as written)
    literals = {
        t.name: t.pattern.raw[1:-1]
        for t in parser.terminals
        if t.pattern.raw and t.pattern.raw.startswith('"')
    }
    keywords = {name: word for name, word in literals.items() if word[0].isalpha()}
    words = {**_PHRASES, **{name: f"`{word}`" for name, word in literals.items()}}
    return _Grammar(parser, words, keywords)


# --- syntax errors ---------------------------------------------------------------------------


def _bad_character(char: str, column: int, source: str, line: Line) -> Diagnostic:
    # every printable character starts some token, so this is a quote that is never closed,
    # a blank other than a space or tab, or a control character
    if char == '"':
        end = max(len(source.rstrip(" \t")) + 1, column + 1)
        message = "unexpected end of line in a quoted string"
        return Diagnostic(
            Code.PARSE_UNEXPECTED_EOF, message, line.span(column, end), 'close it with `"`'
        )
    help = "only spaces and tabs separate words" if char.isspace() else None
    message = f"unexpected character `{show(char)}`"
    return Diagnostic(Code.PARSE_UNEXPECTED_CHARACTER, message, line.span(column, column + 1), help)


# --- rules -----------------------------------------------------------------------------------


class _Common(TypedDict):
    origin: Span
    insecure: Span | None
    reason: str | None


# a node's children: tokens, subtrees, and None where an optional part was left out
_Args = Sequence[Any]
_Builder = Callable[[_Args, Line, _Common], rules.Rule]


def _rule(tree: Tree[Token], origin: Span, line: Line) -> rules.Rule:
    insecure, statement, reason = cast(_Args, tree.children)
    common: _Common = {
        "origin": origin,
        "insecure": None if insecure is None else line.at(insecure),
        "reason": None if reason is None else line.text(reason.children[0]),
    }
    return _BUILDERS[statement.data](statement.children, line, common)


def _extends(args: _Args, line: Line, common: _Common) -> rules.Rule:
    (target,) = args  # a built-in's keyword, or a quoted file name
    name = str(target.children[0]) if isinstance(target, Tree) else line.text(target)
    return rules.Extends(target=name, **common)


def _mount(kind: type[rules.Read | rules.Write]) -> _Builder:
    def build(args: _Args, line: Line, common: _Common) -> rules.Rule:
        path, target = args
        target = None if target is None else line.text(target)
        return kind(path=line.text(path), target=target, **common)

    return build


def _tmpfs(args: _Args, line: Line, common: _Common) -> rules.Rule:
    target, size = args
    size = None if size is None else line.size(size)
    return rules.Tmpfs(target=line.text(target), size=size, **common)


def _allow(args: _Args, line: Line, common: _Common) -> rules.Rule:
    hosts, ports, protocols = args
    over: tuple[rules.Item, ...]
    if protocols is None:  # tcp unless the rule says otherwise; the rule is its origin
        over = (rules.Item(rules.IpProtocol.TCP.value, common["origin"]),)
    else:
        over = tuple(line.item(t) for t in protocols.children)
    return rules.Allow(
        hosts=tuple(line.item(t) for t in hosts.children),
        ports=tuple(line.port(t) for t in ports.children),
        protocols=over,
        **common,
    )


def _limit(kind: rules.LimitKind, convert: Callable[[Line, Token], int]) -> _Builder:
    return lambda args, line, common: rules.Limit(kind=kind, value=convert(line, args[0]), **common)


def _secret(provider: rules.SecretProvider) -> _Builder:
    def build(args: _Args, line: Line, common: _Common) -> rules.Rule:
        name, ref = args
        return rules.Secret(name=str(name), provider=provider, ref=line.text(ref), **common)

    return build


def _flag(kind: type[rules.Rule]) -> _Builder:
    """A statement with nothing but its keywords, like `network open`."""
    return lambda args, line, common: kind(**common)


# the grammar's statements (its rule names and aliases) and the rules they become
_BUILDERS: dict[str, _Builder] = {
    "extends": _extends,
    "user": lambda args, line, common: rules.User(spec=str(args[0]), **common),
    "read": _mount(rules.Read),
    "write": _mount(rules.Write),
    "tmpfs": _tmpfs,
    "allow": _allow,
    "network_none": _flag(rules.NetworkNone),
    "network_open": _flag(rules.NetworkOpen),
    "deny_host": lambda args, line, common: rules.DenyHost(host=line.item(args[0]), **common),
    "deny_port": lambda args, line, common: rules.DenyPort(port=line.port(args[0]), **common),
    "deny_path": lambda args, line, common: rules.DenyPath(path=line.text(args[0]), **common),
    "limit_memory": _limit(rules.LimitKind.MEMORY, Line.size),
    "limit_cpus": _limit(rules.LimitKind.CPUS, Line.cpus),
    "limit_pids": _limit(rules.LimitKind.PIDS, Line.integer),
    "limit_nofile": _limit(rules.LimitKind.NOFILE, Line.integer),
    "env": lambda args, line, common: rules.Env(
        name=str(args[0]), value=line.text(args[1]), **common
    ),
    "secret_env": _secret(rules.SecretProvider.ENV),
    "secret_file": _secret(rules.SecretProvider.FILE),
    # `cap_net_admin`, `CAP_NET_ADMIN` and `NET_ADMIN` are one capability
    "capability": lambda args, line, common: rules.Capability(
        name=str(args[0]).upper().removeprefix("CAP_"), **common
    ),
    "seccomp_deny": lambda args, line, common: rules.SeccompDeny(
        syscalls=tuple(line.item(t) for t in args[0].children), **common
    ),
    "seccomp_off": _flag(rules.SeccompOff),
    "privileged": _flag(rules.Privileged),
    "privilege_escalation": _flag(rules.AllowPrivilegeEscalation),
    "writable_root": _flag(rules.WritableRoot),
}
