"""Feature area: permissions and isolation — what runs is exactly what was compiled
(features/exactness.feature).

Servers are launched with `mcp-lok start`; their launch record (`plan.json` in the server's
runtime folder) is the plan. Inspect is compared with it through `audit`'s own
normalisation (`launcher/audit/normalise.py`, `drift.compare`), and the inside of each
container — its mount table and mcp-lok's files, read from the host through the process —
through `audit`'s own comparison (`launcher/audit/inside.py`, `proc.py`): one judgement for
the product and its tests."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from pytest_bdd import given, parsers, scenarios, then, when

from mcp_lok.launcher.audit import drift, inside, normalise, proc
from mcp_lok.policy.lower.plan import LAUNCH_LABEL, LAUNCH_PLACEHOLDER

from .conftest import World, lok_list, lok_start, mcp_lok
from .engines import EngineUnderTest

scenarios("exactness.feature")

RUNTIME = Path("/run/mcp-lok")
OWN = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run/.containerenv")
RUNNING_WAIT = 30.0  # seconds for a detached stdio server's container to be started


def plan_of(world: World) -> dict[str, Any]:
    record = json.loads((RUNTIME / world["name"] / "plan.json").read_text())
    plan: dict[str, Any] = record["plan"]
    return plan


def roles(plan: dict[str, Any]) -> list[str]:
    return ["server", "gate"] if plan["gate"] else ["server"]


def body_of(plan: dict[str, Any], role: str) -> dict[str, Any]:
    body: dict[str, Any] = plan["container"] if role == "server" else plan["gate"]["container"]
    return body


def running(world: World, role: str) -> dict[str, Any]:
    """Inspect of the `role` container, once it runs (a detached stdio server's container
    is started by its proxy, right after `start` returns)."""
    engine: EngineUnderTest = world["engine"]
    plan = plan_of(world)
    name = plan["container_name"] if role == "server" else plan["gate"]["container_name"]
    deadline = time.monotonic() + RUNNING_WAIT
    while True:
        seen = engine.inspect(name)
        if seen["State"]["Running"] and seen["State"]["Pid"] > 0:
            return seen
        assert time.monotonic() < deadline, f"{name} is not running: {seen['State']}"
        time.sleep(0.2)


@given(parsers.parse('`mcp-lok start` runs "{image}" under that policy file'))
def lok_start_file(world: World, lok_servers: list[str], image: str) -> None:
    lok_start(world, lok_servers, image, "--permission-profile", world["source"])


@then("the launch record is what `mcp-lok policy compile` prints for the same arguments")
def record_is_compiled(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    plan, row = plan_of(world), lok_list()[world["name"]]
    compiled = mcp_lok(
        "policy", "compile", row["profile"], "--image", row["image"], "--engine", engine.name,
        "--name", world["name"], "--transport", row["transport"],
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stderr
    # the one value a launch fills in: its nonce, where `policy compile` prints `${launch}`
    launch = plan["container"]["Labels"][LAUNCH_LABEL]
    filled = compiled.stdout.replace(json.dumps(LAUNCH_PLACEHOLDER), json.dumps(launch))
    assert json.loads(filled) == plan
    assert set(plan["engine_mounts"]) == set(roles(plan))


@then("inspect reports every field the plan sets, for the server and its gate")
def inspect_matches(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    plan = plan_of(world)
    seen = {role: running(world, role) for role in roles(plan)}
    names = {seen["gate"]["Id"]: plan["gate"]["container_name"]} if "gate" in seen else {}
    for role, inspect in seen.items():
        body = body_of(plan, role)
        image = engine.api.inspect_image(inspect["Image"])["Config"]
        expected = normalise.plan_view(body, engine.name)
        observed = normalise.inspect_view(inspect, engine.name, image=image, names=names)
        assert drift.compare(expected, observed, {}, role) == [], role
        compared = set(expected.fields) - expected.unreported - observed.unreported
        assert compared <= set(observed.fields), role
        # the fields this issue added to every plan are among those compared
        assert {"HostConfig.ShmSize", "HostConfig.Mounts[/etc/hosts]"} <= compared, role
        if engine.name == "docker":  # Docker echoes the create body's mounts, options and all
            echoed = [{"ReadOnly": False, **m} for m in inspect["HostConfig"]["Mounts"]]
            assert echoed == body["HostConfig"]["Mounts"], role  # (it omits `ReadOnly: false`)


@then("the mount tables of the server and its gate hold exactly the plan's mounts")
def mount_tables_match(world: World) -> None:
    plan = plan_of(world)
    locate = proc.host_locator()
    assert locate is not None
    for role in roles(plan):
        pid = int(running(world, role)["State"]["Pid"])
        table = proc.mount_table(pid)
        assert table is not None, role
        mounts = inside.parse(table)
        assert len(mounts) >= 20, (role, table)  # the whole table, not an empty read
        wanted = inside.expected(plan, role)
        found = inside.compare_mounts(mounts, wanted, locate)
        assert found == [], (role, [d.describe() for d in found])
        # every mount mcp-lok binds comes from where the plan says (checked, not skipped)
        binds = [w for w in wanted if w.source is not None]
        assert all(locate(w.source) is not None for w in binds if w.source), role


@then(
    "`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` and `/run/.containerenv` inside hold "
    "the plan's files"
)
def files_match(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    plan = plan_of(world)
    for role in roles(plan):
        pid = int(running(world, role)["State"]["Pid"])
        planned = inside.planned_files(plan, role)
        named = {m["target"] for m in plan["engine_mounts"][role]}
        for path in OWN:
            podman_only = path == "/run/.containerenv" and engine.name == "docker"
            # Podman's own resolv.conf on a bridge: named among its engine mounts instead
            assert (path in planned) or podman_only or path in named, (role, path)
        assert planned["/etc/hostname"] == f"{plan['name']}\n"
        found = inside.compare_files(planned, proc.files(pid, planned))
        assert found == [], (role, [d.describe() for d in found])


@then(
    "nothing of the host's names or nameservers is inside unless the plan names the engine's "
    "resolver"
)
def nothing_of_the_host(world: World) -> None:
    plan = plan_of(world)
    host_resolvers = [
        line.split()[1]
        for line in Path("/etc/resolv.conf").read_text().splitlines()
        if line.startswith("nameserver ")
    ]
    for role in roles(plan):
        pid = int(running(world, role)["State"]["Pid"])
        hosts = (proc.read(pid, "/etc/hosts") or b"").decode()
        # only the loopback lines: not the host's names, nor Podman's `host.containers.internal`
        assert hosts == "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        assert socket.gethostname() not in hosts.split()
        resolv = (proc.read(pid, "/etc/resolv.conf") or b"").decode()
        engines_own = "/etc/resolv.conf" in {m["target"] for m in plan["engine_mounts"][role]}
        if not engines_own:
            assert not any(f"nameserver {r}" in resolv for r in host_resolvers), (role, resolv)


@when("a tmpfs is mounted on the server's `/mnt` behind mcp-lok's back")
def mount_behind(world: World) -> None:
    pid = int(running(world, "server")["State"]["Pid"])
    nsenter(pid, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", "/mnt")


@when("the server's `/etc/hostname` is bound over its `/etc/hosts` behind mcp-lok's back")
def bind_behind(world: World) -> None:
    pid = int(running(world, "server")["State"]["Pid"])
    nsenter(pid, "mount", "--bind", "/etc/hostname", "/etc/hosts")


def nsenter(pid: int, *command: str) -> None:
    """Run `command` in the mount namespace of process `pid`, as someone with root on the
    host would (with the host's binaries: the container's image may lack `mount`)."""
    done = subprocess.run(
        ["nsenter", "-t", str(pid), "-m", *command],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@when("I audit that server")
def audit_it(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    result = mcp_lok("audit", "--engine", engine.name, "--format", "json", world["name"])
    world["result"] = result
    assert result.stdout, result.stderr
    world["audit"] = json.loads(result.stdout)


def drifts(world: World) -> dict[tuple[str, str], dict[str, Any]]:
    [server] = world["audit"]["servers"]
    assert server["drifted"], server
    return {(c["role"], d["field"]): d for c in server["containers"] for d in c["drift"]}


@then(parsers.parse('the audit reports the server\'s "{field}" as a mount the plan does not name'))
def reports_mount(world: World, field: str) -> None:
    found = drifts(world)[("server", field)]
    assert (found["kind"], found["origin"]) == ("unexpected", drift.ENGINE_DEFAULT), found
    assert "which the plan does not set" in found["description"], found


@then(parsers.parse("the audit reports the server's \"{field}\" as not the plan's content"))
def reports_file(world: World, field: str) -> None:
    found = drifts(world)[("server", field)]
    assert found["kind"] == "changed", found
    assert str(found["expected"]).startswith("sha256:"), found
    assert found["origin"] == "default (baseline)", found
