"""The `mcp-lok audit` command: parse the options, collect, print, pick the exit code.

Its checks and its run (`check_names`, `check_threshold`, `run`, `verdicts`) are shared
with the MCP server's `audit_servers` tool, so both refuse and report alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from mcp_lok.launcher import exitcodes
from mcp_lok.launcher.commands import ENGINE, FORMAT
from mcp_lok.launcher.errors import LokError

if TYPE_CHECKING:
    from .report import ServerAudit


class Threshold(click.FloatRange):
    """An exposure score, 0 to 10. Not NaN: every comparison with NaN is false, so a CI
    gate `--threshold nan` would pass every server."""

    name = "threshold"

    def __init__(self) -> None:
        super().__init__(0, 10)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number from 0 to 10", param, ctx)
        return number


THRESHOLD = Threshold()


def check_names(
    names: Iterable[str],
    ctx: click.Context | None = None,
    param: click.Parameter | None = None,
    param_hint: str | None = None,
) -> None:
    """Refuse a name no server can have (`state.name_problem`), as the CLI's arguments."""
    from mcp_lok.launcher.state import name_problem

    for name in names:
        if problem := name_problem(name):
            raise click.BadParameter(problem, ctx, param, param_hint)


def check_threshold(value: float | None, param_hint: str) -> float | None:
    """`value` checked as `--threshold` checks it, outside a command line."""
    if value is None:
        return None
    try:
        return float(THRESHOLD.convert(value, None, None))
    except click.BadParameter as error:
        raise click.BadParameter(error.message, param_hint=param_hint) from None


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
    from mcp_lok.launcher.engine import discover
    from mcp_lok.launcher.state import Store

    from .collect import audit as collect

    if bool(names) == audit_all:
        raise click.UsageError(f"name the servers to audit, or pass `{spell[0]}`")
    engine, store = discover(engine_choice), Store()
    found = collect(engine, store, None if audit_all else names)
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


def _names(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    check_names(value, ctx, param)
    return value


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...", callback=_names)
@click.option("--all", "audit_all", is_flag=True, help="Audit every server on the engine.")
@FORMAT
@click.option(
    "--threshold",
    type=THRESHOLD,
    default=None,
    metavar="N",
    help="Exit 3 when a server's exposure score is above N (0–10).",
)
@ENGINE
@click.option("--verbose-checks", is_flag=True, help="Show passing checks too.")
def audit(
    names: tuple[str, ...],
    audit_all: bool,
    fmt: str,
    threshold: float | None,
    engine_choice: str | None,
    verbose_checks: bool,
) -> None:
    """Compare servers with the plans they were launched from, and check them against
    CIS Docker Benchmark section 5 and Pod Security's restricted profile.

    Also reports every container carrying mcp-lok's labels that no launch recorded.
    Exits 3 when a server drifted from its plan, or scores above `--threshold`.
    """
    from .report import render_human, render_json

    audited = run(engine_choice, names, audit_all)
    if audited.elsewhere:
        click.echo(f"not audited, on another engine: {', '.join(audited.elsewhere)}", err=True)
    if fmt == "json":
        click.echo(render_json(audited.found, threshold), nl=False)
    else:
        click.echo(render_human(audited.found, verbose_checks), nl=False)
    failed = verdicts(audited.found, threshold)
    for line in failed:
        click.echo(line, err=True)
    if failed:
        raise click.exceptions.Exit(exitcodes.AUDIT_FAILED)


__all__ = ["THRESHOLD", "Audited", "audit", "check_names", "check_threshold", "run", "verdicts"]
