"""Properties of the parser: any text gives rules or one `PolicyError`, never another
exception; every span it reports lies inside the text; lines are parsed independently; and
what a valid policy says comes back exactly."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from mcp_lok.policy.diagnostics import Code, Diagnostic, PolicyError, render
from mcp_lok.policy.origin import Span
from mcp_lok.policy.parser import parse
from mcp_lok.policy.record import fields, replace
from mcp_lok.policy.rules import Allow, Env, Item, Rule

FILE = "fuzz.lok"
BOUNDED = settings(max_examples=200, deadline=None)
PARSE_CODES = {code for code in Code if code.value.startswith("parse.")}

EXAMPLES = [
    p.read_text(encoding="utf-8")
    for p in sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.lok"))
]
STATEMENTS = [
    'extends "base.lok"',
    "extends stdio",
    "user 1000:1000",
    "read /srv/data as /data",
    'write "/srv/with space" as /out',
    "tmpfs /cache size 64M",
    "allow github.com, *.githubusercontent.com port 443, 80 over tcp, udp",
    "allow 10.0.0.0/8 port 5432",
    "network none",
    'insecure network open because "crawls arbitrary sites"',
    "deny host gist.github.com",
    "deny port 25",
    "deny path /srv/data/.git",
    "limit memory 512M",
    "limit cpus 1.5",
    "limit pids 128",
    "limit open-files 1024",
    'env LOG_LEVEL = "debug"',
    "env MODE=fast",
    "secret GITHUB_TOKEN from env GH_TOKEN",
    "secret API_KEY from file /run/keys/api",
    'capability NET_BIND_SERVICE because "listens on port 80"',
    "seccomp deny ptrace, personality",
    'insecure seccomp off because "..."',
    'insecure privileged because "needs /dev/kvm"',
    'insecure privilege-escalation because "..."',
    'insecure writable-root because "..."',
]
# words and pieces a mutation splices in: keywords, values, and the characters that matter
VOCABULARY = [
    *{word for statement in STATEMENTS for word in statement.split()},
    "as", "over", "port", "size", "from", "because", "insecure", "none", "open",
    ",", "=", "#", '"', "\\", '\\"', "\\u", "\\ud800", "64Q", "1.2345", "\u00a0", "\t", " ",
    "\r\n", "\n", "\x00", "\x1b", "😀", "\u200b", "é",
]  # fmt: skip

# what ends a line, and a byte-order mark, which is a blank only at the start of a file
BREAKS = "\n\ufeff"
LINE_WORDS = [w for w in VOCABULARY if not set(w) & set(BREAKS)]
policy_lines = st.lists(
    st.lists(st.sampled_from(LINE_WORDS)).map(" ".join)
    | st.sampled_from(STATEMENTS)
    | st.text(st.characters(exclude_characters=BREAKS), max_size=20),
    max_size=8,
)


def outcome(text: str) -> list[Rule] | tuple[Diagnostic, ...]:
    """What `parse` makes of `text`, after checking every span it reports."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    try:
        rules = parse(text, FILE)
    except PolicyError as error:
        problems = error.diagnostics
    else:
        for rule in rules:
            assert isinstance(rule.origin, Span)
            check_span(rule.origin, lines)
            assert rule.origin.col < rule.origin.end_col
            for item in items_of(rule):
                assert isinstance(item.origin, Span)
                check_span(item.origin, lines)
            for value in strings_of(rule):
                value.encode("utf-8")  # well-formed Unicode, whatever the text held
        event(f"{len(rules)} rules" if len(rules) < 3 else "3+ rules")
        return rules
    event("errors: " + " ".join(sorted({d.code.value for d in problems})))
    assert problems
    for diagnostic in problems:
        assert diagnostic.code in PARSE_CODES
        assert diagnostic.message[0].islower()
        assert not diagnostic.message.endswith(".")
        assert isinstance(diagnostic.origin, Span)
        check_span(diagnostic.origin, lines)
        render(diagnostic, {FILE: text})
    return problems


def check_span(span: Span, lines: list[str]) -> None:
    assert span.file == FILE
    assert 1 <= span.line == span.end_line <= len(lines)
    assert 1 <= span.col <= span.end_col <= len(lines[span.line - 1]) + 1


def strings_of(rule: Rule) -> list[str]:
    found = [getattr(rule, f.name) for f in fields(rule)]
    found += [item.value for item in items_of(rule)]
    return [value for value in found if isinstance(value, str)]


def items_of(rule: Rule) -> list[Item]:
    found: list[Item] = []
    for field in fields(rule):
        value = getattr(rule, field.name)
        if isinstance(value, Item):
            found.append(value)
        elif isinstance(value, tuple):
            found.extend(v for v in value if isinstance(v, Item))
    return found


@BOUNDED
@given(st.text())
def test_any_text_gives_rules_or_a_policy_error(text: str) -> None:
    outcome(text)


@BOUNDED
@given(st.text(st.characters(categories=["Cs", "Cc", "Zs", "Zl", "Zp", "Cf", "Co"])))
def test_any_invisible_characters_give_rules_or_a_policy_error(text: str) -> None:
    outcome(f'read /a{text}\nenv X = "{text}"\nallow {text} port 1')


@BOUNDED
@given(policy_lines)
def test_policy_like_text_gives_rules_or_a_policy_error(lines: list[str]) -> None:
    outcome("\n".join(lines))


@st.composite
def mutated_policies(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from([*EXAMPLES, "\n".join(STATEMENTS)]))
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 12)))
        piece = draw(st.sampled_from(["", *VOCABULARY]) | st.text(max_size=4))
        text = text[:start] + piece + text[end:]
    return text


@BOUNDED
@given(mutated_policies())
def test_mutated_policies_give_rules_or_a_policy_error(text: str) -> None:
    outcome(text)


@BOUNDED
@given(policy_lines)
def test_each_line_is_parsed_on_its_own(lines: list[str]) -> None:
    """A file's rules and errors are its lines' rules and errors: no line hides another."""
    rules: list[Rule] = []
    diagnostics: list[Diagnostic] = []
    for number, line in enumerate(lines, start=1):
        alone = outcome(line)
        if isinstance(alone, list):
            assert all(r.origin.line == 1 for r in alone if isinstance(r.origin, Span))
            rules.extend(alone)
        else:
            diagnostics.extend(moved(d, number) for d in alone)
    whole = outcome("\n".join(lines))
    if diagnostics:
        assert whole == tuple(diagnostics)
    else:
        assert whole == rules


def moved(diagnostic: Diagnostic, line: int) -> Diagnostic:
    assert isinstance(diagnostic.origin, Span)
    span = replace(diagnostic.origin, line=line, end_line=line)
    return replace(diagnostic, origin=span)


@BOUNDED
@given(
    st.lists(st.sampled_from(STATEMENTS), min_size=1, max_size=10),
    st.lists(st.sampled_from(["", " ", "\t", "  \t"]), min_size=2, max_size=2),
    st.sampled_from(["", "   # a comment", "\t#"]),
)
def test_a_statement_span_is_the_statement(
    statements: list[str], indent: list[str], comment: str
) -> None:
    text = "\n".join(f"{indent[0]}{s}{indent[1]}{comment}" for s in statements)
    rules = outcome(text)
    assert isinstance(rules, list)
    assert len(rules) == len(statements)
    for rule, statement in zip(rules, statements, strict=True):
        assert isinstance(rule.origin, Span)
        line = text.split("\n")[rule.origin.line - 1]
        assert line[rule.origin.col - 1 : rule.origin.end_col - 1] == statement


hosts = st.from_regex(r"[a-z0-9*\[][a-z0-9.:/\[\]*-]{0,30}", fullmatch=True)
ports = st.integers(0, 99999).map(str)


@BOUNDED
@given(
    st.lists(hosts, min_size=1, max_size=5),
    st.lists(ports, min_size=1, max_size=5),
    st.lists(st.sampled_from(["tcp", "udp", "sctp"]), max_size=3),
    st.sampled_from([",", ", ", " , ", ",\t"]),
)
def test_an_allow_rule_keeps_every_host_port_and_transport(
    host_list: list[str], port_list: list[str], protocols: list[str], comma: str
) -> None:
    text = f"allow {comma.join(host_list)} port {comma.join(port_list)}"
    if protocols:
        text += f" over {comma.join(protocols)}"
    (rule,) = outcome(text)
    assert isinstance(rule, Allow)
    assert [i.value for i in rule.hosts] == host_list
    assert [i.value for i in rule.ports] == port_list
    assert [i.value for i in rule.protocols] == (protocols or ["tcp"])
    for item in (*rule.hosts, *rule.ports, *(rule.protocols if protocols else ())):
        assert isinstance(item.origin, Span)
        assert text[item.origin.col - 1 : item.origin.end_col - 1] == item.value


# what a JSON encoder leaves raw but a quoted string here takes only escaped: DEL, the C1
# controls and the Unicode line separators
RAW_UNSAFE = "".join(map(chr, range(0x7F, 0xA0))) + "\u2028\u2029"


@BOUNDED
@given(st.text(st.characters(exclude_categories=["Cs"])), st.booleans())
def test_a_json_string_is_a_quoted_string(value: str, ascii_only: bool) -> None:
    if not ascii_only:
        value = "".join(c for c in value if c not in RAW_UNSAFE)
    quoted = json.dumps(value, ensure_ascii=ascii_only).replace("\x7f", "\\u007f")
    (rule,) = outcome(f"env X = {quoted}")
    assert rule == Env(name="X", value=value, origin=Span(FILE, 1, 1, 1, 1))
