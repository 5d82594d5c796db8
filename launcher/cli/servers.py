"""`mcp-lok list|stop|rm|logs|inspect|version`: the servers that exist, and the engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher import servers
from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.inspection import describe, owner_problem, render
from mcp_lok.launcher.logs import SINCE_HINT, show, since_time
from mcp_lok.launcher.state import Store
from mcp_lok.launcher.version import __version__

from .command import LokCommand, echo
from .launch import NO_AUTH_WARNING
from .options import ENGINE, FORMAT, NAME

COLUMNS = ("name", "status", "transport", "url", "image", "engine", "profile", "auth")


@click.command("list", cls=LokCommand)
@click.option("--all", "show_all", is_flag=True, help="Also show stopped servers.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "human", "json"]),
    default="table",
    show_default=True,
    help="How to print the list.",
)
def list_(show_all: bool, fmt: str) -> None:
    """List servers: name, status, transport, URL, image, engine, profile, auth.

    With `--all`, also stopped servers, and containers that carry mcp-lok's labels but that
    no launch created (status `foreign`: mcp-lok never stops or removes them)."""
    found = servers.listed(show_all)
    for server in found:
        if server["auth"] is False:  # loud, whatever the format: stderr is not the result
            echo(NO_AUTH_WARNING.format(name=server["name"]), err=True)
    if fmt == "json":
        echo(json.dumps(found, indent=2, sort_keys=True))
        return
    if any(r["status"] == "foreign" for r in found):
        echo(f"foreign: {servers.FOREIGN_NOTE}; mcp-lok never stops or removes it", err=True)
    for server in found:
        if server["status"] == "degraded":
            echo(f"{server['name']}: degraded: {server['note']}", err=True)
    shown = {True: "token", False: "NONE", None: "-"}
    table = [[c.upper() for c in COLUMNS]] + [
        [shown[r[c]] if c == "auth" else str(r[c] or "-") for c in COLUMNS] for r in found
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    for row in table:
        echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@click.command(cls=LokCommand)
@NAME
def stop(name: str) -> None:
    """Stop the server NAME (its proxy and containers); `rm` removes it."""
    servers.stop_server(name)
    echo(name)


@click.command(cls=LokCommand)
@NAME
@click.option("-f", "--force", is_flag=True, help="Remove it even while it runs.")
def rm(name: str, force: bool) -> None:
    """Remove the server NAME: the containers, networks, files and state mcp-lok created."""
    left = servers.remove_server(name, force=force)
    echo(name)
    if left:
        ids = " ".join(i[:12] for i in left)
        echo(
            f"left alone: containers carrying the labels of `{name}` that mcp-lok did not "
            f"create ({ids})",
            err=True,
        )


def since_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """`--since`: a time or a duration back from now (a usage error when neither)."""
    if value is None:
        return None
    try:
        return since_time(value)
    except ValueError as error:
        raise click.BadParameter(f"{error}\n  = hint: {SINCE_HINT}", ctx, param) from None


@click.command(cls=LokCommand)
@NAME
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until it stops.")
@click.option("--tail", type=click.IntRange(min=0), help="Only the last N lines.")
@click.option(
    "--since", callback=since_option, help="Only lines from TIME on (`2026-12-07T21:00Z`, `10m`)."
)
@click.pass_context
def logs(ctx: click.Context, name: str, follow: bool, tail: int | None, since: Any) -> None:
    """Print the server's log, one line per event: its stderr (an HTTP server's output,
    from the engine), client sessions opened and closed, restarts, egress decisions; with
    `-v`, every request its proxy served too. `--follow` goes on until the server is
    removed or stops, or Ctrl-C."""
    verbose = ctx.find_root().params.get("verbose", 0) > 0
    store = Store()
    state = servers.load(store, name)

    try:
        show(store, state, echo, since=since, tail=tail, verbose=verbose, follow=follow)
    except KeyboardInterrupt:  # Ctrl-C ends following: that is how it is meant to end
        return


@click.command("inspect", cls=LokCommand)
@NAME
@FORMAT
@click.option("--show-token", is_flag=True, help="Also print the bearer token clients send.")
def inspect(name: str, fmt: str, show_token: bool) -> None:
    """Show the server NAME: its URLs, engine, the ids of its container, gate and networks,
    its policy and digest, the plan it was launched with, its command, restarts and session
    limits, when it was created, and whether its proxy needs a token.

    Only the server's owner can read it (its state is 0600); `--show-token` prints the
    bearer token again, to them only.
    """
    state, status, reason = servers.with_status(name)
    store = Store()
    if show_token and (problem := owner_problem(store.folder(name))):
        raise LokError(problem, hint="ask its owner, or leave out `--show-token`")
    record = Path(store.layout(name).record)
    plan = str(record) if record.exists() else None
    found = describe(state, status.value, show_token, reason, plan)
    echo(json.dumps(found, indent=2, sort_keys=True) if fmt == "json" else render(found))


@click.command(cls=LokCommand)
@FORMAT
@ENGINE
def version(fmt: str, engine: str | None) -> None:
    """Show mcp-lok's version, and the engine's when one answers."""
    try:
        client = adapter.discover(engine)
        found: dict[str, str] | None = {
            "kind": client.kind.value,
            "version": client.engine_version,
            "socket": client.url,
        }
    except LokError:
        found = None
    if fmt == "json":
        echo(json.dumps({"version": __version__, "engine": found}, sort_keys=True))
        return
    echo(f"mcp-lok {__version__}")
    if found:
        echo(f"engine: {found['kind']} {found['version']} ({found['socket']})")


__all__ = ["inspect", "list_", "logs", "rm", "stop", "version"]
