from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_lok.launcher.audit.record import load, parse, render
from mcp_lok.policy import Engine, Target, Transport, compile_plan
from mcp_lok.policy.host import FixedHost


def test_a_record_holds_the_plan_and_every_containers_trace(tmp_path: Path) -> None:
    target = Target(image="img", name="srv", engine=Engine.PODMAN, transport=Transport.SSE)
    plan = compile_plan("network", target, host=FixedHost())
    text = render(plan)
    assert text == render(plan)  # deterministic
    (tmp_path / "plan.json").write_text(text)
    record = load(tmp_path / "plan.json")
    assert record is not None
    assert record.plan == json.loads(plan.to_json())
    assert record.trace["server"]["HostConfig.NetworkMode"] == "default (network)"
    assert record.trace["gate"]["HostConfig.Tmpfs[/tmp]"] == "default (podman)"
    assert record.body("gate") == plan.gate.container.body if plan.gate else False
    assert record.container_name("server") == "mcp-lok-srv"
    assert record.container_name("gate") == "mcp-lok-srv-gate"
    assert record.egress is False


def test_a_stdio_record_has_no_gate(tmp_path: Path) -> None:
    record = parse(render(compile_plan("stdio", Target(image="img", name="srv"), host=FixedHost())))
    assert record.body("gate") is None
    assert record.container_name("gate") is None
    assert set(record.trace) == {"server"}
    assert load(tmp_path / "plan.json") is None


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        '{"version": 99}',
        '{"version": 1, "plan": {}, "trace": {}}',
        '{"version": 1, "plan": {"container": {}, "container_name": "x", "networks": [],'
        ' "files": []}, "trace": {}}',
    ],
)
def test_a_foreign_record_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="launch record"):
        parse(text)


def test_a_launch_keeps_its_record_private_and_rm_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_lok.launcher import creation, launch
    from mcp_lok.launcher.request import LaunchRequest
    from mcp_lok.launcher.state import Store
    from mcp_lok.launcher.teardown import teardown
    from tests.unit.launcher.fakes import FakeEngine, prepared

    monkeypatch.setattr(creation.os, "chown", lambda *_: None)
    monkeypatch.setattr(creation, "wait_for_socket", lambda *_: None)
    store, engine = Store(tmp_path), FakeEngine()
    request = LaunchRequest("img", "srv", transport="streamable-http", env=("TOKEN=t0ken",))
    ready = prepared(store, engine, request)
    plan = ready.plan
    state = launch.provision(ready, detached=True)
    path = Path(store.layout("srv").record)
    assert path.stat().st_mode & 0o777 == 0o600  # it holds `-e` values
    assert str(path) in state.files
    record = load(path)
    assert record is not None
    assert record.plan["container"] == plan.server.body
    teardown(engine, store, state)
    assert not path.exists()
