"""An audit as asked: which servers, on which engine; its run; and its verdicts.

Shared by `mcp-lok audit` (the CLI) and the MCP server's `audit_servers` tool, so that both
refuse and report alike. Nothing here prints; the CLI and the tool do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher.errors import LokError, UsageError
from mcp_lok.launcher.state import Store

from . import collect
from .report import ServerAudit


@dataclass
class Audited:
    """One audit: the servers found on `engine`, and the servers left out because they
    run on another engine (named only when every server was asked for)."""

    engine: str
    found: list[ServerAudit]
    elsewhere: list[str]


def run(
    engine_choice: str | None,
    names: Sequence[str],
    audit_all: bool,
    spell: tuple[str, str] = ("--all", "--engine"),
) -> Audited:
    """Audit `names`, or every server with `audit_all` (exactly one of the two), on the
    engine `engine_choice` names. A name that is on no server of it is an error.
    `spell`: how the caller spells the `all` and `engine` options, for messages."""
    if names and audit_all:
        listed = ", ".join(f"`{n}`" for n in names)
        raise UsageError.of(
            "", f"`{spell[0]}` audits every server: name none with it (named {listed})"
        )
    if not names and not audit_all:
        raise UsageError.of("", f"name the servers to audit, or pass `{spell[0]}`")
    engine, store = adapter.discover(engine_choice), Store()
    found = collect.audit(engine, store, None if audit_all else names)
    elsewhere = sorted(s.name for s in store.all() if s.engine_url != engine.url)
    missing = sorted(set(names) - {a.name for a in found})
    if missing:
        raise LokError(
            f"no server named {', '.join(f'`{n}`' for n in missing)} on {engine.kind.value}",
            hint=f"see `mcp-lok list --all`, or pass `{spell[1]}`",
        )
    return Audited(engine.kind.value, found, elsewhere if audit_all else [])


def verdicts(found: list[ServerAudit], threshold: float | None) -> list[str]:
    """Why the audit failed, a line per reason; none when it passed."""
    worse = [a.name for a in found if threshold is not None and a.score > threshold]
    drifted = sorted({a.name for a in found if a.drifted})
    lines = []
    if worse:
        lines.append(f"exposure above {threshold:g}: {', '.join(worse)}")
    if drifted:
        lines.append(f"drifted from their plan: {', '.join(drifted)}")
    return lines


__all__ = ["Audited", "run", "verdicts"]
