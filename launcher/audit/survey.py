"""An audit as asked: which servers, each on the engine it was started on; its run; and
its verdicts.

Shared by `mcp-lok audit` (the CLI) and the MCP server's `audit_servers` tool, so that both
refuse and report alike. Nothing here prints; the CLI and the tool do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher import servers
from mcp_lok.launcher.census import Census, Silent
from mcp_lok.launcher.engine import ContainerEngine
from mcp_lok.launcher.errors import LokError, UsageError
from mcp_lok.launcher.sockets import START_HINT
from mcp_lok.launcher.state import Store

from . import collect
from .report import ServerAudit


@dataclass
class Audited:
    """One audit: the kinds of the engines asked (in order), the servers found on them,
    the servers left out because they run on another engine than the one `--engine`
    named, and the engines that did not answer (`census.Silent`: their servers are not
    audited)."""

    engines: list[str]
    found: list[ServerAudit]
    elsewhere: list[str] = field(default_factory=list)
    silent: list[Silent] = field(default_factory=list)


def run(
    engine_choice: str | None,
    names: Sequence[str],
    audit_all: bool,
    spell_all: str = "--all",
) -> Audited:
    """Audit `names`, each on the engine it was started on, or with `audit_all` every
    server on every engine that answers (or only on the engine `engine_choice` names).
    Exactly one of `names` and `audit_all`. A name that is on no server of the engines
    asked is an error, and so is an `engine_choice` that names another engine than a
    named server's (a usage error). `spell_all`: how the caller spells the `all` option,
    for messages."""
    if names and audit_all:
        listed = ", ".join(f"`{n}`" for n in names)
        raise UsageError.of(
            "", f"`{spell_all}` audits every server: name none with it (named {listed})"
        )
    if not names and not audit_all:
        raise UsageError.of("", f"name the servers to audit, or pass `{spell_all}`")
    store = Store()
    if audit_all:
        return _every(engine_choice, store)
    return _named(engine_choice, names, store)


def _engines(engine_choice: str | None, store: Store) -> Census:
    """The engine `engine_choice` names, or every engine on this machine."""
    if engine_choice:
        return Census([adapter.discover(engine_choice)])
    return servers.engines(store)


def _every(engine_choice: str | None, store: Store) -> Audited:
    seen = _engines(engine_choice, store)
    asked = seen.require()
    found = [a for engine in asked for a in collect.audit(engine, store, None)]
    urls = {engine.url for engine in asked} | {s.url for s in seen.silent}
    elsewhere = sorted(s.name for s in store.all() if s.engine_url not in urls)
    return Audited([e.kind.value for e in asked], found, elsewhere, seen.silent)


def _named(engine_choice: str | None, names: Sequence[str], store: Store) -> Audited:
    """Each recorded server on the engine it was started on; a name no state records (a
    look-alike's) on every engine that answers, or on the one `engine_choice` names."""
    states = [s for s in store.all() if s.name in names]
    for state in states:
        servers.check_engine(state, engine_choice)
    seen = servers.engines(store)
    reached = {engine.url: engine for engine in seen.answering}
    asked: dict[str, ContainerEngine] = {}
    for state in states:
        if state.engine_url not in reached:
            why = next((s.reason for s in seen.silent if s.url == state.engine_url), "")
            raise LokError(
                f"the engine `{state.name}` was started on ({state.engine_url}) does not "
                f"answer ({why})",
                hint=START_HINT,
            )
        asked[state.engine_url] = reached[state.engine_url]
    silent: list[Silent] = []
    if set(names) - {s.name for s in states}:
        searched = _engines(engine_choice, store) if engine_choice else seen
        silent = searched.silent
        for engine in searched.require():
            asked.setdefault(engine.url, engine)
    found = [a for engine in asked.values() for a in collect.audit(engine, store, names)]
    missing = sorted(set(names) - {a.name for a in found})
    kinds = list(dict.fromkeys(e.kind.value for e in asked.values()))
    if missing:
        unasked = "".join(f"; {s} and was not searched" for s in silent)
        raise LokError(
            f"no server named {', '.join(f'`{n}`' for n in missing)} on {' or '.join(kinds)}",
            hint=f"see them all with `mcp-lok list --all`{unasked}",
        )
    return Audited(kinds, found, [], silent)


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
