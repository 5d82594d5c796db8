"""Provisioning, teardown and reaping against an in-memory engine (no real engine)."""

from __future__ import annotations

import os
import stat
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from mcp_lok.launcher import creation, launch, planning
from mcp_lok.launcher.creation import fill_secrets, new_state
from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.request import LaunchRequest
from mcp_lok.launcher.state import Phase, ServerState, Store
from mcp_lok.launcher.teardown import look_alikes, reap, teardown
from mcp_lok.policy import Engine, LaunchPlan, PolicyError, Target, canonical_json, compile_plan
from mcp_lok.policy.host import FixedHost
from mcp_lok.policy.origin import Argument

from .fakes import FakeEngine, prepared

IMAGE = "mcp-lok/mcp-server-time"


def plan_for(tmp_path: Path, request: LaunchRequest, engine: Engine = Engine.DOCKER) -> LaunchPlan:
    return prepared(Store(tmp_path), FakeEngine(kind=engine), request).plan


def test_without_env_a_launch_compiles_exactly_what_policy_compile_prints(tmp_path: Path) -> None:
    request = LaunchRequest(IMAGE, "time", profile="network")
    target = Target(image=IMAGE, name="time", runtime_dir=str(tmp_path))
    compiled = planning.compile_request(request, "network", host=FixedHost())
    assert planning.plan(compiled, target) == compile_plan("network", target, host=FixedHost())


def test_env_arguments_become_checked_rules_with_their_origin(tmp_path: Path) -> None:
    request = LaunchRequest(IMAGE, "time", env=("TZ=UTC", "HOME=/data"))
    plan = plan_for(tmp_path, request)
    env = plan.server.body["Env"]
    assert "TZ=UTC" in env
    assert "HOME=/data" in env
    assert "HOME=/tmp" not in env
    origins = [o for k, o in plan.server.trace.items() if k.startswith("Env[")]
    assert Argument("-e") in origins


def test_a_reserved_env_name_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        plan_for(tmp_path, LaunchRequest(IMAGE, "t", env=("HTTP_PROXY=x",)))
    assert [d.code.value for d in caught.value.diagnostics] == ["policy.invalid-env"]


def test_secrets_are_filled_in_from_the_environment_and_files(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    body = {"Image": "x", "Env": ["A=${secret:env:TOKEN}", f"B=${{secret:file:{secret}}}", "C=1"]}
    filled = fill_secrets(body, {"TOKEN": "s3cret"})
    assert filled["Env"] == ["A=s3cret", "B=from-file", "C=1"]
    assert body["Env"][0] == "A=${secret:env:TOKEN}"  # the plan itself is untouched
    with pytest.raises(LokError, match="`TOKEN` is not set") as caught:
        fill_secrets(body, {})
    assert "s3cret" not in str(caught.value)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    chowned: list[tuple[str, int, int]] = []
    monkeypatch.setattr(creation.os, "chown", lambda p, u, g: chowned.append((str(p), u, g)))
    store = Store(tmp_path)
    store.chowned = chowned  # type: ignore[attr-defined]
    return store


class Launched(NamedTuple):
    plan: LaunchPlan
    state: ServerState


def start(store: Store, engine: FakeEngine, request: LaunchRequest) -> Launched:
    """`request` provisioned on `engine` (whose kind it is lowered for)."""
    ready = prepared(store, engine, request)
    return Launched(ready.plan, launch.provision(ready, detached=True))


def test_a_stdio_server_is_created_but_not_started(store: Store) -> None:
    engine = FakeEngine()
    started = start(store, engine, LaunchRequest(IMAGE, "time"))
    assert [c[0] for c in engine.calls] == ["create"]
    saved = store.load("time")
    assert saved is not None
    assert saved.container_id == started.state.container_id
    assert saved.phase == Phase.STARTING.value
    assert saved.launcher_pid == os.getpid()


def test_an_open_network_and_podman_seccomp_are_recorded_and_torn_down(store: Store) -> None:
    engine = FakeEngine(kind=Engine.PODMAN)
    started = start(store, engine, LaunchRequest(IMAGE, "web", profile="network"))
    state = started.state
    assert [n.name for n in state.networks] == ["mcp-lok-web"]
    seccomp = [Path(f) for f in state.files if "/seccomp/" in f]
    assert seccomp
    assert seccomp[0].exists()
    assert stat.S_IMODE(seccomp[0].parent.stat().st_mode) == 0o700
    teardown(engine, store, state)
    assert engine.containers_by_id == {}
    assert engine.networks_by_id == {}
    assert not seccomp[0].exists()
    assert seccomp[0].parent.exists()  # a shared folder stays
    assert store.load("web") is None
    assert not store.folder("web").exists()


def test_a_shared_seccomp_profile_stays_while_another_server_uses_it(store: Store) -> None:
    engine = FakeEngine(kind=Engine.PODMAN)
    one = start(store, engine, LaunchRequest(IMAGE, "one")).state
    two = start(store, engine, LaunchRequest(IMAGE, "two")).state
    shared = next(f for f in one.files if "/seccomp/" in f)
    teardown(engine, store, one)
    assert Path(shared).exists()
    teardown(engine, store, two)
    assert not Path(shared).exists()


def test_a_file_that_was_there_before_the_launch_stays(store: Store) -> None:
    engine = FakeEngine(kind=Engine.PODMAN)
    request = LaunchRequest(IMAGE, "one")
    planned = plan_for(store.root, request, Engine.PODMAN).files
    shared = next(Path(f.path) for f in planned if "/seccomp/" in f.path)
    shared.parent.mkdir(parents=True)
    shared.write_text("someone else's")
    state = start(store, engine, request).state
    teardown(engine, store, state)
    assert shared.exists()


def test_an_http_server_gets_its_gate_first_and_the_gate_dir_is_the_gate_users(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = FakeEngine()
    monkeypatch.setattr(creation, "wait_for_socket", lambda *args: None)
    started = start(store, engine, LaunchRequest(IMAGE, "web", transport="sse"))
    names = [(kind, what) for kind, what in engine.calls if kind == "create"]
    assert names == [("create", "mcp-lok-web-gate"), ("create", "mcp-lok-web")]
    gate_dir = store.folder("web") / "gate"
    assert stat.S_IMODE(gate_dir.stat().st_mode) == 0o700
    assert (str(gate_dir), 65533, 65533) in store.chowned  # type: ignore[attr-defined]
    assert stat.S_IMODE((gate_dir / "gate.json").stat().st_mode) == 0o644
    assert (gate_dir / "gate.json").exists()
    state = started.state
    assert state.gate_id
    assert state.container_id
    assert engine.containers_by_id[state.container_id]["State"] == "running"
    teardown(engine, store, state)
    assert engine.containers_by_id == {}
    assert not store.folder("web").exists()


def test_a_taken_name_is_refused_before_anything_is_created(store: Store) -> None:
    engine = FakeEngine()
    start(store, engine, LaunchRequest(IMAGE, "time"))
    before = dict(engine.containers_by_id)
    with pytest.raises(LokError, match="already exists") as caught:
        start(store, engine, LaunchRequest(IMAGE, "time"))
    assert caught.value.hint
    # its launch is in progress (this process): another name, or stop it
    assert "choose another `--name`" in caught.value.hint
    assert "mcp-lok stop time" in caught.value.hint
    assert engine.containers_by_id == before


def test_a_taken_name_of_a_stopped_server_points_at_restart(store: Store) -> None:
    engine = FakeEngine()
    state = start(store, engine, LaunchRequest(IMAGE, "time")).state
    store.save(replace(state, phase=Phase.STOPPED.value, launcher_pid=None))
    with pytest.raises(LokError, match="already exists") as caught:
        start(store, engine, LaunchRequest(IMAGE, "time"))
    assert caught.value.hint is not None
    assert "bring it back with `mcp-lok restart time`" in caught.value.hint
    assert "`mcp-lok rm time`" in caught.value.hint


def test_a_container_with_the_name_but_no_state_is_refused(store: Store) -> None:
    engine = FakeEngine()
    engine.add_container("mcp-lok-time", {})
    with pytest.raises(LokError, match="container named `mcp-lok-time` already exists"):
        start(store, engine, LaunchRequest(IMAGE, "time"))
    assert store.load("time") is None


LOOKS = {"mcp-lok": "true", "mcp-lok-name": "time", "mcp-lok-role": "server"}


def look_alike_set(engine: FakeEngine) -> set[str]:
    """Containers with `time`'s labels that no launch made: none, a wrong, or the printed
    placeholder nonce, and one made from `policy compile` output by hand."""
    return {
        engine.add_container("x1", LOOKS),
        engine.add_container("x2", {**LOOKS, "mcp-lok-launch": "0" * 32}),
        engine.add_container("x3", {**LOOKS, "mcp-lok-launch": "${launch}"}),
        engine.add_container("mcp-lok-time-s1", {**LOOKS, "mcp-lok-launch": "f" * 31}),
    }


def test_teardown_removes_what_the_launch_made_and_never_a_look_alike(store: Store) -> None:
    engine = FakeEngine()
    state = start(store, engine, LaunchRequest(IMAGE, "time")).state
    assert state.launch is not None
    # created by this launch (a client session's server): its id is recorded nowhere
    session = engine.add_container("mcp-lok-time-sab", {**LOOKS, "mcp-lok-launch": state.launch})
    stray_net = engine.add_network("mcp-lok-time", {**LOOKS, "mcp-lok-launch": state.launch})
    looks = look_alike_set(engine)
    net = engine.add_network("mcp-lok-time", LOOKS)
    unrelated = engine.add_container("web", {})
    assert {c["Id"] for c in look_alikes(engine, store, "time")} == looks
    teardown(engine, store, state)
    assert session not in engine.containers_by_id
    assert stray_net not in engine.networks_by_id
    assert set(engine.containers_by_id) == {*looks, unrelated}
    assert set(engine.networks_by_id) == {net}
    touched = {what for _, what in engine.calls}
    assert not touched & looks


def test_a_look_alike_neither_blocks_a_name_nor_is_touched(store: Store) -> None:
    engine = FakeEngine()
    looks = look_alike_set(engine)
    started = start(store, engine, LaunchRequest(IMAGE, "time"))
    assert started.state.container_id not in looks
    assert looks <= set(engine.containers_by_id)


def test_what_a_launch_created_before_it_could_record_it_is_removed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = FakeEngine()
    monkeypatch.setattr(launch, "undo", lambda *_: None)  # the launcher dies: nothing undone
    create = engine.create_container

    def crash_after_create(name: str, body: dict[str, Any]) -> str:
        create(name, body)  # the engine made it; the launcher died before recording it
        raise KeyboardInterrupt

    engine.create_container = crash_after_create  # type: ignore[method-assign]
    looks = look_alike_set(engine)
    with pytest.raises(KeyboardInterrupt):
        start(store, engine, LaunchRequest(IMAGE, "time"))
    state = store.load("time")
    assert state is not None
    assert state.container_id is None
    assert state.launch is not None
    store.save(state.__class__(**{**state.__dict__, "launcher_pid": 2**22 + 1}))
    assert reap(engine, store) == ["time"]
    assert set(engine.containers_by_id) == looks


def test_a_plan_without_a_launch_nonce_is_not_launched(store: Store) -> None:
    request = LaunchRequest(IMAGE, "time")
    compiled = planning.compile_request(request, "stdio")
    plan = planning.plan(compiled, Target(image=IMAGE, name="time"))
    with pytest.raises(LokError, match="no launch nonce"):
        new_state(request, plan, FakeEngine(), store, source="stdio", detached=True)


def test_reap_removes_a_launch_whose_launcher_died(store: Store) -> None:
    engine = FakeEngine()
    state = start(store, engine, LaunchRequest(IMAGE, "time")).state
    store.save(state.__class__(**{**state.__dict__, "launcher_pid": 2**22 + 1}))
    assert reap(engine, store) == ["time"]
    assert engine.containers_by_id == {}
    assert store.load("time") is None


def test_reap_leaves_a_launch_in_progress_alone(store: Store) -> None:
    engine = FakeEngine()
    start(store, engine, LaunchRequest(IMAGE, "time"))
    assert reap(engine, store) == []
    assert len(engine.containers_by_id) == 1


def test_reap_never_removes_what_no_launch_recorded(store: Store) -> None:
    engine = FakeEngine()
    now = time.time()
    labels = {"mcp-lok": "true", "mcp-lok-name": "a"}
    old = engine.add_container("mcp-lok-a", labels, now - 600, "exited")
    net = engine.add_network("mcp-lok-a", labels)
    assert reap(engine, store) == []
    assert old in engine.containers_by_id
    assert net in engine.networks_by_id
    assert engine.calls == []


def test_a_concurrent_launch_is_not_taken_for_a_look_alike(store: Store) -> None:
    engine = FakeEngine()
    # another process launches `web` while the engine lists: its state (and nonce) is
    # written first, then its container is created
    listed = engine.containers

    def containers_after_a_launch(labels: dict[str, str]) -> list[dict[str, Any]]:
        if not engine.containers_by_id:
            request = LaunchRequest(IMAGE, "web")
            plan = plan_for(store.root, request)
            store.save(new_state(request, plan, engine, store, source="stdio", detached=False))
            engine.create_container("mcp-lok-web", dict(plan.server.body))
        return listed(labels)

    engine.containers = containers_after_a_launch  # type: ignore[method-assign]
    assert look_alikes(engine, store) == []
    assert len(engine.containers_by_id) == 1


def test_provisioning_that_fails_half_way_is_undone(store: Store) -> None:
    engine = FakeEngine()

    def broken(name: str, body: dict[str, Any]) -> str:
        raise LokError("boom")

    engine.create_container = broken  # type: ignore[method-assign]
    with pytest.raises(LokError, match="boom"):
        start(store, engine, LaunchRequest(IMAGE, "web", profile="network"))
    assert ("network", "mcp-lok-web") in engine.calls  # created before the failure
    assert engine.networks_by_id == {}  # and removed again
    assert store.load("web") is None


def test_the_payload_sent_is_the_plan_with_only_secrets_filled(store: Store) -> None:
    engine = FakeEngine()
    sent: list[dict[str, Any]] = []
    original = engine.create_container

    def record(name: str, body: dict[str, Any]) -> str:
        sent.append(body)
        return original(name, body)

    engine.create_container = record  # type: ignore[method-assign]
    started = start(store, engine, LaunchRequest(IMAGE, "time"))
    assert canonical_json(sent[0]) == canonical_json(started.plan.server.body)


def test_everything_a_launch_writes_is_private_whatever_the_umask(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a launch with the most files: Podman's seccomp profiles, an allow-list (resolv.conf,
    # the gate's folder, its config and egress rules), a mask folder, an HTTP transport
    policy = store.root.parent / "policy.lok"
    policy.write_text("allow example.com port 443\ndeny path /etc/secret\n")
    monkeypatch.setattr(creation, "wait_for_socket", lambda *args: None)
    old = os.umask(0)
    try:
        engine = FakeEngine(kind=Engine.PODMAN)
        request = LaunchRequest(IMAGE, "web", transport="sse", profile=str(policy))
        started = start(store, engine, request)
        with store.lock():
            pass
    finally:
        os.umask(old)
    planned = {Path(f.path): f.mode for f in started.plan.files}
    assert Path(store.root / "empty") in planned  # the mask folder is the plan's
    seen = {store.root: stat.S_IMODE(store.root.stat().st_mode)}
    for path in store.root.rglob("*"):
        seen[path] = stat.S_IMODE(path.lstat().st_mode)
    expected = {path: planned.get(path, 0o700 if path.is_dir() else 0o600) for path in seen}
    assert seen == expected
    # what the plan leaves readable (a container reads it) sits in a 0700 folder
    for path, mode in planned.items():
        if mode & 0o044:
            assert any(seen.get(p) == 0o700 for p in path.parents), path
    names = {p.name for p in seen}
    assert {"state.json", "proxy.log", ".launcher.lock", "plan.json"} <= names
    assert seen[store.folder("web") / "state.json"] == 0o600
    assert seen[store.folder("web") / "proxy.log"] == 0o600
