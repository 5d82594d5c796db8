"""What `audit` found for each server, and its two renderings (human, JSON).

A server's audit holds, per container (the server, its gate), the drift from its plan and
the benchmark checks, plus notes about the server as a whole (a container replaced, one
no launch recorded, a record missing), and the exposure rows of its server container.
Printing and exit codes are the CLI's; this module returns strings. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcp_lok.policy import canonical_json

from .cis import Check, Status
from .drift import Drift
from .score import Row, level, score


@dataclass(frozen=True)
class Note:
    """Something about a server as a whole. `drift`: it differs from what was launched."""

    message: str
    hint: str = ""
    drift: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "hint": self.hint, "drift": self.drift}


@dataclass
class ContainerAudit:
    role: str  # "server", "gate", or "container" for one no launch recorded
    name: str
    id: str | None
    drift: list[Drift] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "name": self.name,
            "id": self.id,
            "drift": [d.to_json() for d in self.drift],
            "checks": [c.to_json() for c in self.checks],
        }


@dataclass
class ServerAudit:
    name: str
    engine: str
    recorded: bool  # launched by mcp-lok (a state records it)
    compared: bool = False  # its containers were compared with a launch record
    containers: list[ContainerAudit] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    @property
    def score(self) -> float:
        return score(self.rows)

    @property
    def level(self) -> str:
        return level(self.score)

    @property
    def drift(self) -> list[Drift]:
        return [d for c in self.containers for d in c.drift]

    @property
    def drifted(self) -> bool:
        return bool(self.drift) or any(n.drift for n in self.notes)

    @property
    def failed(self) -> list[Check]:
        return [k for c in self.containers for k in c.checks if k.status is Status.FAIL]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "engine": self.engine,
            "recorded": self.recorded,
            "compared": self.compared,
            "drifted": self.drifted,
            "score": self.score,
            "level": self.level,
            "notes": [n.to_json() for n in self.notes],
            "containers": [c.to_json() for c in self.containers],
            "exposure": [{"kind": r.kind, "field": r.field, "weight": r.weight} for r in self.rows],
        }


def report_json(audits: list[ServerAudit], threshold: float | None) -> dict[str, Any]:
    """The whole audit as JSON: `audit --format json`, and the MCP tool's result."""
    over = sorted({a.name for a in audits if threshold is not None and a.score > threshold})
    return {
        "servers": [a.to_json() for a in audits],
        "drifted": sorted({a.name for a in audits if a.drifted}),
        "threshold": threshold,
        "exceeded": over,
    }


def render_json(audits: list[ServerAudit], threshold: float | None) -> str:
    return canonical_json(report_json(audits, threshold), indent=2) + "\n"


_MARKS = {Status.PASS: "✓", Status.FAIL: "✗", Status.WARN: "!"}


def render_human(audits: list[ServerAudit], verbose: bool = False) -> str:
    """One block per server: verdict, notes, drift, then the checks that did not pass
    (every check with `verbose`)."""
    lines: list[str] = []
    for audit in audits:
        lines += [*_server_lines(audit, verbose), ""]
    return "\n".join(lines) if audits else "no server to audit\n"


def _server_lines(audit: ServerAudit, verbose: bool) -> list[str]:
    count = len(audit.drift)
    verdict = f"DRIFT ({count} field{'s' * (count != 1)})" if audit.drifted else "matches its plan"
    if not audit.recorded:
        verdict = "NOT LAUNCHED BY MCP-LOK"
    elif not audit.compared and not audit.drifted:
        verdict = "not compared with a plan"
    lines = [f"{audit.name} on {audit.engine}: {verdict}; exposure {audit.score:.1f} {audit.level}"]
    for note in audit.notes:
        lines.append(f"  {'✗' if note.drift else '!'} {note.message}")
        if note.hint:
            lines.append(f"      fix: {note.hint}")
    for container in audit.containers:
        lines.append(f"  {container.role} {container.name} ({(container.id or 'gone')[:12]})")
        for d in container.drift:
            lines.append(f"    ✗ drift {d.describe()}  [set by {d.origin}]")
        if container.drift:
            lines.append(
                f"        fix: relaunch it from its policy: `mcp-lok stop {audit.name}`, "
                f"then `mcp-lok restart {audit.name}`"
            )
        checks = (
            container.checks
            if verbose
            else [c for c in container.checks if c.status is not Status.PASS]
        )
        passed = sum(c.status is Status.PASS for c in container.checks)
        for c in checks:
            lines.append(f"    {_MARKS[c.status]} {c.id}: {c.title}: {c.finding}")
            if c.fix:
                lines.append(f"        fix: {c.fix}")
        if not verbose and passed:
            lines.append(f"    ✓ {passed} of {len(container.checks)} benchmark checks pass")
    return lines


__all__ = ["ContainerAudit", "Note", "ServerAudit", "render_human", "render_json", "report_json"]
