"""The policy language's parser: every statement form and every error."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_lok.policy import parser
from mcp_lok.policy.diagnostics import Code, Collector, Diagnostic, PolicyError, render
from mcp_lok.policy.origin import Origin, Span
from mcp_lok.policy.parser import parse
from mcp_lok.policy.rules import (
    Allow,
    AllowPrivilegeEscalation,
    Capability,
    DenyHost,
    DenyPath,
    DenyPort,
    Env,
    Extends,
    Item,
    Limit,
    LimitKind,
    NetworkNone,
    NetworkOpen,
    Privileged,
    Read,
    Rule,
    SeccompDeny,
    SeccompOff,
    Secret,
    SecretProvider,
    Tmpfs,
    User,
    WritableRoot,
    Write,
)

FILE = "policy.lok"
EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.lok"))
NOWHERE = Span("", 0, 0, 0, 0)  # items compare by value; their origins are checked apart


def items(*values: str) -> tuple[Item, ...]:
    return tuple(Item(v, NOWHERE) for v in values)


def one(text: str) -> Rule:
    (rule,) = parse(text, FILE)
    return rule


def errors(text: str) -> tuple[Diagnostic, ...]:
    with pytest.raises(PolicyError) as caught:
        parse(text, FILE)
    assert caught.value.sources == {FILE: text}
    return caught.value.diagnostics


def marked(diagnostic: Diagnostic, text: str) -> str:
    """The source text that the rendered caret line underlines."""
    _, _, source, carets, *_ = render(diagnostic, {FILE: text}).split("\n")
    gutter = source.index("| ") + 2
    start = carets.index("^")
    return source[gutter:][start - gutter : len(carets) - gutter]


def text_at(span: Origin | None, text: str) -> str:
    assert isinstance(span, Span)
    assert span.file == FILE
    assert span.line == span.end_line
    return text.split("\n")[span.line - 1][span.col - 1 : span.end_col - 1]


# --- every statement form --------------------------------------------------------------------

STATEMENTS = [
    ("extends stdio", Extends(target="stdio", origin=NOWHERE)),
    ("extends none", Extends(target="none", origin=NOWHERE)),
    ("extends network", Extends(target="network", origin=NOWHERE)),
    ('extends "base.lok"', Extends(target="base.lok", origin=NOWHERE)),
    ("user 1000:1000", User(spec="1000:1000", origin=NOWHERE)),
    ("user nobody", User(spec="nobody", origin=NOWHERE)),
    ("user none", User(spec="none", origin=NOWHERE)),  # a keyword elsewhere is a word here
    ("read /srv/data", Read(path="/srv/data", origin=NOWHERE)),
    ("read /srv/data as /data", Read(path="/srv/data", target="/data", origin=NOWHERE)),
    (
        'read "/srv/with space" as "/in here"',
        Read(path="/srv/with space", target="/in here", origin=NOWHERE),
    ),
    ("read /srv/a#b", Read(path="/srv/a#b", origin=NOWHERE)),  # `#` inside a word is no comment
    ("read /srv/a,b", Read(path="/srv/a,b", origin=NOWHERE)),
    ("write /srv/out", Write(path="/srv/out", origin=NOWHERE)),
    (
        'write "/srv/with space" as /out',
        Write(path="/srv/with space", target="/out", origin=NOWHERE),
    ),
    ("tmpfs /cache", Tmpfs(target="/cache", origin=NOWHERE)),
    ("tmpfs /cache size 64M", Tmpfs(target="/cache", size=64 << 20, origin=NOWHERE)),
    ('tmpfs "/a b" size 4096', Tmpfs(target="/a b", size=4096, origin=NOWHERE)),
    (
        "allow api.github.com port 443",
        Allow(
            hosts=items("api.github.com"),
            ports=items("443"),
            protocols=items("tcp"),
            origin=NOWHERE,
        ),
    ),
    (
        "allow github.com, *.githubusercontent.com port 443, 80 over tcp, udp",
        Allow(
            hosts=items("github.com", "*.githubusercontent.com"),
            ports=items("443", "80"),
            protocols=items("tcp", "udp"),
            origin=NOWHERE,
        ),
    ),
    (
        "allow 10.0.0.0/8,fd00::/8,[::1] port 5432,0443 over udp",
        Allow(
            hosts=items("10.0.0.0/8", "fd00::/8", "[::1]"),
            ports=items("5432", "0443"),
            protocols=items("udp"),
            origin=NOWHERE,
        ),
    ),
    ("network none", NetworkNone(origin=NOWHERE)),
    ("network open", NetworkOpen(origin=NOWHERE)),
    ("deny host gist.github.com", DenyHost(host=Item("gist.github.com", NOWHERE), origin=NOWHERE)),
    ("deny port 25", DenyPort(port=Item("25", NOWHERE), origin=NOWHERE)),
    ("deny path /srv/data/.git", DenyPath(path="/srv/data/.git", origin=NOWHERE)),
    ('deny path "/srv/a b"', DenyPath(path="/srv/a b", origin=NOWHERE)),
    ("limit memory 512M", Limit(kind=LimitKind.MEMORY, value=512 << 20, origin=NOWHERE)),
    ("limit cpus 1.5", Limit(kind=LimitKind.CPUS, value=1500, origin=NOWHERE)),
    ("limit cpus 2", Limit(kind=LimitKind.CPUS, value=2000, origin=NOWHERE)),
    ("limit cpus 0.125", Limit(kind=LimitKind.CPUS, value=125, origin=NOWHERE)),
    ("limit pids 128", Limit(kind=LimitKind.PIDS, value=128, origin=NOWHERE)),
    ("limit open-files 1024", Limit(kind=LimitKind.NOFILE, value=1024, origin=NOWHERE)),
    ('env LOG_LEVEL = "debug"', Env(name="LOG_LEVEL", value="debug", origin=NOWHERE)),
    ("env LOG_LEVEL = debug", Env(name="LOG_LEVEL", value="debug", origin=NOWHERE)),
    ("env MODE=open", Env(name="MODE", value="open", origin=NOWHERE)),
    ("env LIST = a,b=c", Env(name="LIST", value="a,b=c", origin=NOWHERE)),
    ('env EMPTY = ""', Env(name="EMPTY", value="", origin=NOWHERE)),
    (
        "secret GITHUB_TOKEN from env GH_TOKEN",
        Secret(name="GITHUB_TOKEN", provider=SecretProvider.ENV, ref="GH_TOKEN", origin=NOWHERE),
    ),
    (
        "secret API_KEY from file /run/keys/api",
        Secret(name="API_KEY", provider=SecretProvider.FILE, ref="/run/keys/api", origin=NOWHERE),
    ),
    (
        'secret API_KEY from file "/run/my keys/api"',
        Secret(
            name="API_KEY", provider=SecretProvider.FILE, ref="/run/my keys/api", origin=NOWHERE
        ),
    ),
    ("capability NET_BIND_SERVICE", Capability(name="NET_BIND_SERVICE", origin=NOWHERE)),
    ("capability CAP_NET_BIND_SERVICE", Capability(name="NET_BIND_SERVICE", origin=NOWHERE)),
    ("capability cap_net_bind_service", Capability(name="NET_BIND_SERVICE", origin=NOWHERE)),
    ("capability net_admin", Capability(name="NET_ADMIN", origin=NOWHERE)),
    ("seccomp deny ptrace", SeccompDeny(syscalls=items("ptrace"), origin=NOWHERE)),
    (
        "seccomp deny ptrace, personality",
        SeccompDeny(syscalls=items("ptrace", "personality"), origin=NOWHERE),
    ),
    ("seccomp off", SeccompOff(origin=NOWHERE)),
    ("privileged", Privileged(origin=NOWHERE)),
    ("privilege-escalation", AllowPrivilegeEscalation(origin=NOWHERE)),
    ("writable-root", WritableRoot(origin=NOWHERE)),
]


@pytest.mark.parametrize(("text", "expected"), STATEMENTS, ids=[s for s, _ in STATEMENTS])
def test_statement(text: str, expected: Rule) -> None:
    rule = one(text)
    assert rule == expected
    assert rule.origin == Span(FILE, 1, 1, 1, len(text) + 1)
    assert rule.insecure is None
    assert rule.reason is None


@pytest.mark.parametrize(("text", "expected"), STATEMENTS, ids=[s for s, _ in STATEMENTS])
def test_insecure_and_reason_on_any_statement(text: str, expected: Rule) -> None:
    source = f'insecure {text} because "it needs to"'
    rule = one(source)
    assert rule == expected
    assert text_at(rule.insecure, source) == "insecure"
    assert rule.reason == "it needs to"
    assert text_at(rule.origin, source) == source


def test_insecure_examples_from_the_language() -> None:
    source = """\
insecure network open because "crawls arbitrary sites"
insecure privileged because "needs /dev/kvm"
insecure seccomp off because "runs gVisor inside"
insecure privilege-escalation because "calls sudo"
insecure writable-root because "patches itself"
insecure read /var/run/docker.sock because "manages containers"
"""
    rules = parse(source, FILE)
    assert rules == [
        NetworkOpen(origin=NOWHERE),
        Privileged(origin=NOWHERE),
        SeccompOff(origin=NOWHERE),
        AllowPrivilegeEscalation(origin=NOWHERE),
        WritableRoot(origin=NOWHERE),
        Read(path="/var/run/docker.sock", origin=NOWHERE),
    ]
    assert [r.reason for r in rules] == [
        "crawls arbitrary sites",
        "needs /dev/kvm",
        "runs gVisor inside",
        "calls sudo",
        "patches itself",
        "manages containers",
    ]
    assert all(r.insecure == Span(FILE, n, 1, n, 9) for n, r in enumerate(rules, start=1))


def test_reason_without_insecure() -> None:
    rule = one('capability NET_BIND_SERVICE because "listens on port 80"')
    assert rule == Capability(name="NET_BIND_SERVICE", origin=NOWHERE)
    assert rule.reason == "listens on port 80"
    assert rule.insecure is None


@pytest.mark.parametrize(
    ("size", "value"),
    [
        ("0", 0),
        ("4096", 4096),
        ("4096B", 4096),
        ("1K", 1024),
        ("1k", 1024),
        ("1KB", 1024),
        ("1KiB", 1024),
        ("1kib", 1024),
        ("64M", 64 << 20),
        ("64MiB", 64 << 20),
        ("2G", 2 << 30),
        ("2GB", 2 << 30),
        ("1T", 1 << 40),
        ("999999999999999999", 999999999999999999),
    ],
)
def test_sizes_are_bytes_in_powers_of_1024(size: str, value: int) -> None:
    assert one(f"limit memory {size}") == Limit(kind=LimitKind.MEMORY, value=value, origin=NOWHERE)


@pytest.mark.parametrize(
    ("escaped", "value"),
    [
        (r"plain", "plain"),
        (r"a\"b", 'a"b'),
        (r"a\\b", "a\\b"),
        (r"a\/b", "a/b"),
        (r"\b\f\n\r\t", "\b\f\n\r\t"),
        (r"\u00e9t\u00C9", "étÉ"),
        (r"\ud83d\ude00", "😀"),
        (r"\u0000", "\x00"),  # the check pass decides what may contain a NUL
        ("héllo wörld ✓ 日本 😀", "héllo wörld ✓ 日本 😀"),
        ("a\tb", "a\tb"),  # a raw tab is allowed in a string
        # not printable, yet allowed raw: no escape is needed for them
        ("no\u00a0break\u00adsoft\u200bzero", "no\u00a0break\u00adsoft\u200bzero"),
        ("# not a comment", "# not a comment"),
    ],
)
def test_quoted_strings_take_json_escapes_and_unicode(escaped: str, value: str) -> None:
    assert one(f'env X = "{escaped}"') == Env(name="X", value=value, origin=NOWHERE)


# --- spans -------------------------------------------------------------------------------------


def test_item_spans_cover_one_token_each() -> None:
    source = "allow github.com,  *.githubusercontent.com port 443 ,80 over tcp,udp"
    rule = one(source)
    assert isinstance(rule, Allow)
    assert [text_at(i.origin, source) for i in rule.hosts] == [
        "github.com",
        "*.githubusercontent.com",
    ]
    assert [text_at(i.origin, source) for i in rule.ports] == ["443", "80"]
    assert [text_at(i.origin, source) for i in rule.protocols] == ["tcp", "udp"]
    assert rule.hosts[1].origin == Span(FILE, 1, 20, 1, 43)


def test_the_default_transport_comes_from_the_statement() -> None:
    rule = one("  allow api.github.com port 443   # tcp by default")
    assert isinstance(rule, Allow)
    assert rule.protocols == items("tcp")
    assert rule.protocols[0].origin == rule.origin == Span(FILE, 1, 3, 1, 32)


def test_deny_and_seccomp_items_have_their_own_spans() -> None:
    source = "deny host gist.github.com\ndeny port 25\nseccomp deny ptrace, mount"
    host, port, seccomp = parse(source, FILE)
    assert isinstance(host, DenyHost)
    assert isinstance(port, DenyPort)
    assert isinstance(seccomp, SeccompDeny)
    assert host.host.origin == Span(FILE, 1, 11, 1, 26)
    assert port.port.origin == Span(FILE, 2, 11, 2, 13)
    assert [text_at(i.origin, source) for i in seccomp.syscalls] == ["ptrace", "mount"]


def test_a_statement_span_stops_before_blanks_and_comments() -> None:
    source = '\t  insecure   network open because "x y" \t # why not\n'
    rule = one(source)
    assert rule.origin == Span(FILE, 1, 4, 1, 41)
    assert text_at(rule.origin, source) == 'insecure   network open because "x y"'
    assert rule.insecure == Span(FILE, 1, 4, 1, 12)


# --- layout: comments, blank lines, line endings -----------------------------------------------


def test_comments_blank_lines_and_trailing_blanks_are_ignored() -> None:
    source = "# a policy\n\n   \t\n  # indented comment\nread /a   \nread /b\t# trailing\n#\n"
    rules = parse(source, FILE)
    assert rules == [Read(path="/a", origin=NOWHERE), Read(path="/b", origin=NOWHERE)]
    assert [r.origin for r in rules] == [Span(FILE, 5, 1, 5, 8), Span(FILE, 6, 1, 6, 8)]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_any_line_ending(newline: str) -> None:
    source = newline.join(["read /a", "", "write /b  # c", "network none", ""])
    rules = parse(source, FILE)
    assert rules == [
        Read(path="/a", origin=NOWHERE),
        Write(path="/b", origin=NOWHERE),
        NetworkNone(origin=NOWHERE),
    ]
    assert [r.origin.line for r in rules if isinstance(r.origin, Span)] == [1, 3, 4]


@pytest.mark.parametrize("separator", ["\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"])
def test_only_a_newline_ends_a_line(separator: str) -> None:
    text = f"read /a{separator}read /b\nread /c"
    (diagnostic,) = errors(text)
    assert diagnostic.code is Code.PARSE_UNEXPECTED_CHARACTER
    assert diagnostic.origin == Span(FILE, 1, 8, 1, 9)
    assert diagnostic.message == f"unexpected character `\\u{{{ord(separator):x}}}`"
    assert diagnostic.help == "only spaces and tabs separate words"


@pytest.mark.parametrize("separator", ["\r", "\x85", "\u2028", "\x9b"])
def test_a_quoted_string_takes_separators_only_escaped(separator: str) -> None:
    text = f'env X = "a{separator}b"'
    (diagnostic,) = errors(text)
    assert diagnostic.code is Code.PARSE_INVALID_VALUE
    assert diagnostic.origin == Span(FILE, 1, 11, 1, 12)
    assert diagnostic.message == f"control character `\\u{{{ord(separator):x}}}` in a quoted string"
    assert diagnostic.help == f"write it as an escape, such as `\\u{ord(separator):04x}`"


def test_tabs_separate_words() -> None:
    assert one("allow\ta.com\tport\t443\tover\tudp") == Allow(
        hosts=items("a.com"), ports=items("443"), protocols=items("udp"), origin=NOWHERE
    )


def test_a_byte_order_mark_is_a_blank() -> None:
    rule = one("\ufeffread /a")
    assert rule == Read(path="/a", origin=NOWHERE)
    assert rule.origin == Span(FILE, 1, 2, 1, 9)


def test_nothing_to_parse() -> None:
    assert parse("", FILE) == []
    assert parse("# only a comment\n\n", FILE) == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_parse(example: Path) -> None:
    assert parse(example.read_text(encoding="utf-8"), str(example))


# --- errors --------------------------------------------------------------------------------------

# (source, code, underlined text, message, help)
ERRORS = [
    (
        "raed /srv/data",
        Code.PARSE_UNKNOWN_KEYWORD,
        "raed",
        "unknown statement `raed`",
        "did you mean `read`?",
    ),
    (
        "READ /x",
        Code.PARSE_UNKNOWN_KEYWORD,
        "READ",
        "unknown statement `READ`",
        "did you mean `read`?",
    ),
    (
        "frobnicate /x",
        Code.PARSE_UNKNOWN_KEYWORD,
        "frobnicate",
        "unknown statement `frobnicate`",
        parser._STATEMENT_HELP,
    ),
    (
        "reads /x",  # a keyword must be a whole word
        Code.PARSE_UNKNOWN_KEYWORD,
        "reads",
        "unknown statement `reads`",
        "did you mean `read`?",
    ),
    (
        "insecureread /x",
        Code.PARSE_UNKNOWN_KEYWORD,
        "insecureread",
        "unknown statement `insecureread`",
        "did you mean `insecure`?",
    ),
    (
        "/srv/data",
        Code.PARSE_UNEXPECTED_TOKEN,
        "/srv/data",
        "unexpected `/srv/data`: expected a statement",
        parser._STATEMENT_HELP,
    ),
    (
        "port 443",
        Code.PARSE_UNEXPECTED_TOKEN,
        "port",
        "unexpected `port`: expected a statement",
        parser._STATEMENT_HELP,
    ),
    (
        "insecure insecure read /x",
        Code.PARSE_UNEXPECTED_TOKEN,
        "insecure",
        "unexpected `insecure`: expected a statement",
        parser._STATEMENT_HELP,
    ),
    (
        "network opne",
        Code.PARSE_UNKNOWN_KEYWORD,
        "opne",
        "unexpected `opne`: expected `none` or `open`",
        "did you mean `open`?",
    ),
    (
        "limit memroy 512M",
        Code.PARSE_UNKNOWN_KEYWORD,
        "memroy",
        "unexpected `memroy`: expected `cpus`, `memory`, `open-files` or `pids`",
        "did you mean `memory`?",
    ),
    (
        "limit openfiles 10",
        Code.PARSE_UNKNOWN_KEYWORD,
        "openfiles",
        "unexpected `openfiles`: expected `cpus`, `memory`, `open-files` or `pids`",
        "did you mean `open-files`?",
    ),
    (
        "seccomp of",
        Code.PARSE_UNKNOWN_KEYWORD,
        "of",
        "unexpected `of`: expected `deny` or `off`",
        "did you mean `off`?",
    ),
    (
        "deny hots evil.com",
        Code.PARSE_UNKNOWN_KEYWORD,
        "hots",
        "unexpected `hots`: expected `host`, `path` or `port`",
        "did you mean `host`?",
    ),
    (
        "secret A form env B",
        Code.PARSE_UNKNOWN_KEYWORD,
        "form",
        "unexpected `form`: expected `from`",
        "did you mean `from`?",
    ),
    (
        "secret A from envv B",
        Code.PARSE_UNKNOWN_KEYWORD,
        "envv",
        "unexpected `envv`: expected `env` or `file`",
        "did you mean `env`?",
    ),
    (
        "network 5",
        Code.PARSE_UNEXPECTED_TOKEN,
        "5",
        "unexpected `5`: expected `none` or `open`",
        None,
    ),
    (
        "extends stdoi",
        Code.PARSE_UNEXPECTED_TOKEN,
        "stdoi",
        "unexpected `stdoi`: expected `network`, `none`, `stdio` or a quoted string",
        "did you mean `stdio`?",
    ),
    (
        "allow api.example.com port https",
        Code.PARSE_UNEXPECTED_TOKEN,
        "https",
        "unexpected `https`: expected a port",
        None,
    ),
    (
        "allow a.com ports 443",
        Code.PARSE_UNEXPECTED_TOKEN,
        "ports",
        "unexpected `ports`: expected `,` or `port`",
        "did you mean `port`?",
    ),
    (
        "allow a.com b.com port 443",
        Code.PARSE_UNEXPECTED_TOKEN,
        "b.com",
        "unexpected `b.com`: expected `,` or `port`",
        None,
    ),
    (
        "read /x ass /y",
        Code.PARSE_UNEXPECTED_TOKEN,
        "ass",
        "unexpected `ass`: expected `as`, `because` or end of line",
        "did you mean `as`?",
    ),
    (
        "read /x size 5",  # `size` belongs to tmpfs, not read
        Code.PARSE_UNEXPECTED_TOKEN,
        "size",
        "unexpected `size`: expected `as`, `because` or end of line",
        None,
    ),
    (
        "read srv/data",
        Code.PARSE_UNEXPECTED_TOKEN,
        "srv/data",
        "unexpected `srv/data`: expected a path starting with `/` or a quoted string",
        None,
    ),
    (
        "network open, now",
        Code.PARSE_UNEXPECTED_TOKEN,
        ",",
        "unexpected `,`: expected `because` or end of line",
        None,
    ),
    (
        "read /x because reasons",
        Code.PARSE_UNEXPECTED_TOKEN,
        "reasons",
        "unexpected `reasons`: expected a quoted string",
        None,
    ),
    (
        'read /x because "a" "b"',
        Code.PARSE_UNEXPECTED_TOKEN,
        '"b"',
        'unexpected `"b"`: expected end of line',
        None,
    ),
    (
        "read\u200b /x",
        Code.PARSE_UNEXPECTED_TOKEN,
        "read\u200b",
        "unexpected `read\\u{200b}`: expected a statement",
        "did you mean `read`?",
    ),
    (
        'read "/srv/data',
        Code.PARSE_UNEXPECTED_EOF,
        '"/srv/data',
        "unexpected end of line in a quoted string",
        'close it with `"`',
    ),
    (
        'env X = "ends in a backslash\\"  ',
        Code.PARSE_UNEXPECTED_EOF,
        '"ends in a backslash\\"',
        "unexpected end of line in a quoted string",
        'close it with `"`',
    ),
    (
        "read /x\u00a0as /y",
        Code.PARSE_UNEXPECTED_CHARACTER,
        "\u00a0",
        "unexpected character `\\u{a0}`",
        "only spaces and tabs separate words",
    ),
    (
        "read /x \x07",
        Code.PARSE_UNEXPECTED_CHARACTER,
        "\ufffd",  # the renderer never prints a control character
        "unexpected character `\\u{7}`",
        None,
    ),
    (
        "read /x\udc85",  # a lone surrogate: no UTF-8 file holds one, no engine takes one
        Code.PARSE_UNEXPECTED_CHARACTER,
        "\udc85",
        "unexpected character `\\u{dc85}`",
        None,
    ),
    (
        "tmpfs /cache size 64Q",
        Code.PARSE_INVALID_VALUE,
        "64Q",
        "invalid size `64Q`",
        "write a number of bytes, optionally followed by `K`, `M`, `G` or `T` (powers of 1024),"
        " such as `64M`",
    ),
    (
        "limit memory 1.5G",
        Code.PARSE_INVALID_VALUE,
        "1.5G",
        "invalid size `1.5G`",
        "write a number of bytes, optionally followed by `K`, `M`, `G` or `T` (powers of 1024),"
        " such as `64M`",
    ),
    (
        "limit memory 9999999999999999999",
        Code.PARSE_INVALID_VALUE,
        "9999999999999999999",
        "invalid size `9999999999999999999`",
        "write a number of bytes, optionally followed by `K`, `M`, `G` or `T` (powers of 1024),"
        " such as `64M`",
    ),
    (
        "limit cpus 1.2345",
        Code.PARSE_INVALID_VALUE,
        "1.2345",
        "invalid number of CPUs `1.2345`",
        "write a number with at most three decimals, such as `1.5`",
    ),
    (
        "limit cpus 1.",
        Code.PARSE_INVALID_VALUE,
        "1.",
        "invalid number of CPUs `1.`",
        "write a number with at most three decimals, such as `1.5`",
    ),
    (
        "limit pids 12x",
        Code.PARSE_INVALID_VALUE,
        "12x",
        "invalid number `12x`",
        "write a whole number such as `1024`",
    ),
    (
        "limit open-files 1e6",
        Code.PARSE_INVALID_VALUE,
        "1e6",
        "invalid number `1e6`",
        "write a whole number such as `1024`",
    ),
    (
        "deny port 2x5",
        Code.PARSE_INVALID_VALUE,
        "2x5",
        "invalid port `2x5`",
        "write a number such as `443`",
    ),
    (
        'env X = "a\\qb"',
        Code.PARSE_INVALID_VALUE,
        "\\q",
        "invalid escape `\\q` in a quoted string",
        'use `\\"`, `\\\\`, `\\/`, `\\b`, `\\f`, `\\n`, `\\r`, `\\t` or `\\u` and four hex digits',
    ),
    (
        'env X = "\\u12"',
        Code.PARSE_INVALID_VALUE,
        "\\u",
        "invalid escape `\\u` in a quoted string",
        'use `\\"`, `\\\\`, `\\/`, `\\b`, `\\f`, `\\n`, `\\r`, `\\t` or `\\u` and four hex digits',
    ),
    (
        'read "/a\x1b[2Jb"',
        Code.PARSE_INVALID_VALUE,
        "\ufffd",
        "control character `\\u{1b}` in a quoted string",
        "write it as an escape, such as `\\u001b`",
    ),
    (
        'env X = "\\ud800"',
        Code.PARSE_INVALID_VALUE,
        '"\\ud800"',
        "unpaired surrogate in a quoted string",
        "a `\\u` escape from d800 to dfff must be half of a surrogate pair",
    ),
    (
        "read ~/.config",
        Code.PARSE_UNEXPECTED_TOKEN,
        "~/.config",
        "unexpected `~/.config`: expected a path starting with `/` or a quoted string",
        "`~` is not expanded: write the absolute path it stands for",
    ),
]


@pytest.mark.parametrize(
    ("text", "code", "underlined", "message", "help"), ERRORS, ids=[e[0] for e in ERRORS]
)
def test_error(text: str, code: Code, underlined: str, message: str, help: str | None) -> None:
    (diagnostic,) = errors(text)
    assert diagnostic.code is code
    assert diagnostic.message == message
    assert diagnostic.help == help
    # after a first statement, so that the file is a policy whatever the line holds (a file
    # whose first statement begins with no keyword is not shown: `kinds.foreign`)
    after = f"user 1000\n{text}"
    (second,) = errors(after)
    assert second.message == message
    assert marked(second, after) == underlined


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("\ud800read /x", 1),
        ("read /😀\udfff", 8),  # a character outside the BMP is one column
        ('env X = "\ud83d\ude00"', 10),  # a raw pair of halves: the first is reported
        ("read /é\udc00 \ud800", 8),
    ],
)
def test_the_first_lone_surrogate_is_reported(text: str, column: int) -> None:
    (diagnostic,) = errors(text)
    assert diagnostic.code is Code.PARSE_UNEXPECTED_CHARACTER
    assert diagnostic.message == f"unexpected character `\\u{{{ord(text[column - 1]):x}}}`"
    assert diagnostic.origin == Span(FILE, 1, column, 1, column + 1)


# (source, the column just after the last word, what was expected)
ENDS = [
    ("read", 5, "a path starting with `/` or a quoted string"),
    ("insecure", 9, "a statement"),
    ("allow api.github.com", 21, "`,` or `port`"),
    ("allow a.com port 443,", 22, "a port"),
    ("allow a.com port 443 over", 26, "a transport"),
    ("seccomp deny", 13, "a system call"),
    ("capability", 11, "a capability"),
    ("limit cpus", 11, "a number of CPUs such as `1.5`"),
    ("limit pids", 11, "a number"),
    ("tmpfs /c size", 14, "a size such as `64M`"),
    ("deny host", 10, "a host name"),
    ("user   # who?", 5, "a user name or `uid[:gid]`"),
    ("env X", 6, "`=`"),
    ("env X =", 8, "a quoted string or a value"),
    ("secret", 7, "a variable name"),
    ("deny", 5, "`host`, `path` or `port`"),
]


@pytest.mark.parametrize(("text", "column", "expected"), ENDS, ids=[e[0] for e in ENDS])
def test_unexpected_end_of_line(text: str, column: int, expected: str) -> None:
    (diagnostic,) = errors(text)
    assert diagnostic.code is Code.PARSE_UNEXPECTED_EOF
    assert diagnostic.message == f"unexpected end of line: expected {expected}"
    assert diagnostic.origin == Span(FILE, 1, column, 1, column)
    assert diagnostic.help is None


def test_rendered_errors_look_like_a_compiler() -> None:
    text = "read /a\nallow api.github.com port 443, https\n"
    (diagnostic,) = errors(text)
    assert render(diagnostic, {FILE: text}) == (
        "policy.lok:2:32: error[parse.unexpected-token]: unexpected `https`: expected a port\n"
        "  |\n"
        "2 | allow api.github.com port 443, https\n"
        "  | " + " " * 31 + "^^^^^"
    )


def test_an_end_of_line_is_marked_after_the_last_word() -> None:
    text = "tmpfs /cache size   # forgot the size"
    (diagnostic,) = errors(text)
    assert render(diagnostic, {FILE: text}).split("\n")[2:] == [
        "1 | tmpfs /cache size   # forgot the size",
        "  | " + " " * 17 + "^",
    ]


def test_every_bad_line_is_reported_in_order() -> None:
    text = """\
# statements with typos, and good ones between them
read /srv/in
raed /srv/data
write /srv/out
limit memroy 512M
network opne
allow a.com port 443, 80x, 9y
tmpfs /cache size 64Q
read /srv/ok
"""
    found = errors(text)
    assert [(d.code, marked(d, text)) for d in found] == [
        (Code.PARSE_UNKNOWN_KEYWORD, "raed"),
        (Code.PARSE_UNKNOWN_KEYWORD, "memroy"),
        (Code.PARSE_UNKNOWN_KEYWORD, "opne"),
        (Code.PARSE_INVALID_VALUE, "80x"),
        (Code.PARSE_INVALID_VALUE, "9y"),
        (Code.PARSE_INVALID_VALUE, "64Q"),
    ]
    assert [d.origin.line for d in found if isinstance(d.origin, Span)] == [3, 5, 6, 7, 7, 8]


def test_errors_in_one_string_are_all_reported() -> None:
    text = 'env X = "\\x and \\y"'
    assert [marked(d, text) for d in errors(text)] == ["\\x", "\\y"]


def test_with_a_collector_the_statements_that_parsed_come_back() -> None:
    out = Collector()
    found = parse("read /a\nwirte /b\nlimit memory 1T1\nuser 1000\n", FILE, out)
    # a statement with a syntax error or a bad value is not returned, to be judged
    assert [type(r) for r in found] == [Read, User]
    assert [d.code for d in out.diagnostics] == [
        Code.PARSE_UNKNOWN_KEYWORD,
        Code.PARSE_INVALID_VALUE,
    ]
