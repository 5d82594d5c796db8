"""`mcp-lok list|stop|rm|logs|inspect|version`: the servers that exist, and the engine."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from mcp_lok.launcher import census, servers
from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher.census import Silent
from mcp_lok.launcher.engine import ContainerEngine
from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.inspection import describe, owner_problem, render
from mcp_lok.launcher.logs import SINCE_HINT, show, since_time
from mcp_lok.launcher.sockets import named
from mcp_lok.launcher.state import Store
from mcp_lok.launcher.version import __version__

from .command import LokCommand, echo
from .launch import NO_AUTH_WARNING
from .options import ENGINE, FORMAT, NAME, NAME_ENGINE

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

    Every engine that answers is asked (the one MCP_LOK_ENGINE, DOCKER_HOST or
    CONTAINER_HOST names, else the usual sockets, and every engine a server was started
    on); one that does not answer is named on stderr, and its servers show as `unknown`.
    Exits 1 when none answers.
    An exited server's status says its exit code and when it exited (`exit_code` and
    `finished` in JSON).

    With `--all`, also stopped servers, and containers that carry mcp-lok's labels but that
    no launch created (status `foreign`: mcp-lok never stops or removes them)."""
    seen = servers.engines()
    found = servers.listed(show_all, seen)
    for silent in seen.silent:
        echo(silent_line(silent, "show as `unknown`"), err=True)
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


def silent_line(silent: Silent, consequence: str) -> str:
    """One line on stderr for an engine that did not answer, and what it means for the
    servers started on it (`consequence`: what they do, e.g. "show as `unknown`")."""
    line = f"warning: {silent}"
    if silent.servers:
        line += f"; its servers {consequence}: {', '.join(silent.servers)}"
    return line


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
@NAME_ENGINE
def stop(name: str, engine: str | None) -> None:
    """Stop the server NAME (its proxy and containers); `rm` removes it."""
    servers.stop_server(name, engine)
    echo(name)


@click.command(cls=LokCommand)
@NAME
@click.option("-f", "--force", is_flag=True, help="Remove it even while it runs.")
@NAME_ENGINE
def rm(name: str, force: bool, engine: str | None) -> None:
    """Remove the server NAME: the containers, networks, files and state mcp-lok created,
    on the engine it was started on."""
    left = servers.remove_server(name, force=force, engine_choice=engine)
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
@NAME_ENGINE
@click.pass_context
def logs(
    ctx: click.Context,
    name: str,
    follow: bool,
    tail: int | None,
    since: Any,
    engine: str | None,
) -> None:
    """Print the server's log, one line per event: its stderr (an HTTP server's output,
    from the engine), client sessions opened and closed, restarts, egress decisions; with
    `-v`, every request its proxy served too. `--follow` goes on until the server is
    removed or stops, or Ctrl-C."""
    verbose = ctx.find_root().params.get("verbose", 0) > 0
    store = Store()
    state = servers.load(store, name, engine)

    try:
        show(store, state, echo, since=since, tail=tail, verbose=verbose, follow=follow)
    except KeyboardInterrupt:  # Ctrl-C ends following: that is how it is meant to end
        return


@click.command("inspect", cls=LokCommand)
@NAME
@FORMAT
@click.option("--show-token", is_flag=True, help="Also print the bearer token clients send.")
@NAME_ENGINE
def inspect(name: str, fmt: str, show_token: bool, engine: str | None) -> None:
    """Show the server NAME: its URLs, engine, the ids of its container, gate and networks,
    its policy and digest, the plan it was launched with, its command, restarts and session
    limits, when it was created, and whether its proxy needs a token.

    Only the server's owner can read it (its state is 0600); `--show-token` prints the
    bearer token again, to them only.
    """
    state, status, reason = servers.with_status(name, engine)
    store = Store()
    if show_token and (problem := owner_problem(store.folder(name))):
        raise LokError(problem, hint="ask its owner, or leave out `--show-token`")
    record = Path(store.layout(name).record)
    plan = str(record) if record.exists() else None
    found = describe(state, status.value, show_token, reason, plan)
    if (package := _package(state.engine_url, state.image)) is not None:
        found["package"] = package
    echo(json.dumps(found, indent=2, sort_keys=True) if fmt == "json" else render(found))


def _package(engine_url: str, image: str) -> dict[str, Any] | None:
    """What the server's image was built from, when `mcp-lok build` made it; None when it
    did not, or the engine does not answer (`inspect` reads the state without it)."""
    from mcp_lok.launcher.images.builder import package_of  # only `inspect` needs it

    engine = servers._connect(engine_url)  # the engine `with_status` asked, as it asks it
    if not isinstance(engine, adapter.EngineClient):
        return None
    try:
        return package_of(engine, image)
    except LokError:
        return None


@click.command(cls=LokCommand)
@FORMAT
@ENGINE
def version(fmt: str, engine: str | None) -> None:
    """Show mcp-lok's version, and each engine that answers: its kind, version and socket.

    An engine named by `--engine`, MCP_LOK_ENGINE, DOCKER_HOST or CONTAINER_HOST is the
    only one asked, and exits 1 when it does not answer; else every usual socket is, and
    one that exists but does not answer is named on stderr."""
    found, silent, failed = _engines(engine)
    engines = [{"kind": e.kind.value, "version": e.engine_version, "socket": e.url} for e in found]
    if fmt == "json":
        quiet = [{"kind": s.kind, "socket": s.url, "reason": s.reason} for s in silent]
        about = {"version": __version__, "engines": engines, "not_answering": quiet}
        echo(json.dumps(about, sort_keys=True))
    else:
        echo(f"mcp-lok {__version__}")
        for e in engines:
            echo(f"engine: {e['kind']} {e['version']} ({e['socket']})")
    for s in silent:
        echo(f"warning: {s}", err=True)
    if failed is not None:
        raise failed


def _engines(
    choice: str | None,
) -> tuple[list[ContainerEngine], list[Silent], LokError | None]:
    """The engine named (by `choice` or the environment), or every engine found; those that
    did not answer; and the failure to report when a named one does not."""
    try:
        if named(choice, os.environ) is None:
            seen = census.take()
            return seen.answering, seen.silent, None
        return [adapter.discover(choice)], [], None
    except LokError as error:  # what the environment names, too
        return [], [], error


__all__ = ["inspect", "list_", "logs", "rm", "silent_line", "stop", "version"]
