"""The fast path in real processes: what it loads, and the bytes and exit codes it leaves,
compared with the click CLI run on the same command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MCP_LOK = str(Path(sys.executable).parent / "mcp-lok")  # the console script: entry:main
CLICK = [sys.executable, "-c", "from mcp_lok.launcher.cli import main; main()"]
GITHUB = "examples/github.lok"
CASES = "tests/cases/diagnostics/"

# What the compiler itself loads to compile, explain, validate and diff, through its API
# (whatever it imports today: the fast path is judged by what it adds to that).
COMPILER = """
import json, sys
from mcp_lok.policy.host import FixedHost
from mcp_lok.policy import Target, compile_plan, compile_policy, lower, render_all
from mcp_lok.policy import diff, explain
target = Target(image="x", name="x")
sources = ("examples/github.lok", "examples/seed-example.json")
plans = [compile_plan(s, target, host=FixedHost()) for s in sources]
plans[0].to_json()
report = explain.explain(compile_policy("network", host=FixedHost()).policy, plans[0])
explain.render_human(report), explain.render_json(report), explain.exceeds(report, 2)
changes = diff.diff(*plans)
diff.render_human(changes), diff.render_json(changes)
compiled = compile_policy("tests/cases/diagnostics/insecure-unused.lok", host=FixedHost())
json.dumps([d.to_json() for d in compiled.warnings]), render_all(compiled.warnings, compiled.texts)
"""
# The fast path, in process, then the modules it left loaded (it returns instead of exiting).
FAST = """
import sys
from mcp_lok.launcher import fastpath
code = fastpath.run(sys.argv[1:])
loaded = sorted(sys.modules)
"""
REPORT = """
import json  # after the modules were listed
print("\\n" + json.dumps([globals().get("code"), loaded]), file=sys.stderr)
"""
# the launcher modules an ordinary `policy` command may load, and nothing else of its own
LAUNCHER = {
    "mcp_lok.launcher",
    "mcp_lok.launcher.errors",
    "mcp_lok.launcher.exitcodes",
    "mcp_lok.launcher.fastpath",
    "mcp_lok.launcher.host",
    "mcp_lok.launcher.paths",
    "mcp_lok.launcher.policy_actions",
    "mcp_lok.launcher.policy_spec",
}


def loaded(code: str, *args: str) -> tuple[int | None, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", code + REPORT, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    exit_code, modules = json.loads(done.stderr.rsplit("\n", 2)[-2])
    return exit_code, set(modules)


@pytest.fixture(scope="module")
def compiler_modules() -> set[str]:
    return loaded(COMPILER + "loaded = sorted(sys.modules)")[1]


@pytest.mark.parametrize(
    "argv",
    [
        ["policy", "compile", GITHUB, "--image", "x", "-e", "A=B", "--", "serve"],
        ["policy", "compile", "examples/seed-example.json", "--image", "x", "--engine", "podman"],
        ["policy", "explain", GITHUB, "--threshold", "9", "--format", "json"],
        ["policy", "explain", "network"],
        ["policy", "validate", "stdio", GITHUB, "--format", "json"],
        ["policy", "diff", "stdio", GITHUB, "--transport", "sse"],
    ],
)
def test_an_ordinary_policy_command_loads_neither_click_nor_logging(
    argv: list[str], compiler_modules: set[str]
) -> None:
    code, modules = loaded(FAST, *argv)
    assert code == 0
    assert not {m for m in modules if m == "click" or m.startswith("click.")}
    added = modules - compiler_modules
    for heavy in ("logging", "dataclasses", "pathlib", "typing", "inspect", "datetime"):
        assert heavy not in added
    assert {m for m in added if m.startswith("mcp_lok")} <= LAUNCHER
    assert not {m for m in added if not m.startswith("mcp_lok")}, added


def test_help_goes_to_click() -> None:
    code, modules = loaded(FAST, "policy", "compile", "--help")
    assert code is None
    assert "click" not in modules  # declined before anything was run


def run(
    command: list[str], *, merged: bool = False, env: dict[str, str] | None = None
) -> tuple[int, bytes, bytes]:
    done = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr or b""


@pytest.mark.parametrize(
    "argv",
    [
        ["policy", "compile", GITHUB, "--image", "example/github:1.0"],
        ["policy", "compile", "stdio", "--image=x", "--engine", "podman", "--", "-v"],
        ["policy", "compile", CASES + "insecure-unused.lok", "--image", "x"],  # a warning
        ["policy", "compile", CASES + "misspelt-keywords.lok", "--image", "x"],  # exit 3
        ["policy", "compile", "nope.lok", "--image", "x"],  # exit 2
        ["policy", "compile", "stdio", "--image", "UPPER"],  # a target problem, exit 3
        ["policy", "explain", GITHUB],
        ["policy", "explain", "network", "--threshold", "2"],  # exit 3
        ["policy", "explain", GITHUB, "--format", "json", "--engine", "podman"],
        ["policy", "validate", "stdio", *(CASES + c for c in sorted(os.listdir(REPO / CASES)))],
        ["policy", "validate", "--format", "json", GITHUB, CASES + "wrong-types.json"],
        ["policy", "diff", "stdio", GITHUB],
        ["policy", "diff", "stdio", "none", "--format", "json"],
    ],
)
def test_the_console_script_prints_what_the_click_cli_prints(argv: list[str]) -> None:
    for merged in (False, True):  # separately, and interleaved as a terminal shows them
        assert run([MCP_LOK, *argv], merged=merged) == run([*CLICK, *argv], merged=merged)


def test_an_ascii_terminal_gets_what_click_makes_of_it() -> None:
    # click writes UTF-8 to a stream set up as ASCII; the fast path declines such a stream
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    argv = ["policy", "explain", GITHUB]
    fast = run([MCP_LOK, *argv], env=env)
    assert fast == run([*CLICK, *argv], env=env)
    assert fast[0] == 0
    assert not fast[1].isascii()  # the explanation has non-ASCII text, written as UTF-8


def test_the_console_script_takes_the_fast_path() -> None:
    argv = ["policy", "compile", GITHUB, "--image", "x"]
    fast = run([sys.executable, "-X", "importtime", MCP_LOK, *argv])
    assert fast[0] == 0
    assert json.loads(fast[1])["container"]["Image"] == "x"
    assert not [line for line in fast[2].decode().splitlines() if line.endswith(" click")]
    helped = run([sys.executable, "-X", "importtime", MCP_LOK, *argv, "--help"])
    assert helped[0] == 0
    assert [line for line in helped[2].decode().splitlines() if line.endswith(" click")]


def closed_pipe(command: list[str]) -> tuple[int, bytes]:
    """Exit code and stderr of `command` writing to a pipe nobody reads (`| head -c 0`)."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            command, stdout=write, stderr=subprocess.PIPE, cwd=REPO, timeout=60, check=False
        )
    finally:
        os.close(write)
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["policy", "compile", GITHUB, "--image", "x"],
        ["policy", "validate", "stdio", CASES + "privileged.json"],
    ],
)
def test_a_closed_pipe_ends_quietly_with_exit_1_as_under_click(argv: list[str]) -> None:
    assert closed_pipe([MCP_LOK, *argv]) == closed_pipe([*CLICK, *argv]) == (1, b"")


def full_disk(command: list[str]) -> tuple[int, str]:
    """Exit code and stderr of `command` writing its output to a full device."""
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            command, stdout=full, stderr=subprocess.PIPE, cwd=REPO, timeout=60, check=False
        )
    return done.returncode, done.stderr.decode()


FULL_DISK = (
    "error: cannot write to standard output: No space left on device\n"
    "  = hint: check that the file or device the output goes to has room and takes writes\n"
)


@pytest.mark.parametrize(
    "argv",
    [
        ["policy", "compile", GITHUB, "--image", "x"],  # larger than a write buffer
        ["policy", "validate", "stdio"],  # a few bytes, lost at the flush
        ["policy", "explain", "stdio"],
    ],
)
def test_output_that_cannot_be_written_is_an_error_not_a_traceback(argv: list[str]) -> None:
    # both ways in (the fast path, and click for `-q …`) say what failed, exit 1
    assert full_disk([MCP_LOK, *argv]) == (1, FULL_DISK)
    assert full_disk([MCP_LOK, "-q", *argv]) == (1, FULL_DISK)


@pytest.mark.parametrize("argv", [["version"], ["help"]])
def test_any_command_whose_output_cannot_be_written_says_so_in_one_line(argv: list[str]) -> None:
    assert full_disk([MCP_LOK, *argv]) == (
        1,
        "error: No space left on device\n"
        "  = hint: check that the file or device the output goes to has room and takes writes\n",
    )
