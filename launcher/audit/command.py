"""The `mcp-lok audit` command: parse the options, collect, print, pick the exit code."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mcp_lok.launcher import exitcodes
from mcp_lok.launcher.errors import LokError

if TYPE_CHECKING:
    from .report import ServerAudit


def _names(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    from mcp_lok.launcher.state import name_problem

    for name in value:
        if problem := name_problem(name):
            raise click.BadParameter(problem, ctx, param)
    return value


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...", callback=_names)
@click.option("--all", "audit_all", is_flag=True, help="Audit every server on the engine.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["human", "json"]),
    default="human",
    show_default=True,
    help="How to print the result.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 10),
    default=None,
    metavar="N",
    help="Exit 3 when a server's exposure score is above N (0–10).",
)
@click.option(
    "--engine",
    "engine_choice",
    metavar="E",
    help="`docker`, `podman` or a socket URL `unix:///…` "
    "(default: DOCKER_HOST, CONTAINER_HOST, then the usual sockets).",
)
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
    from mcp_lok.launcher.engine import discover
    from mcp_lok.launcher.state import Store

    from .collect import audit as collect
    from .report import render_human, render_json

    if bool(names) == audit_all:
        raise click.UsageError("name the servers to audit, or pass `--all`")
    engine, store = discover(engine_choice), Store()
    found = collect(engine, store, None if audit_all else names)
    elsewhere = sorted(s.name for s in store.all() if s.engine_url != engine.url)
    if audit_all and elsewhere:
        click.echo(f"not audited, on another engine: {', '.join(elsewhere)}", err=True)
    missing = sorted(set(names) - {a.name for a in found})
    if missing:
        raise LokError(
            f"no server named {', '.join(f'`{n}`' for n in missing)} on {engine.kind.value}",
            hint="see `mcp-lok list --all`, or pass `--engine`",
        )
    if fmt == "json":
        click.echo(render_json(found, threshold), nl=False)
    else:
        click.echo(render_human(found, verbose_checks), nl=False)
    _conclude(found, threshold)


def _conclude(found: list[ServerAudit], threshold: float | None) -> None:
    """Say on stderr why the exit code is not 0, and exit 3 then."""
    worse = [a.name for a in found if threshold is not None and a.score > threshold]
    drifted = sorted({a.name for a in found if a.drifted})
    if worse:
        click.echo(f"exposure above {threshold:g}: {', '.join(worse)}", err=True)
    if drifted:
        click.echo(f"drifted from their plan: {', '.join(drifted)}", err=True)
    if worse or drifted:
        raise click.exceptions.Exit(exitcodes.AUDIT_FAILED)


__all__ = ["audit"]
