"""`mcp-lok list|stop|rm|logs|inspect|version`: the servers that exist, and the engine."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from typing import Any

import click

from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher import servers
from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.inspection import describe, render
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

    An exited server's status says its exit code and when it exited (`exit_code` and
    `finished` in JSON).

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
    now = datetime.now(UTC)
    table = [[c.upper() for c in COLUMNS]] + [
        [
            shown[r[c]]
            if c == "auth"
            else status_cell(r, now)
            if c == "status"
            else str(r[c] or "-")
            for c in COLUMNS
        ]
        for r in found
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    for row in table:
        echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def status_cell(row: dict[str, Any], now: datetime) -> str:
    """A row's status; an exited server's with its exit code and how long ago it exited,
    as `exited (2) 5 minutes ago`."""
    if "exit_code" not in row:
        return str(row["status"])
    ago = _ago(row.get("finished"), now)
    return f"{row['status']} ({row['exit_code']})" + (f" {ago}" if ago else "")


# RFC 3339 as both engines write it: nanoseconds, which `fromisoformat` does not take
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)")


def _ago(when: object, now: datetime) -> str | None:
    found = _RFC3339.fullmatch(when) if isinstance(when, str) else None
    if found is None:
        return None
    zone = "+00:00" if found[2] == "Z" else found[2]
    seconds = int((now - datetime.fromisoformat(found[1] + zone)).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return f"{max(seconds, 0)} seconds ago"


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


@click.command(cls=LokCommand)
@NAME
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
def logs(name: str, follow: bool) -> None:
    """Print the server's stderr and its proxy's log."""
    servers.print_logs(name, follow=follow, out=sys.stdout.buffer)


@click.command("inspect", cls=LokCommand)
@NAME
@FORMAT
@click.option("--show-token", is_flag=True, help="Also print the bearer token clients send.")
def inspect(name: str, fmt: str, show_token: bool) -> None:
    """Show the server NAME: its URLs, engine, the ids of its container, gate and networks,
    its policy and digest, when it was created, and whether its proxy needs a token.

    Only the server's owner can read it (its state is 0600); `--show-token` prints the
    bearer token again.
    """
    state, status, reason = servers.with_status(name)
    found = describe(state, status.value, show_token, reason)
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
