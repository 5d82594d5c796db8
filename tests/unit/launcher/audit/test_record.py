from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_lok.launcher.audit.record import RECORD_FILE, load, parse, render
from mcp_lok.policy import Engine, Target, Transport, compile_plan


def test_a_record_holds_the_plan_and_every_containers_trace(tmp_path: Path) -> None:
    target = Target(image="img", name="srv", engine=Engine.PODMAN, transport=Transport.SSE)
    plan = compile_plan("network", target)
    text = render(plan)
    assert text == render(plan)  # deterministic
    (tmp_path / RECORD_FILE).write_text(text)
    record = load(tmp_path)
    assert record is not None
    assert record.plan == json.loads(plan.to_json())
    assert record.trace["server"]["HostConfig.NetworkMode"] == "default (network)"
    assert record.trace["gate"]["HostConfig.Tmpfs[/tmp]"] == "default (podman)"
    assert record.body("gate") == plan.gate.container.body if plan.gate else False
    assert record.container_name("server") == "mcp-lok-srv"
    assert record.container_name("gate") == "mcp-lok-srv-gate"
    assert record.egress is False


def test_a_stdio_record_has_no_gate(tmp_path: Path) -> None:
    record = parse(render(compile_plan("stdio", Target(image="img", name="srv"))))
    assert record.body("gate") is None
    assert record.container_name("gate") is None
    assert set(record.trace) == {"server"}
    assert load(tmp_path) is None


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
