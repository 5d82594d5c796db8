from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher import state
from mcp_lok.launcher.audit import collect
from mcp_lok.launcher.audit.cis import Check, Status
from mcp_lok.launcher.audit.drift import Drift
from mcp_lok.launcher.audit.report import (
    ContainerAudit,
    Note,
    ServerAudit,
    render_human,
    render_json,
)
from mcp_lok.launcher.audit.score import Row
from mcp_lok.launcher.cli import cli


def audits() -> list[ServerAudit]:
    clean = ServerAudit("calm", "docker", True, True, rows=[Row("uid", "User", 0.03)])
    clean.containers.append(
        ContainerAudit(
            "server", "mcp-lok-calm", "a" * 64, checks=[Check("CIS 5.5", "t", Status.PASS, "ok")]
        )
    )
    moved = ServerAudit(
        "moved", "podman", recorded=True, rows=[Row("open-network", "Networks", 0.5)]
    )
    moved.notes.append(Note("the gate container `g` is gone", hint="relaunch"))
    moved.containers.append(
        ContainerAudit(
            "server", "mcp-lok-moved", None,
            drift=[Drift("server", "Networks", ["n"], ["podman"], "default (network)")],
            checks=[
                Check("CIS 5.30", "default bridge", Status.FAIL, "attached", "disconnect it"),
                Check("PSS baseline/sysctls", "safe", Status.WARN, "not reported"),
            ],
        )
    )  # fmt: skip
    stray = ServerAudit("stray", "docker", recorded=False, rows=[Row("root", "User", 0.3)])
    return [clean, moved, stray]


def test_human_output_gives_a_verdict_drift_with_origins_and_fixes() -> None:
    text = render_human(audits())
    assert "calm on docker: matches its plan; exposure 0.3 OK" in text
    assert "moved on podman: DRIFT (1 field); exposure 5.0 EXPOSED" in text
    assert "✗ drift `Networks` is `podman`, the plan says `n`  [set by default (network)]" in text
    assert "✗ CIS 5.30: default bridge: attached\n        fix: disconnect it" in text
    assert "! PSS baseline/sysctls" in text
    assert "✗ the gate container `g` is gone\n      fix: relaunch" in text
    assert "stray on docker: NOT LAUNCHED BY MCP-LOK" in text
    assert "✓ 1 of 1 benchmark checks pass" in text
    assert "✓ CIS 5.5" in render_human(audits(), verbose=True)
    assert render_human([]) == "no server to audit\n"
    unknown = ServerAudit("old", "docker", recorded=True)
    assert "old on docker: not compared with a plan" in render_human([unknown])


def test_json_output_lists_drift_and_what_exceeds_the_threshold() -> None:
    body = json.loads(render_json(audits(), 1.0))
    assert body["drifted"] == ["moved"]
    assert body["exceeded"] == ["moved", "stray"]
    moved = body["servers"][1]
    assert moved["containers"][0]["drift"][0]["kind"] == "changed"
    assert moved["level"] == "EXPOSED"
    assert moved["exposure"] == [{"field": "Networks", "kind": "open-network", "weight": 0.5}]
    assert json.loads(render_json(audits(), None))["exceeded"] == []


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[ServerAudit]:
    found: list[ServerAudit] = []

    class Found:
        kind = adapter.Engine.DOCKER
        url = "unix:///fake.sock"

    monkeypatch.setattr(adapter, "discover", lambda choice=None: Found())
    monkeypatch.setattr(collect, "audit", lambda engine, store, names: found)
    monkeypatch.setattr(state, "default_root", lambda: tmp_path)
    return found


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["audit", *args])


def test_audit_needs_names_or_all(fake: list[ServerAudit]) -> None:
    assert run().exit_code == 2
    assert run("--all", "x").exit_code == 2
    assert run("../etc").exit_code == 2


def test_the_exit_code_is_3_on_drift_or_above_the_threshold(fake: list[ServerAudit]) -> None:
    clean, moved, _ = audits()
    fake.append(clean)
    assert run("--all").exit_code == 0
    assert run("--all", "--threshold", "0.1").exit_code == 3
    result = run("--all", "--format", "json", "--threshold", "0.5")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["exceeded"] == []
    fake.append(moved)
    result = run("calm", "moved")
    assert result.exit_code == 3
    assert "drifted from their plan: moved" in result.stderr


def test_a_name_no_server_has_is_an_error(fake: list[ServerAudit]) -> None:
    result = run("ghost")
    assert result.exit_code == 1
    assert "error: no server named `ghost` on docker" in result.stderr


def test_all_says_which_servers_are_on_another_engine(
    fake: list[ServerAudit], tmp_path: Path
) -> None:
    other = state.ServerState(
        name="far", engine="podman", engine_url="unix:///other.sock", transport="stdio",
        image="img", profile="stdio", policy_digest="d", created="", log_path="",
        container_name="mcp-lok-far",
    )  # fmt: skip
    state.Store(tmp_path).save(other)
    result = run("--all")  # every engine: `far`'s does not answer
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: podman at /other.sock does not answer (does not exist); "
        "its servers are not audited: far\n"
    )
    result = run("--all", "--engine", "docker")  # only docker's servers, as asked
    assert result.exit_code == 0
    assert result.stderr == "not audited, on another engine: far\n"
