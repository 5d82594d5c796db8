"""The `policy` commands' fast path parses exactly as click does, or declines.

The property: for any command line built from the commands' vocabulary (valid and invalid
tokens, any order, `--opt=value`, `--`, repeats, help flags, global options), whenever
`fastpath.parse` handles it, click calls the same action with exactly the same values.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mcp_lok.launcher import fastpath, paths, policy_actions, policy_spec
from mcp_lok.launcher.cli import cli
from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.policy_spec import Argument, Option

COMMANDS = policy_spec.COMMANDS
OPTIONS = sorted(
    {
        option
        for command in COMMANDS.values()
        for option in command.params
        if isinstance(option, Option)
    },
    key=lambda option: option.flags,
)
FLAGS = sorted({flag for option in OPTIONS for flag in option.flags})
LONG_FLAGS = [flag for flag in FLAGS if flag.startswith("--")]
VALUES = [
    *{choice for option in OPTIONS for choice in option.choices},
    "bad", "80", "0", "-5", "abc", "٣", "1_0", " 7 ", "2.5", "10", "11", "nan", "inf", "1e1",
    "A=B", "K=", "=V", "NOVALUE", "A=B=C", "x", "", "examples/github.lok", "IMAGE",
]  # fmt: skip
OTHERS = [
    "--", "-", "--help", "-h", "--bogus", "-x", "-v", "-q", "-eA=B", "-e=A=B", "--imag",
    "policy", "compile", "help", "--image=--help", "---", "--=x",
]  # fmt: skip
TOKENS = st.one_of(
    st.sampled_from(FLAGS),
    st.sampled_from(VALUES),
    st.sampled_from(OTHERS),
    st.builds("{}={}".format, st.sampled_from(LONG_FLAGS), st.sampled_from(VALUES)),
)
PREFIXES = [
    ["policy"],
    ["policy"],
    ["policy"],
    ["-v", "policy"],
    ["-q", "policy"],
    ["help", "policy"],
]


def valid_value(option: Option) -> st.SearchStrategy[str]:
    """A value click accepts for `option`."""
    if option.kind == policy_spec.CHOICE:
        return st.sampled_from(option.choices)
    if option.kind == policy_spec.INT:
        return st.integers(0, 70000).map(str)
    if option.kind == policy_spec.FLOAT:
        return st.floats(option.low, option.high).map(str)
    if option.kind == policy_spec.PAIRS:
        return st.sampled_from(["A=B", "K=", "A=B=C", "PATH=/bin"])
    return st.sampled_from(["x", "mcp-lok/time:1", "", "a b"])


@st.composite
def ordinary(draw: st.DrawFn) -> list[str]:
    """Mostly well-formed command lines of one `policy` command, now and then spoilt."""
    command = COMMANDS[draw(st.sampled_from(sorted(COMMANDS)))]
    options = [p for p in command.params if isinstance(p, Option)]
    tokens: list[list[str]] = []
    required = [option for option in options if option.required and draw(st.integers(0, 9))]
    for option in required + draw(st.lists(st.sampled_from(options), max_size=6)):
        flag, value = draw(st.sampled_from(option.flags)), draw(valid_value(option))
        joined = flag.startswith("--") and draw(st.booleans())
        tokens.append([f"{flag}={value}"] if joined else [flag, value])
    arguments = [p for p in command.params if isinstance(p, Argument)]
    count = draw(st.integers(0, 4)) if any(a.many for a in arguments) else len(arguments)
    count = draw(st.sampled_from([count, count, count, draw(st.integers(0, 3))]))
    words = st.sampled_from(["stdio", "none", "examples/github.lok", "a", "-", ""])
    tokens += [[draw(words)] for _ in range(count)]
    tokens = draw(st.permutations(tokens))
    argv = ["policy", command.name, *(token for group in tokens for token in group)]
    if draw(st.booleans()):
        argv += ["--", *draw(st.lists(st.one_of(words, TOKENS), max_size=3))]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        argv.insert(draw(st.integers(1, len(argv))), draw(TOKENS))
    return argv


@st.composite
def anything(draw: st.DrawFn) -> list[str]:
    """Random tokens of the vocabulary after a `policy`-ish prefix and a command word."""
    prefix = draw(st.sampled_from(PREFIXES))
    command = draw(st.sampled_from([*sorted(COMMANDS), "nope"]))
    return [*prefix, command, *draw(st.lists(TOKENS, max_size=8))]


def clicks(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """The (command, values) the click CLI hands to `policy_actions.run` for `argv`."""
    called: list[tuple[str, dict[str, Any]]] = []

    def record(command: str, values: dict[str, Any], echo: object) -> None:
        called.append((command, values))

    with monkeypatch.context() as patch:
        patch.setattr(policy_actions, "run", record)
        CliRunner().invoke(cli, argv)
    return called


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(argv=st.one_of(ordinary(), ordinary(), anything()))
def test_the_fast_path_parses_as_click_does_or_declines(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = fastpath.parse(argv)
    event("fast path" if parsed else "click")  # --hypothesis-show-statistics: both happen
    if parsed is not None:
        assert clicks(argv, monkeypatch) == [parsed]


ORDINARY = {
    "compile": (
        ["policy", "compile", "examples/github.lok", "--image", "x"],
        {"source": "examples/github.lok", "image": "x", "args": ()},
    ),
    "compile, every option": (
        ["policy", "compile", "--engine=podman", "stdio", "--image", "x", "--transport", "sse",
         "--name", "n", "-e", "A=1", "--env=B=2=3", "--runtime-dir", "/tmp/r",
         "--target-port", "9000", "--", "serve", "--help", "-e"],
        {"source": "stdio", "image": "x", "engine": "podman", "transport": "sse", "name": "n",
         "env": (("A", "1"), ("B", "2=3")), "runtime_dir": "/tmp/r", "target_port": 9000,
         "args": ("serve", "--help", "-e")},
    ),
    "compile, arguments without --": (
        ["policy", "compile", "stdio", "a", "--image", "x", "b"],
        {"source": "stdio", "image": "x", "args": ("a", "b")},
    ),
    "explain": (
        ["policy", "explain", "network", "--threshold", "2", "--format", "json"],
        {"source": "network", "threshold": 2.0, "fmt": "json", "image": "IMAGE"},
    ),
    "validate": (
        ["policy", "validate", "stdio", "none", "--format", "json", "network"],
        {"sources": ("stdio", "none", "network"), "fmt": "json"},
    ),
    "diff": (
        ["policy", "diff", "stdio", "network", "--engine", "podman", "--engine", "docker"],
        {"a": "stdio", "b": "network", "engine": "docker", "fmt": "human"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(ORDINARY))
def test_an_ordinary_command_line_takes_the_fast_path(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv, expected = ORDINARY[case]
    parsed = fastpath.parse(argv)
    assert parsed is not None
    assert parsed[0] == argv[1]
    assert parsed[1].items() >= expected.items()
    assert clicks(argv, monkeypatch) == [parsed]


@pytest.mark.parametrize(
    "argv",
    [
        ["policy", "compile", "stdio", "--image", "x", "--help"],
        ["policy", "compile", "stdio", "--image", "x", "-h"],
        ["policy", "compile", "stdio"],  # --image is required
        ["policy", "compile", "stdio", "--image"],
        ["policy", "compile", "stdio", "--image", "x", "--engine", "bad"],
        ["policy", "compile", "stdio", "--image", "x", "-e", "NOVALUE"],
        ["policy", "compile", "stdio", "--image", "x", "-eA=B"],
        ["policy", "compile", "stdio", "--image", "x", "--target-port", "abc"],
        ["policy", "explain", "stdio", "--threshold", "11"],
        ["policy", "explain", "stdio", "--threshold", "nan"],
        ["policy", "explain", "stdio", "network"],
        ["policy", "validate"],
        ["policy", "diff", "stdio"],
        ["policy", "diff", "stdio", "--bogus", "network"],
        ["-v", "policy", "compile", "stdio", "--image", "x"],
        ["help", "policy", "compile"],
        ["policy", "nope"],
        ["policy"],
        ["run", "img"],
    ],
)
def test_anything_else_is_left_to_click(argv: list[str]) -> None:
    assert fastpath.parse(argv) is None


def test_the_runtime_folder_is_the_default_runtime_dir_of_both_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(paths.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000/")
    argv = ["policy", "compile", "stdio", "--image", "x"]
    parsed = fastpath.parse(argv)
    assert parsed is not None
    assert parsed[1]["runtime_dir"] == "/run/user/1000/mcp-lok"
    assert clicks(argv, monkeypatch) == [parsed]
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert policy_spec.default_runtime_dir() == "/run/mcp-lok"


@settings(max_examples=300, deadline=None)
@given(folder=st.lists(st.sampled_from(["/", "a", ".", "..", "b c", "é"]), max_size=8).map("".join))
def test_the_runtime_folder_is_spelt_as_pathlib_spells_it(folder: str) -> None:
    assert paths.joined(folder, "mcp-lok") == str(Path(folder) / "mcp-lok")


def test_without_xdg_runtime_dir_a_user_has_no_runtime_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(paths.os, "geteuid", lambda: 1000)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    with pytest.raises(LokError, match="XDG_RUNTIME_DIR"):
        paths.default_root_name()


@pytest.mark.parametrize(
    ("message", "nl", "err"),
    [
        ("plain", True, False),
        ("no newline", False, False),
        ("", True, True),
        ("", False, False),
        ("\x1b[31mred\x1b[0m and \x1b[1mbold\x1b[22m", True, True),
        ("→ ✓ é", True, False),
    ],
)
def test_echo_writes_what_click_echo_writes(
    message: str, nl: bool, err: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    click.echo(message, nl=nl, err=err)
    expected = capsys.readouterr()
    fastpath.echo(message, nl=nl, err=err)
    assert capsys.readouterr() == expected


def test_only_a_text_stream_with_a_real_encoding_is_written_directly() -> None:
    def stream(encoding: str) -> io.TextIOWrapper:
        return io.TextIOWrapper(io.BytesIO(), encoding=encoding)

    assert fastpath.usable(stream("utf-8"))
    assert fastpath.usable(stream("latin-1"))
    assert not fastpath.usable(stream("ascii"))  # click re-wraps it as UTF-8
    assert not fastpath.usable(stream("US-ASCII"))
    assert not fastpath.usable(None)  # no stdout at all: click prints nothing
    assert not fastpath.usable(io.StringIO())  # type: ignore[arg-type]


def test_shell_completion_is_left_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fastpath.COMPLETION, "bash_complete")
    assert fastpath.run(["policy", "compile", "stdio", "--image", "x"]) is None


def test_an_interrupt_ends_as_it_does_under_click(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(policy_actions, "run", interrupted)
    argv = ["policy", "validate", "stdio"]
    assert fastpath.run(argv) == 1
    fast = capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["mcp-lok", *argv])
    from mcp_lok.launcher.cli import main

    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 1
    assert capsys.readouterr() == fast == ("", "\naborted\n")
