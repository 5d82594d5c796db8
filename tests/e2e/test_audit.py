"""Feature area: CLI — `mcp-lok audit` (features/audit.feature).

Servers are launched with `mcp-lok start`, then tampered with on the real engine through
its API (the docker SDK; Podman's libpod `update` endpoint where the compat API has none),
as someone with access to the engine would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_bdd import parsers, scenarios, then, when

from .conftest import World, mcp_lok
from .engines import PROBE_IMAGE, EngineUnderTest, unique_name

scenarios("audit.feature")

RUNTIME = Path("/run/mcp-lok")
DEFAULT_NETWORK = {"docker": "bridge", "podman": "podman"}
LIMITS = [
    {"Name": "nofile", "Soft": 1024, "Hard": 1024},
    {"Name": "nproc", "Soft": 1024, "Hard": 1024},
]


def run_audit(world: World, *names: str, extra: tuple[str, ...] = ()) -> None:
    engine: EngineUnderTest = world["engine"]
    result = mcp_lok("audit", "--engine", engine.name, "--format", "json", *extra, *names)
    world["result"] = result
    assert result.stdout, result.stderr
    world["audit"] = json.loads(result.stdout)


def servers(world: World) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in world["audit"]["servers"]}


def server_container(world: World) -> str:
    engine: EngineUnderTest = world["engine"]
    return str(engine.inspect(f"mcp-lok-{world['name']}")["Id"])


@when("I audit the servers I started")
def audit_started(world: World, lok_servers: list[str]) -> None:
    run_audit(world, *lok_servers)


@when("I audit the servers I started with `--threshold 3`")
def audit_threshold(world: World, lok_servers: list[str]) -> None:
    run_audit(world, *lok_servers, extra=("--threshold", "3"))


@then("no server drifted and every benchmark check of theirs passes or warns")
def clean(world: World, lok_servers: list[str]) -> None:
    found = servers(world)
    assert sorted(found) == sorted(lok_servers)
    for name, audit in found.items():
        assert audit["recorded"], name
        assert not audit["drifted"], (name, audit["notes"], audit)
        checks = [c for container in audit["containers"] for c in container["checks"]]
        assert len(checks) >= 30, name
        failed = [c for c in checks if c["status"] == "fail"]
        assert failed == [], (name, failed)


@then("each server's exposure score is the one `mcp-lok policy explain` prints for it")
def same_score(world: World, lok_servers: list[str]) -> None:
    engine: EngineUnderTest = world["engine"]
    for name, audit in servers(world).items():
        listed = json.loads(mcp_lok("list", "--all", "--format", "json").stdout)
        row = next(r for r in listed if r["name"] == name)
        explained = mcp_lok(
            "policy", "explain", row["profile"], "--engine", engine.name,
            "--transport", row["transport"], "--format", "json",
        )  # fmt: skip
        assert explained.returncode == 0, explained.stderr
        assert audit["score"] == json.loads(explained.stdout)["score"], name


@then(parsers.parse('the audit names the "{profile}" server as above the threshold'))
def above(world: World, lok_servers: list[str], profile: str) -> None:
    listed = json.loads(mcp_lok("list", "--all", "--format", "json").stdout)
    by_profile = {r["name"] for r in listed if r["name"] in lok_servers and r["profile"] == profile}
    assert set(world["audit"]["exceeded"]) == by_profile, world["audit"]["exceeded"]
    assert world["audit"]["threshold"] == 3


@when("the engine updates the server's memory limit to 256 MiB")
def update_memory(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    engine.update_memory(server_container(world), 256 * 1024 * 1024)


@when("the engine updates the gate's memory limit to 32 MiB")
def update_gate_memory(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    gate = str(engine.inspect(f"mcp-lok-{world['name']}-gate")["Id"])
    engine.update_memory(gate, 32 * 1024 * 1024)


@when("the server is disconnected from its network and connected to the engine's default one")
def reconnect(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    container = server_container(world)
    engine.api.connect_container_to_network(container, DEFAULT_NETWORK[engine.name])
    engine.api.disconnect_container_from_network(container, f"mcp-lok-{world['name']}")


@when("the server's container is recreated under its name with `SYS_ADMIN` added")
def recreate(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    record = json.loads((RUNTIME / world["name"] / "plan.json").read_text())
    body = record["plan"]["container"]
    body["HostConfig"]["CapAdd"] = ["SYS_ADMIN"]
    engine.api.remove_container(server_container(world), force=True)
    new = engine.create(body, record["plan"]["container_name"])
    engine.api.start(new)
    world["recreated"] = new


@when("a container is started by hand with mcp-lok's labels")
def by_hand(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    name = unique_name("e2e-hand")
    body = {
        "Image": PROBE_IMAGE,
        "Cmd": ["sleep", "120"],
        "Labels": {"mcp-lok": "true", "mcp-lok-name": name, "mcp-lok-role": "server"},
        "HostConfig": {"Ulimits": LIMITS},  # Podman's defaults exceed this host's hard limits
    }
    container = engine.create(body, f"mcp-lok-{name}")
    engine.api.start(container)
    world["name"], world["hand"] = name, container


@when("I audit it by its label's name")
def audit_hand(world: World) -> None:
    run_audit(world, world["name"])


def drift_of(world: World, field: str) -> dict[str, Any]:
    found = [d for s in world["audit"]["servers"] for c in s["containers"] for d in c["drift"]]
    matching = [d for d in found if d["field"] == field]
    assert matching, (field, found)
    return matching[0]


@then(
    parsers.parse(
        'the audit reports drift of "{field}" from {before:d} to {after:d} set by "{origin}"'
    )
)
def drift_values(world: World, field: str, before: int, after: int, origin: str) -> None:
    drift = drift_of(world, field)
    assert (drift["expected"], drift["found"], drift["origin"]) == (before, after, origin)
    assert world["audit"]["drifted"] == [world["name"]]


@then(
    parsers.parse('the audit reports drift of the gate\'s "{field}" from {before:d} to {after:d}')
)
def gate_drift(world: World, field: str, before: int, after: int) -> None:
    (audit,) = world["audit"]["servers"]
    (gate,) = [c for c in audit["containers"] if c["role"] == "gate"]
    found = [(d["field"], d["expected"], d["found"]) for d in gate["drift"]]
    assert (field, before, after) in found, found
    (server,) = [c for c in audit["containers"] if c["role"] == "server"]
    assert server["drift"] == []


@then(parsers.parse('the audit reports drift of "{field}" set by "{origin}"'))
def drift_field(world: World, field: str, origin: str) -> None:
    assert drift_of(world, field)["origin"] == origin
    assert world["audit"]["drifted"] == [world["name"]]


def checks(world: World) -> dict[str, str]:
    found = [k for s in world["audit"]["servers"] for c in s["containers"] for k in c["checks"]]
    return {k["id"]: k["status"] for k in found}


@then(parsers.parse('the check "{check}" fails'))
def check_fails(world: World, check: str) -> None:
    assert checks(world)[check] == "fail", checks(world)


@then(parsers.parse('the checks "{ids}" fail'))
def checks_fail(world: World, ids: str) -> None:
    statuses = checks(world)
    assert {i: statuses[i] for i in ids.split(", ")} == dict.fromkeys(ids.split(", "), "fail")


@then("the audit notes that the server container was replaced")
def replaced(world: World) -> None:
    (audit,) = world["audit"]["servers"]
    notes = [n["message"] for n in audit["notes"]]
    assert any("was replaced" in n and world["recreated"][:12] in n for n in notes), notes
    (server,) = [c for c in audit["containers"] if c["role"] == "server"]
    assert server["id"] == world["recreated"]


@then("the audit says mcp-lok did not create it")
def unrecorded(world: World) -> None:
    (audit,) = world["audit"]["servers"]
    assert audit["recorded"] is False
    assert audit["drifted"] is True
    assert [c["id"] for c in audit["containers"]] == [world["hand"]]
    assert any("was not created by mcp-lok" in n["message"] for n in audit["notes"])


@then("its exposure score is above the stdio built-in's")
def worse(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    explained = mcp_lok("policy", "explain", "stdio", "--engine", engine.name, "--format", "json")
    (audit,) = world["audit"]["servers"]
    assert audit["score"] > json.loads(explained.stdout)["score"] + 3, audit["exposure"]
