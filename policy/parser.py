"""The policy language's parser: the text of one policy file in, its rules out.

`parse` turns each statement into a `Rule` (see `rules.py`) that knows its span, and
reports every syntax error in the file: into the caller's `Collector`, with the rules of
the statements that did parse (so that the check pass can judge them), or as one
`PolicyError`. It converts what it lexes
(quoted strings, sizes, CPU counts, numbers; `values.py`) but judges nothing: whether a
path is absolute, a host well formed, a port in range or an `insecure` marker needed is
the check pass's business, and `extends` rules come back as written for `loader` to
resolve.

The grammar is `grammar.lark`, run by Lark's LALR parser (`grammar.py` loads it). A file is
parsed once. A syntax error is reported where Lark meets it, through Lark's `on_error`;
the rest of that line is skipped and the parse goes on with the next, so that a bad line
never hides the errors on the lines after it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypedDict, cast

from . import grammar, malformed, rules
from .diagnostics import Code, Collector, Diagnostic, did_you_mean
from .grammar import (
    InteractiveParser,
    Token,
    Tree,
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
)
from .origin import Span
from .values import Line, show

# How an error names what a position wanted; keywords are named by themselves.
_PHRASES = {
    grammar.NEWLINE: "end of line",
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
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def parse(text: str, file: str, out: Collector | None = None) -> list[rules.Rule]:
    """The rules of a policy file in source order. Every syntax error goes to `out`, and
    the rules are those of the statements that parsed; without `out`, a syntax error
    raises one `PolicyError` with all of them.

    `file` names the file in every span; it is not read."""
    lines = grammar.source(text).split("\n")
    # a line's number → what is wrong on it: one syntax error, or what its values got wrong
    problems: dict[int, list[Diagnostic]] = {}
    _blank_surrogates(lines, file, problems)
    recovery = _Recovery(file, lines, problems)
    tree = grammar.load().lark.parse("\n".join(lines), on_error=recovery)
    parsed: list[rules.Rule] = []
    for statement in cast(list[Tree[Token]], tree.children):
        line = Line(file, statement.meta.line)
        if line.number in problems:  # what fitted of a bad line, parsed to go on after it
            continue
        origin = line.span(statement.meta.column, statement.meta.end_column)
        rule = _rule(statement, origin, line)
        if line.problems:
            problems[line.number] = line.problems
        else:
            parsed.append(rule)
    found = Collector() if out is None else out
    for number in sorted(problems):
        found.extend(problems[number])
    if out is None:
        found.raise_if_errors_with({file: text})
    return parsed


def _blank_surrogates(lines: list[str], file: str, problems: dict[int, list[Diagnostic]]) -> None:
    """Blank each line that holds a lone surrogate, and report the first one.

    No UTF-8 file holds a lone surrogate and no engine takes one. Looking for them here
    keeps their range out of the grammar, where it would slow every lexer's compilation:
    UTF-8 encodes every character but a surrogate, and its error gives the first one."""
    for number, source in enumerate(lines, start=1):
        try:
            source.encode("utf-8")
        except UnicodeEncodeError as stray:
            line = Line(file, number)
            problems[number] = [_bad_character(source[stray.start], stray.start + 1, source, line)]
            lines[number - 1] = ""


# --- syntax errors ---------------------------------------------------------------------------


class _Recovery:
    """Lark's `on_error` handler: reports the first syntax error on a line, skips the rest of
    the line, and has the parse go on with the next.

    Lark drops the token (or character) it could not take and goes on lexing. Tokens of the
    bad line that fit are parsed as usual, and the statement they make is dropped (`parse`
    skips a line with an error); at the line's end, a statement cut short is completed with
    empty tokens so that the end of the line fits."""

    def __init__(self, file: str, lines: list[str], problems: dict[int, list[Diagnostic]]):
        self.file = file
        self.lines = lines
        self.problems = problems

    def __call__(self, error: UnexpectedInput) -> bool:
        if error.line not in self.problems:
            self.problems[error.line] = [self._diagnose(error)]
        if isinstance(error, UnexpectedToken) and error.token.type == grammar.NEWLINE:
            _end_statement(error.interactive_parser, error.token)
        return True  # go on

    def _diagnose(self, error: UnexpectedInput) -> Diagnostic:
        line = Line(self.file, error.line)
        source = self.lines[error.line - 1].removesuffix("\r")
        if isinstance(error, UnexpectedCharacters):
            return _bad_character(error.char, error.column, source, line)
        # the only other error an LALR parse reports
        token = cast(UnexpectedToken, error).token
        expected: set[str] = error.interactive_parser.accepts()  # type: ignore[no-untyped-call]
        if token.type == grammar.NEWLINE:
            # the end of the line starts at its blanks: the error is marked after the last word
            end = len(source[: cast(int, token.column) - 1].rstrip(" \t")) + 1
            message = f"unexpected end of line: expected {_describe(expected)}"
            return Diagnostic(Code.PARSE_UNEXPECTED_EOF, message, line.span(end, end))
        return _unexpected(token, expected, line)


def _end_statement(parser: InteractiveParser, newline: Token) -> None:
    """Complete the statement that `newline` cut short, with the fewest empty tokens that
    let the line end, and feed `newline`: Lark's own grammar loader recovers so. The search
    feeds copies that share the values already parsed, and only ever completes the
    statement that the line's error cut short, whose tree `parse` drops."""
    paths: list[tuple[tuple[str, ...], InteractiveParser]] = [((), parser)]
    while paths:
        longer = []
        for path, tried in paths:
            accepted: set[str] = tried.accepts()  # type: ignore[no-untyped-call]
            if grammar.NEWLINE in accepted:
                for terminal in path:
                    parser.feed_token(Token(terminal, ""))
                parser.feed_token(newline)
                return
            for terminal in sorted(accepted):
                step = tried.copy(deepcopy_values=False)  # type: ignore[no-untyped-call]
                step.feed_token(Token(terminal, ""))
                longer.append(((*path, terminal), step))
        paths = longer
    raise AssertionError("a statement that no tokens complete")  # pragma: no cover


def _describe(terminals: Iterable[str]) -> str:
    names = set(terminals)
    if _starts_statement(names):
        return "a statement"
    words = _words()
    # `,` and keywords first, then what a value should be, and the end of the line last
    *rest, last = sorted((words[n] for n in names), key=lambda p: (p == "end of line", p))
    return f"{', '.join(rest)} or {last}" if rest else last


@functools.cache
def _words() -> dict[str, str]:
    """How an error message names each terminal."""
    loaded = grammar.load()
    named = {**loaded.keywords, **loaded.literals}
    return {**_PHRASES, **{name: f"`{word}`" for name, word in named.items()}}


def _unexpected(token: Token, expected: set[str], line: Line) -> Diagnostic:
    keywords = grammar.load().keywords
    known = token in keywords.values()  # a keyword out of place, not a misspelling
    misspelt = not known and _WORD.fullmatch(token) is not None
    choices = [keywords[t] for t in expected if t in keywords]
    help = None if known else did_you_mean(token.lower(), choices)
    if "PATH" in expected and token.startswith("~"):
        help = malformed.relative_path(token)
    if _starts_statement(expected):
        help = help or _STATEMENT_HELP
        if misspelt:
            message = f"unknown statement `{token}`"
            return Diagnostic(Code.PARSE_UNKNOWN_KEYWORD, message, line.at(token), help)
        message = f"unexpected `{show(token)}`: expected a statement"
        return Diagnostic(Code.PARSE_UNEXPECTED_TOKEN, message, line.at(token), help)
    # a misspelt word where only a fixed set of words fits, like `network opne`
    fixed = misspelt and len(choices) == len(expected)
    code = Code.PARSE_UNKNOWN_KEYWORD if fixed else Code.PARSE_UNEXPECTED_TOKEN
    message = f"unexpected `{show(token)}`: expected {_describe(expected)}"
    return Diagnostic(code, message, line.at(token), help)


def _starts_statement(terminals: set[str]) -> bool:
    return any(grammar.load().keywords.get(t) == "read" for t in terminals)


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


def _rule(statement: Tree[Token], origin: Span, line: Line) -> rules.Rule:
    insecure, form, reason = cast(_Args, statement.children)
    common: _Common = {
        "origin": origin,
        "insecure": None if insecure is None else line.at(insecure),
        "reason": None if reason is None else line.text(reason.children[0]),
    }
    return _BUILDERS[form.data](form.children, line, common)


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
