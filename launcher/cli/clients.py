"""`mcp-lok client setup|list|rm`: MCP clients pointed at mcp-lok's servers (`clients`).

The server's state and status come from `servers`; the client files are the `clients`
package's. The token is written into client files, never printed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from mcp_lok.launcher import clients, servers
from mcp_lok.launcher.clients import Endpoint, Outcome, Pointer
from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.state import ServerState, Status, Store, client_urls

from .command import LokGroup, echo
from .options import FORMAT, NAME

SERVING = (Status.RUNNING, Status.DEGRADED)
CLIENT = click.option(
    "--client",
    "names",
    multiple=True,
    type=click.Choice([c.name for c in clients.CLIENTS]),
    help="A client to write (repeatable; default: every client installed for this user).",
)
LIST_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="How to print the list.",
)


@click.group("client", cls=LokGroup)
def client() -> None:
    """Point MCP clients at servers: Claude Code, Claude Desktop, VS Code, Cursor, Windsurf
    and Cline, each in its own configuration file (docs/clients.md)."""


@client.command("setup")
@NAME
@CLIENT
@FORMAT
def setup(name: str, names: tuple[str, ...], fmt: str) -> None:
    """Write the running server NAME's URL and token into MCP clients' configuration files,
    as the entry `mcp-lok-NAME`, keeping everything else in them and a backup of each file
    changed. `mcp-lok rm NAME` takes the entries out again."""
    state, status, _ = servers.with_status(name)
    at = endpoint(state, status)
    if at is None:
        raise LokError(
            f"`{name}` is {status.value}: it serves no URL to give clients",
            hint="see why with `mcp-lok list --all`; start it again, then retry",
        )
    _show(clients.setup(name, at, names), fmt, name)


@client.command("rm")
@NAME
@CLIENT
@FORMAT
def rm(name: str, names: tuple[str, ...], fmt: str) -> None:
    """Take the entries mcp-lok wrote for NAME out of the clients' files (the server stays);
    an entry changed since mcp-lok wrote it is left alone."""
    outcomes = clients.remove(name, names)
    if not outcomes:
        echo(f"no client entries of `{name}`", err=True)
    _show(outcomes, fmt, name)


@client.command("list")
@LIST_FORMAT
def list_(fmt: str) -> None:
    """The client entries mcp-lok wrote, and whether each still points at its server:
    `ok`, `gone` (no such server), `stale` (not its URL or token), `not serving`,
    `absent` (removed by hand) or `unreadable`."""
    found = clients.pointers(_current())
    for shown in found:
        if shown.state in ("gone", "stale"):
            fix = f"mcp-lok client {'rm' if shown.state == 'gone' else 'setup'} {shown.server}"
            echo(
                f"{shown.client}: `{shown.entry}` in {shown.path} is {shown.state}: `{fix}`",
                err=True,
            )
    if fmt == "json":
        echo(json.dumps([_pointer(p) for p in found], indent=2, sort_keys=True))
        return
    columns = ("client", "entry", "status", "state", "path")
    rows = [[c.upper() for c in columns]] + [
        [str(_pointer(p)[c] or "-") for c in columns] for p in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    for row in rows:
        echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def endpoint(state: ServerState, status: Status) -> Endpoint | None:
    """Where a serving server's clients reach it; None when it serves nothing now."""
    if status not in SERVING or not state.url:
        return None
    url = client_urls(state.url, state.transport)["url"]
    return Endpoint(url, state.transport == "sse", state.token) if url else None


def _current() -> clients.Current:
    states = {s.name: s for s in Store().all()}
    statuses = {r["name"]: Status(r["status"]) for r in servers.rows() if r["name"] in states}

    def current(name: str) -> tuple[str, Endpoint | None] | None:
        state = states.get(name)
        if state is None:
            return None
        status = statuses.get(name, Status.UNKNOWN)
        return status.value, endpoint(state, status)

    return current


def _pointer(shown: Pointer) -> dict[str, str | None]:
    return {
        "client": shown.client,
        "server": shown.server,
        "entry": shown.entry,
        "path": shown.path,
        "status": shown.status,
        "state": shown.state,
    }


def _show(outcomes: Sequence[Outcome], fmt: str, name: str) -> None:
    """Each outcome on stdout; notes and warnings on stderr; exit 1 when a file could not
    be changed as asked."""
    if fmt == "json":
        echo(json.dumps([_outcome(o) for o in outcomes], indent=2, sort_keys=True))
    else:
        for o in outcomes:
            backup = f" (backup: {o.backup})" if o.backup else ""
            echo(f"{o.client}: {o.action} `{o.entry}` in {o.path}{backup}")
    for note in dict.fromkeys(o.note for o in outcomes if o.note and o.ok):
        echo(f"note: {note}", err=True)
    for o in outcomes:
        if o.shared and o.action in ("added", "updated"):
            echo(
                f"warning: {o.path} can be read by other users, and now holds the token of "
                f"`{name}`: `chmod 600 {o.path}`",
                err=True,
            )
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        echo(f"{o.client}: {o.path}: {o.note}", err=True)
    if failed:
        raise LokError(
            f"{len(failed)} of {len(outcomes)} client files were not changed as asked",
            hint="see above why",
        )


def _outcome(o: Outcome) -> dict[str, str | None]:
    return {
        "client": o.client,
        "path": str(o.path),
        "entry": o.entry,
        "action": o.action,
        "backup": str(o.backup) if o.backup else None,
        "note": o.note,
    }


__all__ = ["client"]
