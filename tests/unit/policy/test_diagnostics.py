"""Diagnostics: values with a stable code, rendered like a compiler's (location, source
line, caret underline, help) and as JSON; and the origins they point at."""

from __future__ import annotations

import pytest

from mcp_lok.policy.diagnostics import (
    Code,
    Collector,
    Diagnostic,
    PolicyError,
    Severity,
    did_you_mean,
    render,
    render_all,
)
from mcp_lok.policy.origin import (
    BASELINE,
    Argument,
    Default,
    Pointer,
    Span,
    join_pointer,
    pointer_escape,
)

TEXT = "user 1000\nread /srv/data\n\twrite /out\n"
SOURCES = {"p.lok": TEXT}


def error(
    origin: Span | Pointer | Default | Argument | None, help: str | None = None
) -> Diagnostic:
    return Diagnostic(Code.PATH_RELATIVE, "the host path `x` is relative", origin, help)


def test_the_caret_underlines_exactly_the_span() -> None:
    text = render(error(Span("p.lok", 2, 6, 2, 15), help="write it from the root"), SOURCES)
    assert text == (
        "p.lok:2:6: error[policy.relative-path]: the host path `x` is relative\n"
        "  |\n"
        "2 | read /srv/data\n"
        "  |      ^^^^^^^^^\n"
        "  = help: write it from the root"
    )
    line, carets = text.splitlines()[2:4]
    start = carets.index("^")
    assert line[start : start + carets.count("^")] == "/srv/data"


def test_a_tab_counts_as_one_column_so_the_caret_still_lines_up() -> None:
    text = render(error(Span("p.lok", 3, 8, 3, 12)), SOURCES)
    line, carets = text.splitlines()[2:4]
    assert line == "3 |  write /out"
    start = carets.index("^")
    assert line[start : start + carets.count("^")] == "/out"


def test_a_span_over_several_lines_is_underlined_to_the_end_of_its_first() -> None:
    text = render(error(Span("p.lok", 1, 6, 2, 5)), SOURCES)
    assert text.splitlines()[2:] == ["1 | user 1000", "  |      ^^^^"]


def test_an_empty_or_backwards_span_still_gets_one_caret() -> None:
    assert render(error(Span("p.lok", 1, 6, 1, 6)), SOURCES).splitlines()[-1] == "  |      ^"
    assert render(error(Span("p.lok", 1, 6, 1, 2)), SOURCES).splitlines()[-1] == "  |      ^"


def test_a_wide_line_number_widens_the_gutter() -> None:
    text = "\n" * 9 + "read x\n"
    rendered = render(error(Span("f", 10, 6, 10, 7)), {"f": text})
    assert rendered.splitlines()[1:] == ["   |", "10 | read x", "   |      ^"]


@pytest.mark.parametrize(
    ("sources", "line"),
    [
        (SOURCES, 9),  # beyond the text
        (SOURCES, 0),
        ({}, 2),  # the file's text is unknown
    ],
)
def test_no_excerpt_when_the_line_cannot_be_shown(sources: dict[str, str], line: int) -> None:
    rendered = render(error(Span("p.lok", line, 1, line, 3)), sources)
    assert rendered == f"p.lok:{line}:1: error[policy.relative-path]: the host path `x` is relative"


def test_an_empty_file_has_one_empty_line() -> None:
    rendered = render(error(Span("e", 1, 1, 1, 1)), {"e": ""})
    assert rendered.splitlines()[1:] == ["  |", "1 | ", "  | ^"]


def test_a_pointer_with_a_span_renders_like_a_span() -> None:
    pointer = Pointer("p.json", "/read/0", Span("p.json", 1, 10, 1, 13))
    rendered = render(error(pointer), {"p.json": '{"read": ["x"]}'})
    assert rendered.splitlines() == [
        "p.json:1:10: error[policy.relative-path]: the host path `x` is relative",
        "  |",
        '1 | {"read": ["x"]}',
        "  |          ^^^",
    ]


def test_a_pointer_without_a_span_names_the_pointer() -> None:
    rendered = render(error(Pointer("p.json", "/read/0")), {})
    assert rendered == "p.json#/read/0: error[policy.relative-path]: the host path `x` is relative"


@pytest.mark.parametrize("origin", [Default("baseline"), Argument("--name"), None])
def test_defaults_arguments_and_no_origin_render_without_a_location(
    origin: Default | Argument | None,
) -> None:
    rendered = render(error(origin, help="try again"), SOURCES)
    assert rendered == (
        "error[policy.relative-path]: the host path `x` is relative\n  = help: try again"
    )


def test_a_warning_says_so() -> None:
    warning = Diagnostic(Code.INSECURE_UNUSED, "no effect", None, severity=Severity.WARNING)
    assert render(warning, {}) == "warning[policy.insecure-unused]: no effect"


def test_render_all_separates_diagnostics_by_a_blank_line() -> None:
    first, second = error(None), error(Default("x"), help="h")
    assert render_all([first, second], {}) == render(first, {}) + "\n\n" + render(second, {})
    assert render_all([], {}) == ""


def test_to_json_with_a_span() -> None:
    diagnostic = error(Span("p.lok", 2, 6, 3, 1), help="h")
    assert diagnostic.to_json() == {
        "code": "policy.relative-path",
        "severity": "error",
        "message": "the host path `x` is relative",
        "help": "h",
        "location": {
            "source": "p.lok:2",
            "file": "p.lok",
            "line": 2,
            "column": 6,
            "end_line": 3,
            "end_column": 1,
        },
    }


def test_to_json_with_a_pointer() -> None:
    spanned = Pointer("p.json", "/a", Span("p.json", 1, 2, 1, 5))
    assert error(spanned).to_json()["location"] == {
        "source": "p.json#/a",
        "file": "p.json",
        "line": 1,
        "column": 2,
        "end_line": 1,
        "end_column": 5,
    }
    assert error(Pointer("p.json", "/a")).to_json()["location"] == {"source": "p.json#/a"}


def test_to_json_without_a_file() -> None:
    assert error(BASELINE).to_json()["location"] == {"source": "default (baseline)"}
    assert error(Argument("--image")).to_json()["location"] == {"source": "argument (--image)"}
    warning = Diagnostic(Code.INSECURE_UNUSED, "m", severity=Severity.WARNING)
    assert warning.to_json() == {
        "code": "policy.insecure-unused",
        "severity": "warning",
        "message": "m",
        "help": None,
        "location": None,
    }


def test_codes_are_unique_and_dotted() -> None:
    values = [code.value for code in Code]
    assert len(values) == len(set(values))
    assert all(value.count(".") == 1 and value == value.lower() for value in values)


@pytest.mark.parametrize(
    ("word", "candidates", "hint"),
    [
        ("tpc", ["tcp", "udp"], "did you mean `tcp`?"),
        ("quic", ["tcp", "udp"], None),
        ("netwrk", ["network", "none", "stdio"], "did you mean `network`?"),
        ("x", [], None),
    ],
)
def test_did_you_mean(word: str, candidates: list[str], hint: str | None) -> None:
    assert did_you_mean(word, candidates) == hint


def test_did_you_mean_is_independent_of_candidate_order() -> None:
    # two equally close candidates: the answer must not depend on set iteration order
    assert did_you_mean("ab", ["ac", "aa"]) == did_you_mean("ab", ["aa", "ac"])


def test_the_collector_gathers_and_raises_once() -> None:
    out = Collector()
    out.warn(Code.INSECURE_UNUSED, "w", None)
    assert not out.has_errors
    out.raise_if_errors()  # warnings alone never raise
    out.error(Code.PATH_RELATIVE, "e", BASELINE, help="h")
    out.extend([error(None)])
    assert out.has_errors
    assert out.diagnostics == [
        Diagnostic(Code.INSECURE_UNUSED, "w", None, severity=Severity.WARNING),
        Diagnostic(Code.PATH_RELATIVE, "e", BASELINE, "h"),
        error(None),
    ]
    with pytest.raises(PolicyError) as caught:
        out.raise_if_errors_with({"p.lok": TEXT})
    assert caught.value.diagnostics == tuple(out.diagnostics)
    assert caught.value.sources == {"p.lok": TEXT}
    assert str(caught.value) == "w"
    with pytest.raises(PolicyError) as again:
        out.raise_if_errors()
    assert again.value.sources == {}


def test_a_policy_error_without_diagnostics_still_has_a_message() -> None:
    problem = PolicyError([])
    assert (problem.diagnostics, problem.sources, str(problem)) == ((), {}, "invalid policy")


# --- origins --------------------------------------------------------------------------------


def test_origins_render_and_locate() -> None:
    span = Span("p.lok", 3, 7, 3, 9)
    assert (span.render(), span.location()) == ("p.lok:3", "p.lok:3:7")
    bare = Pointer("p.json", "/network/outbound")
    assert (bare.render(), bare.location()) == (
        "p.json#/network/outbound",
        "p.json#/network/outbound",
    )
    spanned = Pointer("p.json", "/read/0", Span("p.json", 2, 4, 2, 9))
    assert (spanned.render(), spanned.location()) == ("p.json#/read/0", "p.json:2:4")
    assert (BASELINE.render(), BASELINE.location()) == ("default (baseline)",) * 2
    flag = Argument("--name")
    assert (flag.render(), flag.location()) == ("argument (--name)",) * 2


def test_json_pointer_tokens_are_escaped() -> None:
    assert pointer_escape("a/b~c") == "a~1b~0c"
    assert pointer_escape(3) == "3"
    assert join_pointer("", "network", "outbound") == "/network/outbound"
    assert join_pointer("/read", 0) == "/read/0"
    assert join_pointer("/x", "~/") == "/x/~0~1"
    assert join_pointer("/x") == "/x"


def test_excerpts_split_lines_only_at_newline_and_hide_control_characters() -> None:
    from mcp_lok.policy.diagnostics import render as render_one

    text = '{"read": ["a\u2028b"],\r\n"x": "\x9b[2J"}\r\n'
    span = Span("p.json", 2, 7, 2, 12)
    shown = render_one(Diagnostic(Code.PROFILE_WRONG_TYPE, "bad", span), {"p.json": text})
    assert shown.splitlines()[2:] == ['2 | "x": "\ufffd[2J"}', "  |       ^^^^^"]


# --- a file that is not a policy is never quoted, whoever hands its text in (issue 11) ----

SHADOW = "root:$6$Vq2x1T0Zm$u0pLqJ3nXxK9fE8rW4yH7sD2:19800:0:99999:7:::\nbin:*:19800::::::\n"


def test_the_renderer_never_quotes_a_file_that_is_not_a_policy() -> None:
    # a diagnostic that quotes the file, with the file's text: as a careless caller would
    quoting = Diagnostic(
        Code.PARSE_UNKNOWN_KEYWORD, "unknown statement `root`", Span("s.lok", 1, 1, 1, 5)
    )
    second = Diagnostic(
        Code.PARSE_UNKNOWN_KEYWORD, "unknown statement `bin`", Span("s.lok", 2, 1, 2, 4)
    )
    rendered = render_all([quoting, second], {"s.lok": SHADOW})
    assert rendered == (
        "s.lok:1:1: error[source.not-a-policy]: `s.lok` is not a policy: its first statement "
        "does not begin with a keyword of the language\n"
        "  = help: nothing of it is shown, as it may not be yours: a policy file begins with a "
        "statement such as `read`, `allow` or `extends`"
    )
    for word in ("root", "bin", "$6$", "19800"):
        assert word not in rendered


@pytest.mark.parametrize(
    ("file", "text", "quoted"),
    [
        ("p.lok", "\n# a comment first\n  insecure read /x\nbad line\n", True),
        ("p.lok", "\ufeffuser 1000\nbad line\n", True),
        ("p.lok", "\n\n", True),  # no statement: nothing foreign about it
        ("p.lok", "\r\n  # a comment\r\n\tread /x\r\n", True),  # lines end at `\r\n` too
        ("p.lok", 'read"/x"\n', True),  # a keyword ends before a quote, as the parser reads it
        ("p.lok", "readx /x\nread /y\n", False),
        ("p.lok", "read\u200b/x\n", False),
        ("p.lok", "insecure\n", False),
        ("p.lok", "insecure \x01read /x\n", False),
        ("p.lok", "\x01read /x\n", False),
        ("p.json", '  {"network": {}, "x": 1}', True),
        ("p.json", '{"x": {"read": []}}', False),  # a field deeper down is not the profile's
        ("p.json", '{"x": 1, "privileged": true,', True),  # not JSON: a field's key suffices
        ("p.json", '{"x": 1,', False),
        ("p.json", "[" * 100_000, False),
        ("p.json", '{"a":' * 100_000, False),  # too deep for `json`: read as text
        ("p.lok", '{"read": []}', True),  # a `.lok` that starts with `{` is read as a profile
    ],
)
def test_what_is_policy_text(file: str, text: str, quoted: bool) -> None:
    from mcp_lok.policy.kinds import foreign

    lines = [n for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    last = lines[-1] if lines else 1
    rendered = render(
        Diagnostic(Code.PATH_RELATIVE, "bad", Span(file, last, 1, last, 2)), {file: text}
    )
    assert (foreign(file, text) is None) is quoted
    assert ("error[source.not-a-policy]" not in rendered) is quoted
