"""Feature area: MCP protocol — the official MCP Inspector's CLI through the proxy
(features/inspector.feature), on real Docker and Podman.

The Inspector (`@modelcontextprotocol/inspector`, its `--cli` mode) is installed pinned
under build/conformance with the conformance suite and its Node, by the same script. Each
call runs three ways: the Inspector launching the conformance server itself over stdio
with a plain engine run of the same image, and through the proxy of one `mcp-lok start`
(shared by every call of a scenario) over `/mcp` and over `/sse`. The direct run's answer
is the reference the proxied ones must equal.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from .conftest import World, lok_start, proxy_url
from .engines import EngineUnderTest, unique_name
from .test_conformance import ROOT, SERVER, installed_node_tools

scenarios("inspector.feature")

pytestmark = pytest.mark.timeout(600)  # a safety net: every call below has its own bound

CALL_TIMEOUT = 60  # seconds one Inspector call may take (a direct one starts a container)
WAYS = ("direct", "/mcp", "/sse")
CALLS_AT_ONCE = 3
# Node's cache of compiled modules: each call is a new Node, which would otherwise compile
# the Inspector's bundle again (a fifth of the CPU time a call takes)
COMPILE_CACHE = {"NODE_COMPILE_CACHE": str(ROOT / "build" / "conformance" / ".compile-cache")}
# The limits mcp-lok's baseline sets too: Podman's defaults exceed the hard limits of some
# hosts, where a plain `podman run` fails with "error setting rlimit"; the same on both
# engines, so both direct runs are alike. Nothing the server answers depends on them.
LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


@dataclass(frozen=True)
class Answer:
    """What one Inspector call gave: its exit code, its stdout (parsed when it is JSON)."""

    code: int
    out: Any
    err: str


@pytest.fixture
def direct_label(engines: dict[str, EngineUnderTest]) -> Iterator[str]:
    """The label every direct run's container carries; whatever still carries it at the
    end (`--rm` removes each one as its run ends) is removed by id."""
    label = f"mcp-lok-e2e={unique_name('inspector')}"
    yield label
    for engine in engines.values():
        for found in engine.api.containers(all=True, filters={"label": label}):
            with contextlib.suppress(docker.errors.NotFound):  # `--rm` got there first
                engine.api.remove_container(found["Id"], force=True)


@given("`mcp-lok start` runs the conformance server, with its token")
def start_with_token(world: World, lok_servers: list[str]) -> None:
    lok_start(world, lok_servers, SERVER)  # private by default: the proxy wants the token


def inspect(command: list[str]) -> Answer:
    """One Inspector CLI run, bounded; on timeout its whole process group (the Inspector
    and, for a direct call, the engine's client it started) is killed."""
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | COMPILE_CACHE,
        start_new_session=True,
    ) as process:
        try:
            out, err = process.communicate(timeout=CALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            raise AssertionError(
                f"no answer in {CALL_TIMEOUT} s: {shlex.join(command)}\n{err[-2000:]}"
            ) from None
    try:
        parsed = json.loads(out)
    except json.JSONDecodeError:
        parsed = out  # kept as text, so a difference still shows
    return Answer(process.returncode, parsed, err)


def targets(world: World, label: str) -> dict[str, list[str]]:
    """How the Inspector reaches the server, each way: its transport options and target."""
    engine: EngineUnderTest = world["engine"]
    token = world["started"]["token"]
    assert token, world["started"]
    header = ("--header", f"Authorization: Bearer {token}")
    run = [engine.name, "run", "-i", "--rm", "--label", label, *LIMITS, SERVER]
    return {
        "direct": ["--transport", "stdio", "--", *run],
        "/mcp": ["--transport", "http", *header, "--", proxy_url(world, "/mcp")],
        "/sse": ["--transport", "sse", *header, "--", proxy_url(world, "/sse")],
    }


@when(
    "the Inspector CLI makes each of these calls directly, through the proxy's /mcp and "
    "through its /sse:"
)
def make_calls(world: World, direct_label: str, datatable: list[list[str]]) -> None:
    node, _, inspector = installed_node_tools()
    reach = targets(world, direct_label)
    world["label"] = direct_label
    world["calls"] = []
    header, *rows = datatable
    assert header == ["method", "options", "answer"], header
    assert {expected for *_, expected in rows} <= {"result", "tool error"}, rows
    calls = [
        (["--method", method, *shlex.split(options)], expected)
        for method, options, expected in rows
    ]
    # a few calls at once, each its own client session: the direct ones wait on a container
    with concurrent.futures.ThreadPoolExecutor(CALLS_AT_ONCE) as pool:
        running = [
            {
                way: pool.submit(inspect, [node, inspector, "--cli", *call, *reach[way]])
                for way in WAYS
            }
            for call, _ in calls
        ]
        for (call, expected), futures in zip(calls, running, strict=True):
            answers = {way: future.result() for way, future in futures.items()}
            world["calls"].append((shlex.join(call), expected, answers))


@then("every direct call gave its answer")
def direct_answers(world: World) -> None:
    """A result: exit 0 and a JSON object that is no tool error; a tool error: the tool's
    result with `isError` set, and the Inspector's non-zero exit for it."""
    wrong = []
    for call, expected, answers in world["calls"]:
        answer: Answer = answers["direct"]
        is_object = isinstance(answer.out, dict) and bool(answer.out)
        if expected == "tool error":
            good = is_object and answer.out.get("isError") is True and answer.code != 0
        else:
            good = is_object and answer.out.get("isError") is not True and answer.code == 0
        if not good:
            wrong.append(f"{call}: exit {answer.code}, {answer.out!r:.300}\n{answer.err[-500:]}")
    assert not wrong, "\n".join(wrong)
    assert len(world["calls"]) > 0


@then("every call through /mcp and through /sse answered exactly as the direct one")
def proxied_answers_match(world: World) -> None:
    """Equal exit codes and equal JSON. Nothing is normalised: the Inspector prints only
    the result of each call, which holds no session id, transport detail or time, so
    nothing in it may legitimately differ between stdio and the proxy."""
    wrong = []
    for call, _, answers in world["calls"]:
        direct: Answer = answers["direct"]
        for way in WAYS[1:]:
            proxied: Answer = answers[way]
            if (proxied.code, proxied.out) != (direct.code, direct.out):
                wrong.append(
                    f"{call} through {way}: exit {proxied.code}, {proxied.out!r:.500}\n"
                    f"  directly: exit {direct.code}, {direct.out!r:.500}\n{proxied.err[-500:]}"
                )
    assert not wrong, "\n".join(wrong)


@then(parsers.parse("the engine holds no container of the direct runs within {seconds:d} seconds"))
def no_direct_container(world: World, seconds: int) -> None:
    engine: EngineUnderTest = world["engine"]
    label = {"label": world["label"]}
    deadline = time.monotonic() + seconds
    while left := engine.api.containers(all=True, filters=label):
        assert time.monotonic() < deadline, f"still there: {[c['Id'][:12] for c in left]}"
        time.sleep(0.5)
