"""The console script in real processes: what a `policy` command loads, and how a command
ends when its output cannot be written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MCP_LOK = str(Path(sys.executable).parent / "mcp-lok")  # the console script: console:main
GITHUB = "examples/github.lok"
CASES = "tests/cases/diagnostics/"
HEAVY = ("docker", "requests", "aiohttp", "mcp")  # the engine adapter's, the proxy's, the SDK's
LOADED = f"""
import atexit, json, sys
def report():
    heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
    print(json.dumps(heavy), file=sys.stderr)
atexit.register(report)
from mcp_lok.launcher.cli import main
sys.argv[0] = "mcp-lok"
main()
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["policy", "compile", GITHUB, "--image", "x", "-e", "A=B", "--", "serve"],
        ["policy", "explain", "network", "--format", "json"],
        ["policy", "validate", "stdio", GITHUB],
        ["policy", "diff", "stdio", GITHUB],
        ["policy", "compile", "--help"],
    ],
)
def test_a_policy_command_loads_neither_the_engine_adapter_nor_the_proxy(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.splitlines()[-1]) == []


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
def test_a_closed_pipe_ends_quietly_with_exit_1(argv: list[str]) -> None:
    assert closed_pipe([MCP_LOK, *argv]) == (1, b"")


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
        ["policy", "validate", "stdio"],  # a few bytes
        ["-q", "policy", "explain", "stdio"],
        ["version"],
        ["help"],
    ],
)
def test_output_that_cannot_be_written_is_an_error_not_a_traceback(argv: list[str]) -> None:
    assert full_disk([MCP_LOK, *argv]) == (1, FULL_DISK)


def test_click_s_own_help_on_a_full_disk_says_so_in_one_line() -> None:
    assert full_disk([MCP_LOK, "--help"]) == (
        1,
        "error: No space left on device\n"
        "  = hint: check that the file or device the output goes to has room and takes writes\n",
    )


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["policy", "compile", "stdio", "--image", "x"], 0),
        (["policy", "compile", "nope.lok", "--image", "x"], 2),  # only the SOURCE is missing
        (["policy", "compile", CASES + "misspelt-keywords.lok", "--image", "x"], 3),
        (["policy", "explain", "network", "--threshold", "2"], 3),
        (["policy", "explain", "network", "--threshold", "nan"], 2),
        (["policy", "validate", "nope.lok"], 2),
        (["policy", "validate", "nope.lok", CASES + "privileged.json"], 3),
        (["start", "--restart", "always", "img"], 2),
        (["nosuch"], 2),
    ],
)
def test_exit_codes(argv: list[str], code: int) -> None:
    done = subprocess.run([MCP_LOK, *argv], capture_output=True, cwd=REPO, timeout=60, check=False)
    assert done.returncode == code, done.stderr


def test_the_runtime_folder_is_the_default_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    from mcp_lok.launcher import paths, planning
    from mcp_lok.policy.layout import RUNTIME_ROOT

    monkeypatch.setattr(paths.os, "geteuid", lambda: 0)
    assert planning.runtime_dir() == RUNTIME_ROOT
    monkeypatch.setattr(paths.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000/")
    assert planning.runtime_dir() == "/run/user/1000/mcp-lok"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert planning.runtime_dir() == RUNTIME_ROOT


def test_ctrl_c_while_the_cli_is_still_loading_ends_as_aborted_exit_1() -> None:
    # the SIGINT lands while Python imports click, before any command's own handling
    code = """
import builtins, os, signal
real = builtins.__import__
def interrupted(name, *args, **kwargs):
    if name == "click":
        os.kill(os.getpid(), signal.SIGINT)
    return real(name, *args, **kwargs)
builtins.__import__ = interrupted
from mcp_lok.launcher.console import main
main()
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stderr) == (1, "aborted\n"), done.stderr
