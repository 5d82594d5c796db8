"""`collect` over an in-memory engine that answers with recorded inspect output."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mcp_lok.launcher.audit import collect, inside, proc
from mcp_lok.launcher.audit.collect import audit
from mcp_lok.launcher.audit.report import ServerAudit
from mcp_lok.launcher.state import NetworkRef, ServerState, Store
from mcp_lok.policy import Engine
from mcp_lok.policy.host import FixedHost, HostPath, PathKind

from .conftest import load

# the recorded servers' host paths are another machine's: here they lead to themselves
HOST = FixedHost()


@dataclass
class RecordedEngine:
    kind: Engine
    url: str = "unix:///fake.sock"
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    nets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, inspect: dict[str, Any]) -> None:
        self.by_id[inspect["Id"]] = inspect

    def inspect(self, ref: str) -> dict[str, Any] | None:
        return next((c for c in self.by_id.values() if ref in (c["Id"], c["Name"][1:])), None)

    def containers(self, labels: dict[str, str]) -> list[dict[str, Any]]:
        found = [c for c in self.by_id.values() if c["Config"]["Labels"].get("mcp-lok") == "true"]
        return [{"Id": c["Id"], "Labels": c["Config"]["Labels"]} for c in found]

    def image_config(self, image: str) -> dict[str, Any] | None:
        return self.images.get(image)

    def inspect_network(self, name: str) -> dict[str, Any] | None:
        return self.nets.get(name)


def launched(tmp_path: Path, case: str) -> tuple[RecordedEngine, Store, dict[str, Any]]:
    """The recorded server `case`, as a state and a record under `tmp_path`."""
    data = load(case)
    engine = RecordedEngine(Engine(data["engine"]))
    store = Store(tmp_path)
    record = data["record"]
    name = record["plan"]["name"]
    record["plan"]["files"] = []  # the recorded host's files are not here
    engine.add(data["server"])
    engine.images[data["server"]["Image"]] = data["image"]
    networks = []
    for body in record["plan"]["networks"]:
        engine.nets[body["Name"]] = {"Id": "n1", "Internal": False, "Labels": body["Labels"]}
        networks.append(NetworkRef(body["Name"], "n1"))
    if data["gate"] is not None:
        engine.add(data["gate"])
        engine.images[data["gate"]["Image"]] = data["gate_image"]
    state = ServerState(
        name=name, engine=data["engine"], engine_url=engine.url, transport="stdio",
        image="img", profile="stdio", policy_digest=record["plan"]["policy_digest"],
        created="2026-01-01T00:00:00+00:00", log_path="", phase="running",
        container_name=record["plan"]["container_name"], container_id=data["server"]["Id"],
        gate_id=data["gate"]["Id"] if data["gate"] else None,
        gate_name=record["plan"]["gate"]["container_name"] if data["gate"] else None,
        networks=networks,
    )  # fmt: skip
    store.save(state)
    Path(store.layout(name).record).write_text(json.dumps(record))
    return engine, store, data


@pytest.mark.parametrize("case", ["docker-http", "podman-http", "docker-net", "podman-std"])
def test_an_untampered_server_has_no_drift(tmp_path: Path, case: str) -> None:
    engine, store, _ = launched(tmp_path, case)
    (found,) = audit(engine, store, None, HOST)  # type: ignore[arg-type]
    assert found.recorded
    assert found.compared
    assert not found.drifted, (found.notes, found.drift)
    assert [c.role for c in found.containers] == (
        ["server", "gate"] if case.endswith("http") else ["server"]
    )
    assert found.failed == []


def test_a_container_recreated_under_the_servers_name_is_noted_and_compared(tmp_path: Path) -> None:
    engine, store, data = launched(tmp_path, "docker-std")
    server = engine.by_id.pop(data["server"]["Id"])
    server["Id"] = "f" * 64
    server["HostConfig"]["CapAdd"] = ["SYS_ADMIN"]
    engine.add(server)
    (found,) = audit(engine, store, None, HOST)  # type: ignore[arg-type]
    assert any("was replaced" in n.message for n in found.notes)
    assert [d.field for d in found.drift] == ["HostConfig.Capabilities[SYS_ADMIN]"]
    assert "capability" in {r.kind for r in found.rows}


def test_a_labelled_container_no_launch_recorded_is_reported(tmp_path: Path) -> None:
    engine, store, data = launched(tmp_path, "docker-std")
    stray = json.loads(json.dumps(data["server"]))
    stray["Id"], stray["Name"] = "e" * 64, "/by-hand"
    stray["Config"]["Labels"]["mcp-lok-name"] = data["record"]["plan"]["name"]
    engine.add(stray)
    found = audit(engine, store, [data["record"]["plan"]["name"]])  # type: ignore[arg-type]
    assert [a.recorded for a in found] == [True, False]
    assert "under the name of the server" in found[1].notes[0].message
    assert found[1].drifted
    assert audit(engine, store, ["other"], HOST) == []  # type: ignore[arg-type]


def test_what_is_gone_or_changed_around_the_containers_is_noted(tmp_path: Path) -> None:
    engine, store, data = launched(tmp_path, "docker-http")
    name = data["record"]["plan"]["name"]
    record = json.loads(Path(store.layout(name).record).read_text())
    planned = tmp_path / "planned.conf"
    planned.write_text("changed\n")
    record["plan"]["files"] = [
        {"path": str(planned), "content": "original\n", "directory": False},
        {"path": str(tmp_path / "gone"), "content": "", "directory": False},
        {"path": str(tmp_path), "content": "", "directory": True},
    ]
    Path(store.layout(name).record).write_text(json.dumps(record))
    del engine.by_id[data["gate"]["Id"]]
    (found,) = audit(engine, store, None, HOST)  # type: ignore[arg-type]
    messages = " | ".join(n.message for n in found.notes)
    assert "was changed since launch" in messages
    assert "`" + str(tmp_path / "gone") + "` is gone" in messages
    assert "the gate container" in messages


def test_networks_must_still_be_the_planned_ones(tmp_path: Path) -> None:
    engine, store, _data = launched(tmp_path, "docker-net")
    (network,) = engine.nets.values()
    network.update(Id="n2", Internal=True, Labels={})
    (found,) = audit(engine, store, None, HOST)  # type: ignore[arg-type]
    messages = " | ".join(n.message for n in found.notes)
    assert "was recreated" in messages
    assert "`Internal` True" in messages
    assert "lacks the label `mcp-lok=true`" in messages
    engine.nets.clear()
    (found,) = audit(engine, store, None, HOST)  # type: ignore[arg-type]
    assert any("is gone" in n.message for n in found.notes)


def test_a_server_without_a_record_gets_the_benchmark_checks_only(tmp_path: Path) -> None:
    engine, store, data = launched(tmp_path, "podman-std")
    name = data["record"]["plan"]["name"]
    Path(store.layout(name).record).unlink()
    (found,) = audit(engine, store, None, HOST)  # type: ignore[arg-type]
    assert not found.drifted
    assert not found.compared
    assert found.notes[0].message.startswith("no launch record")
    assert found.containers[0].checks
    data["record"]["plan"]["policy_digest"] = "0" * 64
    Path(store.layout(name).record).write_text(json.dumps(data["record"]))
    (found,) = audit(engine, store, None, HOST)  # type: ignore[arg-type]
    assert "does not belong to this launch" in found.notes[0].message
    Path(store.layout(name).record).write_text('{"version": 1, "plan": {}, "trace": {}}')
    (found,) = audit(engine, store, None, HOST)  # type: ignore[arg-type]
    assert "damaged" in found.notes[0].message
    Path(store.layout(name).record).write_text("[]")
    (found,) = audit(engine, store, None, HOST)  # type: ignore[arg-type]
    assert "damaged" in found.notes[0].message


def test_a_server_on_another_engine_is_left_out(tmp_path: Path) -> None:
    engine, store, _ = launched(tmp_path, "docker-std")
    engine.url = "unix:///other.sock"
    engine.by_id.clear()
    assert audit(engine, store, None, HOST) == []  # type: ignore[arg-type]


def test_a_server_being_launched_is_not_judged_yet(tmp_path: Path) -> None:
    engine, store, data = launched(tmp_path, "docker-std")
    name = data["record"]["plan"]["name"]
    state = store.load(name)
    assert state is not None
    state.phase = "starting"
    store.save(state)
    engine.by_id.clear()
    (found,) = audit(engine, store, None, HOST)  # type: ignore[arg-type]
    assert not found.drifted
    assert found.containers == []
    assert "in progress" in found.notes[0].message
    engine.add(data["server"])  # created, its id recorded: not a stray either
    assert [a.name for a in audit(engine, store, None, HOST)] == [name]  # type: ignore[arg-type]


def test_a_mount_is_judged_where_its_source_leads_on_the_host_now(tmp_path: Path) -> None:
    engine, store, _ = launched(tmp_path, "docker-http")
    # the planned `/tmp/w6data` was swapped for a link to the engine's socket since
    swapped = HostPath("/tmp/w6data", "/run/docker.sock", PathKind.SOCKET)
    (found,) = audit(engine, store, None, FixedHost({"/tmp/w6data": swapped}))  # type: ignore[arg-type]
    assert found.drifted
    assert (
        "the host path `/tmp/w6data` mounted at `/tmp/w6data` now leads to `/run/docker.sock`: "
        "it changed since the plan was made"
    ) in [n.message for n in found.notes]
    failed = {c.id: c.finding for c in found.failed}
    assert (
        failed["CIS 5.32"]
        == "mounts `/tmp/w6data`, which leads to `/run/docker.sock`, a Unix socket"
    )
    assert "engine-socket" in {r.kind for r in found.rows}
    for kind, change in (
        (PathKind.MISSING, "no longer exists on the host"),
        (PathKind.UNRESOLVABLE, "can no longer be resolved on the host"),
    ):
        gone = HostPath("/tmp/w6data", "/tmp/w6data", kind)
        (found,) = audit(engine, store, None, FixedHost({"/tmp/w6data": gone}))  # type: ignore[arg-type]
        assert any(change in n.message for n in found.notes)


def test_an_unrecorded_container_s_mounts_are_judged_where_they_lead(tmp_path: Path) -> None:
    engine, store, data = launched(tmp_path, "docker-std")
    stray = json.loads(json.dumps(data["server"]))
    stray["Id"], stray["Name"] = "e" * 64, "/stray"
    stray["Mounts"].append({"Type": "bind", "Source": "/tmp/l", "Destination": "/x", "RW": False})
    engine.add(stray)
    host = FixedHost({"/tmp/l": HostPath("/tmp/l", "/", PathKind.DIRECTORY)})
    found = {a.recorded: a for a in audit(engine, store, None, host)}  # type: ignore[arg-type]
    loose = found[False]
    assert {c.id: c.finding for c in loose.failed}[
        "CIS 5.6"
    ] == "mounts `/tmp/l`, which leads to `/`"
    assert "sensitive-read" in {r.kind for r in loose.rows}


# --- inside the containers: their mount tables and mcp-lok's files ---------------------------

INSIDE = Path(__file__).parent / "data" / "inside"


def inside_case(
    monkeypatch: pytest.MonkeyPatch, extra: str = "", seen: dict[str, bytes] | None = None
) -> dict[str, Any]:
    """The captured Docker allow-list server, read from a fake /proc."""
    data: dict[str, Any] = json.loads((INSIDE / "docker-allow.json").read_text())
    plan = data["plan"]
    files = {k: v.encode() for k, v in inside.planned_files(plan, "server").items()}
    monkeypatch.setattr(proc, "mount_table", lambda pid: data["mountinfo"]["server"] + extra)
    monkeypatch.setattr(
        proc,
        "host_locator",
        lambda: inside.locator(inside.parse((INSIDE / "host-mountinfo.txt").read_text())),
    )
    monkeypatch.setattr(proc, "files", lambda pid, paths: {**files, **(seen or {})})
    return plan


def test_a_container_exactly_as_planned_has_no_drift_inside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = inside_case(monkeypatch)
    result = ServerAudit("x", "docker", recorded=True)
    assert collect._inside(result, "server", {"State": {"Pid": 7}}, plan, {}) == []
    assert result.notes == []


def test_mounts_and_files_that_differ_inside_are_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    line = "999 104 0:99 / /mnt/x rw,relatime - tmpfs tmpfs rw\n"
    plan = inside_case(monkeypatch, line, {"/etc/hosts": b"10.0.0.1 db\n"})
    table = {"HostConfig.Mounts[/etc/hosts]": "default (baseline)"}
    result = ServerAudit("x", "docker", recorded=True)
    mount, hosts = collect._inside(result, "server", {"State": {"Pid": 7}}, plan, table)
    assert (mount.container, mount.field, mount.kind, mount.origin) == (
        "server",
        "mountinfo[/mnt/x]",
        "unexpected",
        "default (engine)",
    )
    assert (hosts.field, hosts.kind, hosts.origin) == (
        "file[/etc/hosts]",
        "changed",
        "default (baseline)",
    )
    assert "10.0.0.1" not in json.dumps(hosts.to_json())


def test_a_changed_planned_mount_names_its_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = inside_case(monkeypatch)
    data: dict[str, Any] = json.loads((INSIDE / "docker-allow.json").read_text())
    tampered = data["mountinfo"]["server"].replace("/tmp rw,", "/tmp ro,")
    monkeypatch.setattr(proc, "mount_table", lambda pid: tampered)
    table = {"HostConfig.Tmpfs[/tmp]": "default (baseline)"}
    result = ServerAudit("x", "docker", recorded=True)
    [tmp] = collect._inside(result, "server", {"State": {"Pid": 7}}, plan, table)
    assert (tmp.field, tmp.kind, tmp.origin) == ("mountinfo[/tmp]", "changed", "default (baseline)")


def test_an_older_plan_or_an_unreadable_table_is_a_note_not_drift(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = inside_case(monkeypatch)
    result = ServerAudit("x", "docker", recorded=True)
    older = {k: v for k, v in plan.items() if k != "engine_mounts"}
    assert collect._inside(result, "server", {"State": {"Pid": 7}}, older, {}) == []
    monkeypatch.setattr(proc, "mount_table", lambda pid: None)
    assert collect._inside(result, "gate", {"State": {}}, plan, {}) == []
    assert [(n.drift, n.message.split(":")[0]) for n in result.notes] == [
        (False, "its plan does not name the engine's own mounts (launched by an older mcp-lok)"),
        (False, "the gate's mount table cannot be read from this host"),
    ]


def test_a_launch_in_progress_owns_only_what_carries_its_nonce(tmp_path: Path) -> None:
    engine, store, data = launched(tmp_path, "docker-std")
    name = data["record"]["plan"]["name"]
    state = store.load(name)
    assert state is not None
    state.phase, state.container_id, state.launch = "starting", None, "a" * 32
    store.save(state)
    engine.by_id.clear()
    ours = json.loads(json.dumps(data["server"]))  # created, its id not recorded yet
    ours["Config"]["Labels"]["mcp-lok-launch"] = "a" * 32
    engine.add(ours)
    assert [a.name for a in audit(engine, store, None, HOST)] == [name]  # type: ignore[arg-type]
    # the server's name, a wrong nonce: mcp-lok's labels alone make nothing mcp-lok's
    for nonce in ("b" * 32, "${launch}", None):
        look = json.loads(json.dumps(data["server"]))
        look["Id"], look["Name"] = "e" * 64, "/by-hand"
        look["Config"]["Labels"].pop("mcp-lok-launch", None)
        if nonce is not None:
            look["Config"]["Labels"]["mcp-lok-launch"] = nonce
        engine.add(look)
        found = audit(engine, store, None, HOST)  # type: ignore[arg-type]
        assert [(a.name, a.recorded) for a in found] == [(name, True), (name, False)]
        assert "was not created by mcp-lok" in found[1].notes[0].message
        assert found[1].drifted
