"""The launch record: the plan a server was launched from, with its trace, kept next to the
server's state (`<runtime dir>/<name>/plan.json`) so that `audit` can compare the running
containers with exactly what was sent, and name the rule behind every expected value.

The record holds the plan as `policy compile` prints it (secrets stay placeholders) and
each container's trace rendered to text. It may hold values given with `-e`, so only its
owner can read it. Pure apart from `load`, which reads the one file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_lok.policy import LaunchPlan, canonical_json

RECORD_MODE = 0o600
VERSION = 1


def render(plan: LaunchPlan) -> str:
    """The record of `plan`, as deterministic JSON."""
    traces = {"server": {k: v.render() for k, v in plan.server.trace.items()}}
    if plan.gate is not None:
        traces["gate"] = {k: v.render() for k, v in plan.gate.container.trace.items()}
    return canonical_json({"version": VERSION, "plan": plan.to_dict(), "trace": traces}, 2) + "\n"


@dataclass(frozen=True)
class Record:
    plan: dict[str, Any]  # `LaunchPlan.to_dict()`
    trace: dict[str, dict[str, str]]  # "server"/"gate" → payload path → origin

    def body(self, role: str) -> dict[str, Any] | None:
        if role == "server":
            container: dict[str, Any] = self.plan["container"]
            return container
        gate = self.plan.get("gate")
        return None if gate is None else dict(gate["container"])

    def container_name(self, role: str) -> str | None:
        if role == "server":
            return str(self.plan["container_name"])
        gate = self.plan.get("gate")
        return None if gate is None else str(gate["container_name"])

    @property
    def egress(self) -> bool:
        gate = self.plan.get("gate")
        return bool(gate and gate.get("config", {}).get("egress"))


def parse(text: str) -> Record:
    raw = json.loads(text)
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise ValueError("not a launch record mcp-lok can read")
    missing = {"container", "container_name", "networks", "files"} - set(raw["plan"])
    if missing or "server" not in raw["trace"]:
        raise ValueError(f"the launch record lacks {', '.join(sorted(missing)) or 'a trace'}")
    return Record(plan=raw["plan"], trace=raw["trace"])


def load(path: Path) -> Record | None:
    """The record at `path` (`Layout.record`); None when the server was launched without
    one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return parse(text)


__all__ = ["RECORD_MODE", "Record", "load", "parse", "render"]
