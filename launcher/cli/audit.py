"""`mcp-lok audit`: print the audit (`audit.survey`) and turn a failed one into exit 3."""

from __future__ import annotations

import click

from mcp_lok.launcher.audit.report import render_human, render_json
from mcp_lok.launcher.audit.survey import run, verdicts
from mcp_lok.launcher.errors import Rejected

from .command import LokCommand, echo
from .options import ENGINE, FORMAT, THRESHOLD, server_name
from .servers import silent_line


def _names(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    for name in value:
        server_name(ctx, param, name)
    return value


@click.command(cls=LokCommand)
@click.argument("names", nargs=-1, metavar="[NAME]...", callback=_names)
@click.option(
    "--all",
    "audit_all",
    is_flag=True,
    help="Audit every server, on every engine that answers (with `--engine`: on that one).",
)
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
    engine: str | None,
    verbose_checks: bool,
) -> None:
    """Compare servers with the plans they were launched from, and check them against
    CIS Docker Benchmark section 5 and Pod Security's restricted profile.

    Each server NAME is audited on the engine it was started on (an `--engine` naming
    another one is refused). Also reports every container carrying mcp-lok's labels that
    no launch recorded. Exits 3 when a server drifted from its plan, or scores above
    `--threshold`.
    """
    audited = run(engine, names, audit_all)
    for silent in audited.silent:
        echo(silent_line(silent, "are not audited"), err=True)
    if audited.elsewhere:
        echo(f"not audited, on another engine: {', '.join(audited.elsewhere)}", err=True)
    if fmt == "json":
        echo(render_json(audited.found, threshold), nl=False)
    else:
        echo(render_human(audited.found, verbose_checks), nl=False)
    if failed := verdicts(audited.found, threshold):
        raise Rejected("\n".join(failed))


__all__ = ["audit"]
