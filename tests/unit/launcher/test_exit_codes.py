"""README's table of exit codes, command by command: each command with each class of error
it can meet (1 an operational failure, 2 usage, 3 a rejection) ends with that code and
says what was wrong. No engine: the unit fakes stand in for one where a command asks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher import state
from mcp_lok.launcher.cli import FAILURE, OK, REJECTED, USAGE, cli
from mcp_lok.launcher.errors import LokError

from .audit.test_collect import launched
from .fakes import FakeEngine

PRIVILEGED = "tests/cases/diagnostics/privileged.json"  # rejected: privileged, no marker
IMAGE = "mcp-lok/mcp-server-time"  # on the fake engine
RECORDED = "{recorded}"  # the recorded server's name (world `recorded`)
BUILT_INS = "built-in: `stdio`, `none`, `network`"
ANY_ENGINE = "none"


def _no_engine(tmp_path: Path) -> Callable[..., Any]:
    def discover(choice: str | None = None) -> Any:
        raise LokError("no container engine answers; tried /nowhere")

    return discover


def _fake(tmp_path: Path) -> Callable[..., Any]:
    found = FakeEngine()
    return lambda choice=None: found


def _recorded(tmp_path: Path) -> Callable[..., Any]:
    found, _store, _data = launched(tmp_path / "run", "docker-std")
    _data["server"]["State"]["Pid"] = 0  # its limits are inspect's, not a host process's
    return lambda choice=None: found


# the engine a command finds: none answers, an empty fake, one holding a recorded server
WORLDS = {"none": _no_engine, "fake": _fake, "recorded": _recorded}

# (command line, world, exit code, what its output says: each of these)
CASES: list[tuple[list[str], str, int, tuple[str, ...]]] = [
    # run
    (["run", "--restart", "always", IMAGE], ANY_ENGINE, USAGE, ("`always`", "'--restart'")),
    (["run", "--engine", "bogus", IMAGE], ANY_ENGINE, USAGE, ("`bogus` is not an engine",)),
    (["run", "--name", "Bad!", IMAGE], ANY_ENGINE, USAGE, ("'--name'", "`Bad!` is not a valid")),
    (["run", "--port", "70000", IMAGE], ANY_ENGINE, USAGE, ("'--port'", "70000")),
    (["run", "-e", "NOVALUE", IMAGE], ANY_ENGINE, USAGE, ("`NOVALUE` is not KEY=VALUE",)),
    (["run"], ANY_ENGINE, USAGE, ("Missing argument 'IMAGE'",)),
    (
        ["run", "--permission-profile", "nosuch", IMAGE],
        "fake",
        USAGE,
        ("`nosuch` is neither", BUILT_INS, "1 error in the command line"),
    ),
    (["run", IMAGE], "none", FAILURE, ("no container engine answers",)),
    # the policy is judged before an engine is asked: its problem, engine or not
    (
        ["run", "--permission-profile", PRIVILEGED, IMAGE],
        "none",
        REJECTED,
        ("policy.insecure-required", "1 error: policy rejected"),
    ),
    (
        ["run", "--permission-profile", "nosuch", IMAGE],
        "none",
        USAGE,
        ("`nosuch` is neither", "1 error in the command line"),
    ),
    (["run", "mcp-lok/unknown"], "fake", FAILURE, ("`mcp-lok/unknown` is not on docker",)),
    (
        ["run", "--permission-profile", PRIVILEGED, IMAGE],
        "fake",
        REJECTED,
        ("policy.insecure-required", "1 error: policy rejected"),
    ),
    # start
    (["start", "--restart", "always", IMAGE], ANY_ENGINE, USAGE, ("`always`", "'--restart'")),
    (["start", "--engine", "tcp://h:1", IMAGE], ANY_ENGINE, USAGE, ("`tcp://h:1` is not an",)),
    (["start", "--name", "../x", IMAGE], ANY_ENGINE, USAGE, ("'--name'", "`../x` is not a")),
    (["start", "--format", "yaml", IMAGE], ANY_ENGINE, USAGE, ("'yaml' is not one of",)),
    (["start", IMAGE], "none", FAILURE, ("no container engine answers",)),
    (
        ["start", "--permission-profile", PRIVILEGED, IMAGE],
        "none",
        REJECTED,
        ("policy.insecure-required", "policy rejected"),
    ),
    (
        ["start", "--permission-profile", PRIVILEGED, IMAGE],
        "fake",
        REJECTED,
        ("policy.insecure-required", "policy rejected"),
    ),
    # stop, rm, logs, inspect, restart: a NAME
    *[
        row
        for command in ("stop", "rm", "logs", "inspect", "restart")
        for row in [
            ([command, "Bad!"], ANY_ENGINE, USAGE, ("`Bad!` is not a valid server name",)),
            ([command], ANY_ENGINE, USAGE, ("Missing argument 'NAME'",)),
            ([command, "ghost"], "fake", FAILURE, ("no server named `ghost`",)),
        ]
    ],
    # a NAME is acted on where it was started: an `--engine` naming another is refused
    *[
        (
            [*command, RECORDED, "--engine", other],
            "recorded",
            USAGE,
            ("'--engine'", "was started on docker (unix:///fake.sock), not on", "name no engine"),
        )
        for command in (["stop"], ["rm"], ["logs"], ["inspect"], ["audit"], ["restart"])
        for other in ("podman", "unix:///elsewhere.sock")
    ],
    (["rm", "x", "--engine", "bogus"], ANY_ENGINE, USAGE, ("`bogus` is not an engine",)),
    (["inspect", "x", "--format", "yaml"], ANY_ENGINE, USAGE, ("'yaml' is not one of",)),
    (["restart", "x", "--format", "yaml"], ANY_ENGINE, USAGE, ("'yaml' is not one of",)),
    (["restart", RECORDED], "recorded", FAILURE, ("does not answer", "mcp-lok restart")),
    # list
    (["list", "--format", "yaml"], ANY_ENGINE, USAGE, ("'yaml' is not one of",)),
    (["list", "x"], ANY_ENGINE, USAGE, ("unexpected extra argument (x)",)),
    (["list"], "none", FAILURE, ("no container engine answers",)),  # none: no truthful list
    # audit
    (["audit"], ANY_ENGINE, USAGE, ("name the servers to audit, or pass `--all`",)),
    (["audit", "--all", "x"], ANY_ENGINE, USAGE, ("`--all` audits every server", "`x`")),
    (["audit", "Bad!"], ANY_ENGINE, USAGE, ("`Bad!` is not a valid server name",)),
    (["audit", "--all", "--engine", "bogus"], ANY_ENGINE, USAGE, ("`bogus` is not an engine",)),
    (["audit", "--all", "--threshold", "11"], ANY_ENGINE, USAGE, ("`11` is not a number",)),
    (["audit", "--all"], "none", FAILURE, ("no container engine answers",)),
    (["audit", "ghost"], "fake", FAILURE, ("no server named `ghost` on docker",)),
    (["audit", "ghost"], "none", FAILURE, ("no container engine answers",)),
    (["audit", RECORDED, "--threshold", "0"], "recorded", REJECTED, ("exposure above 0",)),
    # version
    (["version", "--engine", "bogus"], ANY_ENGINE, USAGE, ("'--engine'", "`bogus` is not an")),
    (["version", "--format", "yaml"], ANY_ENGINE, USAGE, ("'yaml' is not one of",)),
    (["version"], "none", OK, ("mcp-lok ",)),  # no engine: still answers, for itself
    (["version", "--engine", "podman"], "none", FAILURE, ("mcp-lok ", "no container engine")),
    # policy compile
    (
        ["policy", "compile", "nosuch", "--image", "x"],
        ANY_ENGINE,
        USAGE,
        ("`nosuch` is neither", BUILT_INS, "1 error in the command line"),
    ),
    (["policy", "compile", "stdio"], ANY_ENGINE, USAGE, ("Missing option '--image'",)),
    (
        ["policy", "compile", "stdio", "--image", "x", "--name", "Bad!"],
        ANY_ENGINE,
        USAGE,
        ("'--name'", "`Bad!` is not a valid server name"),
    ),
    (
        ["policy", "compile", "stdio", "--image", "x", "--target-port", "0"],
        ANY_ENGINE,
        USAGE,
        ("'--target-port'", "port `0` is outside 1–65535"),
    ),
    (
        ["policy", "compile", "stdio", "--image", "x", "--engine", "bogus"],
        ANY_ENGINE,
        USAGE,
        ("'bogus' is not one of",),
    ),
    (
        ["policy", "compile", PRIVILEGED, "--image", "x"],
        ANY_ENGINE,
        REJECTED,
        ("policy.insecure-required", "1 error: policy rejected"),
    ),
    # policy explain
    (
        ["policy", "explain", "nope.lok"],
        ANY_ENGINE,
        USAGE,
        ("`nope.lok` does not exist", BUILT_INS, "1 error in the command line"),
    ),
    (["policy", "explain", "stdio", "--image", ""], ANY_ENGINE, USAGE, ("'--image'", "``")),
    (["policy", "explain", "stdio", "--threshold", "nan"], ANY_ENGINE, USAGE, ("`nan` is not",)),
    (["policy", "explain", PRIVILEGED], ANY_ENGINE, REJECTED, ("policy rejected",)),
    (
        ["policy", "explain", "network", "--threshold", "2"],
        ANY_ENGINE,
        REJECTED,
        ("is above the threshold 2.0",),
    ),
    # policy validate
    (
        ["policy", "validate", "nosuch"],
        ANY_ENGINE,
        USAGE,
        ("`nosuch` is neither", BUILT_INS, "nosuch: not checked (1 error)"),
    ),
    (
        ["policy", "validate", "nosuch", "nope.lok", "stdio"],
        ANY_ENGINE,
        USAGE,
        ("nosuch: not checked", "nope.lok: not checked", "stdio: ok"),
    ),
    (["policy", "validate"], ANY_ENGINE, USAGE, ("Missing argument 'SOURCES...'",)),
    (
        ["policy", "validate", "nosuch", PRIVILEGED],
        ANY_ENGINE,
        REJECTED,
        ("nosuch: not checked", f"{PRIVILEGED}: rejected (1 error)"),
    ),
    (
        ["policy", "validate", "tests/cases/diagnostics/extends-other-kind.lok"],
        ANY_ENGINE,
        REJECTED,  # a SOURCE's `extends` that names no policy: the policy's error
        ("`/etc/shadow` is neither", "rejected (1 error)"),
    ),
    # policy diff
    (
        ["policy", "diff", "stdio", "nosuch"],
        ANY_ENGINE,
        USAGE,
        ("`nosuch` is neither", "1 error in the command line"),
    ),
    (["policy", "diff", "stdio"], ANY_ENGINE, USAGE, ("Missing argument 'B'",)),
    (["policy", "diff", "stdio", PRIVILEGED], ANY_ENGINE, REJECTED, ("policy rejected",)),
    (["policy", "nosuch"], ANY_ENGINE, USAGE, ("No such command 'nosuch'",)),
    # client (its files: tests/unit/launcher/test_clients.py)
    (["client", "setup", "Bad!"], ANY_ENGINE, USAGE, ("`Bad!` is not a valid server name",)),
    (["client", "setup", "x", "--client", "vim"], ANY_ENGINE, USAGE, ("'--client'", "'vim'")),
    (["client", "setup", "nosuch"], ANY_ENGINE, FAILURE, ("no server named `nosuch`",)),
    (["client", "list", "--format", "xml"], ANY_ENGINE, USAGE, ("'--format'", "'xml'")),
    (["client", "rm"], ANY_ENGINE, USAGE, ("Missing argument 'NAME'",)),
    (["client", "nosuch"], ANY_ENGINE, USAGE, ("No such command 'nosuch'",)),
    # build, images, base (and run/start with a package spec)
    (["build", "uvx://foo;id"], ANY_ENGINE, USAGE, ("no package spec has: `;`", "hint:")),
    (["build", "mcp-lok/x"], ANY_ENGINE, USAGE, ("`mcp-lok/x` is not a package spec",)),
    (["build", "npx://x"], ANY_ENGINE, USAGE, ("`npx://` packages are not built yet",)),
    (["build", "uvx://foo"], ANY_ENGINE, FAILURE, ("no container engine answers",)),
    (["build", "--engine", "bogus", "uvx://foo"], ANY_ENGINE, USAGE, ("`bogus`",)),
    (["run", "uvx://foo@>=1"], ANY_ENGINE, USAGE, ("'IMAGE'", "no package spec has")),
    (["run", "--entrypoint", "x", IMAGE], ANY_ENGINE, USAGE, ("'--entrypoint'", "`uvx://")),
    (["start", "--refresh", IMAGE], ANY_ENGINE, USAGE, ("'--refresh'", "only a `uvx://`")),
    (
        ["policy", "compile", "stdio", "--image", "uvx://foo"],
        ANY_ENGINE,
        USAGE,
        ("is a package, not an image", "mcp-lok build"),
    ),
    (["images"], ANY_ENGINE, FAILURE, ("no container engine answers",)),
    (["images", "--format", "xml"], ANY_ENGINE, USAGE, ("'--format'",)),
    (["images", "rm"], ANY_ENGINE, USAGE, ("Missing argument",)),
    (["images", "rm", "uvx://a|b"], ANY_ENGINE, USAGE, ("no package spec has: `|`",)),
    (["images", "rm", "uvx://foo"], "fake", FAILURE, ("this engine cannot build images",)),
    (["base", "build"], ANY_ENGINE, FAILURE, ("no container engine answers",)),
    (["base", "nosuch"], ANY_ENGINE, USAGE, ("No such command 'nosuch'",)),
    # mcp, help, and no such command
    (["mcp", "extra"], ANY_ENGINE, USAGE, ("unexpected extra argument (extra)",)),
    (["help", "nosuch"], ANY_ENGINE, USAGE, ("no such command `nosuch`",)),
    (["nosuch"], ANY_ENGINE, USAGE, ("No such command 'nosuch'",)),
]


@pytest.mark.parametrize(
    ("argv", "world", "code", "says"), CASES, ids=[" ".join(c[0]) or "-" for c in CASES]
)
def test_every_command_ends_with_its_class_s_exit_code_and_says_what_was_wrong(
    argv: list[str],
    world: str,
    code: int,
    says: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state, "default_root", lambda: tmp_path / "run")
    discover = WORLDS[world](tmp_path)
    monkeypatch.setattr(adapter, "discover", discover)
    if world == "recorded":
        (name,) = state.Store().names()
        argv = [name if word == RECORDED else word for word in argv]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == code, result.output
    for text in says:
        assert text in result.output, result.output
    if code in (USAGE, FAILURE) and world == ANY_ENGINE:
        assert "policy rejected" not in result.output


def test_every_command_is_walked() -> None:
    """A command added to the CLI gets rows here."""
    from mcp_lok.launcher.cli import COMMANDS

    walked = {argv[0] for argv, *_ in CASES} | {
        f"policy {argv[1]}" for argv, *_ in CASES if argv[0] == "policy"
    }
    public = {c for c in COMMANDS if not c.startswith("_")} - {"policy"}
    policy = {f"policy {c}" for c in ("compile", "explain", "validate", "diff")}
    assert public | policy | {"mcp", "help"} <= walked
