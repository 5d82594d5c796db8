"""Feature area: MCP protocol — the official MCP conformance suite through the proxy
(features/conformance.feature), on real Docker and Podman.

The suite (`@modelcontextprotocol/conformance`, Node >= 22) is installed pinned under
build/conformance by scripts/install-conformance.sh, which `make test` runs and the
fixture below runs again (a no-op when done); the MCP Inspector comes with it
(features/inspector.feature). The server is mcp-lok's conformance server
image, started with `--no-auth`: the suite sends no headers of its own. Each run writes
the suite's own result files (one `checks.json` per scenario) into a folder of the test's,
and the verdict is read from them: a scenario passed if none of its checks failed.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from .conftest import World, lok_start, proxy_url
from .test_abandoned import session_containers

scenarios("conformance.feature")

pytestmark = pytest.mark.timeout(2700)  # a safety net: every run below has its own bound

ROOT = Path(__file__).resolve().parents[2]
SERVER = "mcp-lok/conformance-server"
MODES = {
    "shared": (),
    # a short idle timeout, so the sessions the suite leaves open go soon after each run;
    # few sessions at once, so the least recently used idle one is closed for a new one
    "per-session": (
        "--session-mode", "per-session", "--max-sessions", "4", "--session-idle-timeout", "10",
    ),
    "forwarding": ("--transport", "streamable-http"),
}  # fmt: skip
RUN_TIMEOUT = {"shared": 180, "forwarding": 180, "per-session": 600}  # seconds, per run
# Warnings the suite may give (not failures): in forwarding mode the server's own SDK
# answers the SSE polling probe, which announces protocol 2025-03-26 in its header, and
# the SDK sends a priming event and `retry` only to clients of 2025-11-25 or later. The
# proxy's own streams (shared, per-session) send both, so there no warning is allowed.
KNOWN_WARNINGS = {
    "forwarding": {
        ("server-sse-polling", "server-sse-priming-event"),
        ("server-sse-polling", "server-sse-retry-field"),
    }
}
RESULT_FOLDER = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


@functools.cache
def installed_node_tools() -> tuple[str, str, str]:
    """The Node, the suite's CLI and the MCP Inspector's, installed (or found installed)
    under build/ by one script, once a test session."""
    install = [str(ROOT / "scripts" / "install-conformance.sh"), "--print"]
    done = subprocess.run(install, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"installing the conformance suite failed:\n{done.stderr}"
    node, suite, inspector = done.stdout.split()
    return node, suite, inspector


@pytest.fixture(scope="session")
def conformance() -> tuple[str, str]:
    """The Node and the suite's CLI."""
    node, suite, _ = installed_node_tools()
    return node, suite


def scenario_list(conformance: tuple[str, str]) -> list[str]:
    """The server scenarios, as the suite itself lists them."""
    listed = subprocess.run(
        [*conformance, "list", "--server"], capture_output=True, text=True, timeout=60, check=True
    )
    names = re.findall(r"^\s+- (\S+)", listed.stdout, flags=re.MULTILINE)
    assert len(names) >= 30, listed.stdout
    return names


@given(parsers.parse("`mcp-lok start` runs the conformance server in {mode} mode, without a token"))
def start_conformance_server(world: World, lok_servers: list[str], mode: str) -> None:
    lok_start(world, lok_servers, SERVER, "--no-auth", *MODES[mode])
    world["mode"] = mode


def run_suite(conformance: tuple[str, str], url: str, out: Path, timeout: int) -> int:
    """One run of every server scenario (`--suite all`) against `url`; the exit code (-1:
    killed after `timeout` seconds)."""
    command = [*conformance, "server", "--suite", "all", "--url", url, "--output-dir", str(out)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return -1  # the scenarios it did not finish have no result, and are named so
    (out / "suite.log").write_text(done.stdout + done.stderr)
    return done.returncode


def checks_by_scenario(out: Path) -> dict[str, list[dict[str, Any]]]:
    """The checks the suite wrote for each scenario of one run."""
    found = {}
    for path in sorted(out.glob("*/checks.json")):
        match = RESULT_FOLDER.match(path.parent.name)
        assert match, path
        found[match["scenario"]] = json.loads(path.read_text())
    return found


@when(
    parsers.parse(
        "the conformance suite runs all its server scenarios against the proxy {runs:d} times"
    )
)
def run_repeatedly(world: World, conformance: tuple[str, str], tmp_path: Path, runs: int) -> None:
    world["scenarios"] = scenario_list(conformance)
    world["runs"] = []
    for n in range(1, runs + 1):
        out = tmp_path / f"run-{n}"
        out.mkdir()
        started = time.monotonic()
        code = run_suite(conformance, proxy_url(world, "/mcp"), out, RUN_TIMEOUT[world["mode"]])
        world["runs"].append((n, code, checks_by_scenario(out), time.monotonic() - started))


def problems(world: World, checks: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Scenario -> what went wrong in one run: a missing result, failed or unknown checks."""
    allowed = KNOWN_WARNINGS.get(world["mode"], set())
    wrong: dict[str, list[str]] = {}
    for scenario in world["scenarios"]:
        if scenario not in checks:
            wrong[scenario] = ["no result"]
            continue
        for check in checks[scenario]:
            status = check.get("status")
            if status == "FAILURE" or (
                status == "WARNING" and (scenario, check.get("id")) not in allowed
            ):
                wrong.setdefault(scenario, []).append(
                    f"{check.get('id')} {status}: {check.get('errorMessage', '')}"[:300]
                )
    return wrong


@then("every scenario of the suite passed in every run")
def all_passed(world: World) -> None:
    report = []
    for n, code, checks, seconds in world["runs"]:
        wrong = problems(world, checks)
        if wrong or code != 0:
            details = "; ".join(f"{s}: {' | '.join(w)}" for s, w in wrong.items())
            report.append(
                f"run {n} ({seconds:.0f} s, exit {code}): {len(wrong)} of "
                f"{len(world['scenarios'])} scenarios failed: {', '.join(wrong)} — {details}"
            )
    assert not report, "\n".join(report)
    assert len(world["runs"]) > 0


@then(
    parsers.parse("the engine holds no session container for the server within {seconds:d} seconds")
)
def no_session_container(world: World, seconds: int) -> None:
    deadline = time.monotonic() + seconds
    while session_containers(world):
        assert time.monotonic() < deadline, f"still there: {session_containers(world)}"
        time.sleep(0.5)
