"""Steps of lifecycle.feature for failures told at once (issue 13): a server that dies
under `run` or `start`, a `start` that times out, `start --no-wait`, and `list` showing an
exited server's exit code. Imported by test_lifecycle.py, where the scenarios run.

The misbehaving servers are real: `mcp-server-time` given an argument it refuses (it
prints its usage on stderr and exits 2), and the base image's Python asleep, which never
answers `initialize` (stdio) nor listens on its port (HTTP).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

from pytest_bdd import parsers, then, when

from .conftest import MCP_LOK, World, image_required, mcp_lok
from .engines import EngineUnderTest, unique_name

ASLEEP = "import sys, time; print('asleep', file=sys.stderr, flush=True); time.sleep(600)"
# what each server in these scenarios runs: image and arguments
SERVERS = {
    "a server that refuses its arguments": ("mcp-lok/mcp-server-time", ["--bogus-flag"]),
    "a stdio server that never answers": ("mcp-lok/base", ["python3", "-c", ASLEEP]),
    "an HTTP server that never answers": ("mcp-lok/base", ["python3", "-c", ASLEEP]),
}
REFUSED = "server: __main__.py: error: unrecognized arguments: --bogus-flag"
WHICH = "(?P<which>" + "|".join(SERVERS) + ")"
OPTIONS = "(?: with `(?P<options>[^`]*)`)?"


def _command(
    world: World, servers: list[str], verb: str, which: str, options: str | None
) -> list[str]:
    engine: EngineUnderTest = world["engine"]
    image, args = SERVERS[which]
    image_required(engine, image)
    name = unique_name("fail")
    servers.append(name)
    world["name"] = name
    transport = ["--transport", "streamable-http"] if which.startswith("an HTTP") else []
    return [verb, "--engine", engine.name, "--name", name, *transport, *(options or "").split(),
            image, "--", *args]  # fmt: skip


@when(parsers.re(f"I run {WHICH} in the foreground{OPTIONS}$"))
def run_failing(world: World, servers: list[str], which: str, options: str | None) -> None:
    command = _command(world, servers, "run", which, options)
    world["process"] = subprocess.Popen(
        [MCP_LOK, *command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@then(parsers.parse("it ends by itself with code {code:d} within {seconds:d} seconds"))
def ends_by_itself(world: World, code: int, seconds: int) -> None:
    process: subprocess.Popen[str] = world["process"]
    try:
        out, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=10)
        raise AssertionError(f"still running after {seconds}s: {err}") from None
    world["result"] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    assert process.returncode == code, err


@when(parsers.re(f"I start {WHICH}{OPTIONS}$"))
def start_failing(world: World, servers: list[str], which: str, options: str | None) -> None:
    command = _command(world, servers, "start", which, options)
    started = time.monotonic()
    world["result"] = subprocess.run(
        [MCP_LOK, *command], capture_output=True, text=True, timeout=120, check=False
    )
    world["took"] = time.monotonic() - started


@then("stderr shows the server's refusal, marked as the server's")
def shows_refusal(world: World) -> None:
    assert REFUSED in world["result"].stderr.splitlines(), world["result"].stderr


@then(parsers.parse("it took less than {seconds:d} seconds"))
def took_less(world: World, seconds: int) -> None:
    assert world["took"] < seconds, world["took"]


def _row(name: str) -> dict[str, Any]:
    result = mcp_lok("list", "--all", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert name in rows, rows
    return dict(rows[name])


@then("its proxy's /health says no `initialize` was answered yet")
def not_initialized(world: World) -> None:
    url = _row(world["name"])["url"].removesuffix("/mcp")
    with urllib.request.urlopen(f"{url}/health", timeout=10) as answer:
        about = json.loads(answer.read())
    assert about["status"] == "ok", about
    assert about["detail"] == "attached; no `initialize` answered yet", about


@then(parsers.parse("`mcp-lok list` shows it exited with code {code:d}, and since when"))
def listed_exited(world: World, code: int) -> None:
    deadline = time.monotonic() + 60
    row = _row(world["name"])
    while row["status"] != "exited" and time.monotonic() < deadline:
        time.sleep(0.5)
        row = _row(world["name"])
    assert (row["status"], row["exit_code"]) == ("exited", code), row
    finished = datetime.fromisoformat(row["finished"][:19]).replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - finished).total_seconds()) < 600, row
    table = mcp_lok("list", "--all")
    [line] = [x for x in table.stdout.splitlines() if x.startswith(f"{world['name']} ")]
    assert f" exited ({code}) " in line, line
    assert " ago " in line, line
