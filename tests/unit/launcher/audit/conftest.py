"""Inspect output recorded from real engines (Docker 20.10, Podman 4.3) for untampered
servers launched by `mcp-lok start`, with their launch records and image configs:
`<engine>-std` (stdio built-in), `-net` (network built-in), `-http` (streamable-http with
a gate and two bind mounts)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
CASES = sorted(p.stem for p in DATA.glob("*.json"))


@pytest.fixture(autouse=True)
def proc(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty /proc: the recorded pids are not this host's processes (a test writes the
    processes it means into it)."""
    from mcp_lok.launcher.audit import processes

    folder = tmp_path_factory.mktemp("proc")
    monkeypatch.setattr(processes, "PROC", folder)
    return folder


@pytest.fixture(autouse=True)
def host_groups(monkeypatch: pytest.MonkeyPatch) -> dict[int, str]:
    """This host's privileged groups, as the audit judges ids by them: fixed, so that no
    test depends on the sockets and devices of the machine it runs on."""
    from mcp_lok.launcher import host

    groups = {0: "is root's group", 105: "may open `/run/docker.sock`"}
    monkeypatch.setattr(host, "privileged_groups", lambda: dict(groups))
    return groups


def load(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{case}.json").read_text())
    return copy.deepcopy(data)


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)
