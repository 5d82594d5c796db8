"""The escape matrix's restart scenario (`test_escape.py` runs it): an allow-listed stdio
server started with `--restart on-failure:1` fails once (`probe.py --rounds`, told to by a
file the test writes into its write mount) and must come back inside the same gate — the
same network namespace, the same DNS, listeners and proxy, the same host-side relay — with
the allowed destination working again and everything else still refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from pytest_bdd import parsers, then, when

from .conftest import MCP_LOK, PROBE, World, image_required, mcp_lok
from .engines import PROBE_IMAGE, EngineUnderTest, unique_name
from .escape_support import failed, ok

LINGER = 150  # seconds each round of the probe waits for the test's order, at most


@when(parsers.parse("`mcp-lok start --restart {policy}` runs the prober under it"))
def start_prober(world: World, lok_servers: list[str], policy: str) -> None:
    engine: EngineUnderTest = world["engine"]
    image_required(engine, PROBE_IMAGE)
    name = unique_name("e2e-rst")
    lok_servers.append(name)  # before starting: a half-done start is cleaned up too
    world["name"] = name
    spec = {
        "out": "/out",
        "allowed": world["names"]["allowed"],
        "service_address": world["service"],
        "linger": LINGER,
    }
    command = [MCP_LOK, "start", "--no-wait", "--format", "json", "--engine", engine.name,
               "--name", name,
               "--restart", policy, "--permission-profile", world["source"], PROBE_IMAGE,
               "--", "python3", "-c", PROBE, "--rounds", json.dumps(spec)]  # fmt: skip
    environ = dict(os.environ, MCP_LOK_TEST_RESOLVE=world["resolve"])
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=environ
    )
    assert result.returncode == 0, result.stderr
    state = _state(name)
    world["server_id"], world["gate_id"] = state["container_id"], state["gate_id"]
    assert world["server_id"], state
    assert world["gate_id"], state
    world["gate_started"] = engine.inspect(world["gate_id"])["State"]["StartedAt"]


@when("the server's process exits with code 1")
def order_failure(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    (_out(world) / "fail").write_text("fail")
    end = time.monotonic() + 30
    while True:  # the engine records the failure; the proxy sees the stream end
        seen = engine.inspect(world["server_id"])["State"]
        if seen["ExitCode"] == 1 or _round(world, 2, wait=0) is not None:
            break
        assert time.monotonic() < end, seen
        time.sleep(0.2)


@then(parsers.parse("its round {number:d} reaches the allowed destination through the gate"))
def round_allowed(world: World, number: int) -> None:
    found = _round(world, number, wait=60)
    assert found is not None, f"no round {number} in 60 s; log:\n{_logs(world)}"
    world[f"round-{number}"] = found
    assert found["interfaces"] == ["lo"], found["interfaces"]
    assert "nameserver 127.0.0.53" in found["resolv"], found["resolv"]
    address = ok(found["resolve_allowed"])
    assert address.startswith("127."), address
    assert address not in ("127.0.0.1", "127.0.0.53"), address
    assert ok(found["by_proxy"]) == "stand-in on 80\n"
    assert ok(found["by_connect"]) == "HTTP/1.1 200 Connection established | echo: hello\n"
    assert ok(found["plain_tcp"]) == "stand-in on 80\n"
    assert ok(found["non_http"]) == "echo: hello\n"


@then(parsers.parse("its round {number:d} is refused everything else"))
def round_refused(world: World, number: int) -> None:
    found: dict[str, Any] = world[f"round-{number}"]
    failed(found["resolve_arbitrary"])
    result = found["not_allowed_host_proxy"]
    assert result[0] == "error", result
    assert "403" in result[1], result
    failed(found["not_allowed_address"], forbidding="stand-in")
    assert "Network is unreachable" in found["not_allowed_address"][1], found
    failed(found["not_allowed_port"], forbidding="stand-in")
    assert ok(found["not_allowed_port_proxy"]).startswith("HTTP/1.1 403")


@then("mcp-lok started the same container again, in the same running gate's namespace")
def same_gate(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    server = engine.inspect(world["server_id"])["State"]
    assert server["Running"] is True, server
    gate = engine.inspect(world["gate_id"])["State"]
    assert gate["Running"] is True, gate
    assert gate["StartedAt"] == world["gate_started"], gate  # never stopped in between
    # the server's namespace, before and after, is the one the gate's process lives in
    gate_netns = os.readlink(f"/proc/{gate['Pid']}/ns/net")
    assert world["round-1"]["netns"] == world["round-2"]["netns"] == gate_netns, (
        world["round-1"]["netns"],
        world["round-2"]["netns"],
        gate_netns,
    )
    logs = _logs(world)
    assert "exit code 1; restart 1 of 1" in logs, logs
    assert "started the server again" in logs, logs
    # both rounds went out through the host-side relay: four allowed connections each
    relayed = [line for line in logs.splitlines() if f"allowed to {world['service']}" in line]
    assert len(relayed) >= 8, logs
    assert _state(world["name"])["proxy_pid"], "the proxy (and its egress relay) is gone"


@when("its gate is stopped, and then the server's process exits with code 1")
def stop_gate_then_fail(world: World) -> None:
    """The gate this scenario's server got, stopped by its id (as a crash or an operator
    would): the server keeps running, with no way out, until it fails."""
    engine: EngineUnderTest = world["engine"]
    engine.api.stop(world["gate_id"], timeout=10)
    assert engine.inspect(world["gate_id"])["State"]["Running"] is False
    order_failure(world)


@then("mcp-lok started its gate again, then the same container, in the gate's new namespace")
def gate_back(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    server = engine.inspect(world["server_id"])["State"]
    assert server["Running"] is True, server
    gate = engine.inspect(world["gate_id"])["State"]
    assert gate["Running"] is True, gate
    assert gate["StartedAt"] != world["gate_started"], gate  # the same gate, started again
    gate_netns = os.readlink(f"/proc/{gate['Pid']}/ns/net")
    # the restarted server lives in the restarted gate's namespace (its number may be the
    # old one's: the kernel reuses the numbers of namespaces that are gone)
    assert world["round-2"]["netns"] == gate_netns, (world["round-2"]["netns"], gate_netns)
    logs = _logs(world)
    assert "its gate had stopped; starting it again" in logs, logs
    assert "exit code 1; restart 1 of 1" in logs, logs
    assert "started the server again" in logs, logs


def _out(world: World) -> Path:
    return Path(world["folders"]["out"])


def _round(world: World, number: int, *, wait: float) -> dict[str, Any] | None:
    path = _out(world) / f"round-{number}.json"
    end = time.monotonic() + wait
    while not path.exists():
        if time.monotonic() >= end:
            return None
        time.sleep(0.3)
    found: dict[str, Any] = json.loads(path.read_text())
    return found


def _state(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(Path(f"/run/mcp-lok/{name}/state.json").read_text())
    return found


def _logs(world: World) -> str:
    return mcp_lok("logs", world["name"]).stdout
