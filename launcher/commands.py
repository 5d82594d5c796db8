"""`mcp-lok run|start|list|stop|rm|logs|version`: the server lifecycle commands.

Thin: each command parses its options, calls `launching`, `lifecycle`, `handoff` and `state`, and
prints — results on stdout, progress and the client snippet on stderr. Engine modules are
imported inside the commands, so `mcp-lok policy …` never loads docker.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mcp_lok.policy import (
    Compiled,
    PolicyError,
    render_all,
)
from mcp_lok.policy.baseline import DEFAULT_TARGET_PORT

from .launching import prepare, provision, starter
from .policy_commands import ENV, NAME_OPTION, TRANSPORT, fail
from .proxy_options import (
    NO_AUTH_WARNING,
    PROXY_OPTIONS,
    auth_token,
    per_session_mode,
    session_body,
)
from .state import client_urls
from .version import __version__

if TYPE_CHECKING:
    from .launching import Prepared
    from .state import ServerState

F = TypeVar("F", bound=Callable[..., Any])
FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["human", "json"]),
    default="human",
    show_default=True,
    help="How to print the result.",
)
ENGINE = click.option(
    "--engine",
    "engine_choice",
    metavar="E",
    help="`docker`, `podman` or a socket URL `unix:///…` "
    "(default: DOCKER_HOST, CONTAINER_HOST, then the usual sockets).",
)


def _server_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from .state import name_problem

    if problem := name_problem(value):
        raise click.BadParameter(problem, ctx, param)
    return value


NAME = click.argument("name", callback=_server_name)


def launch_options(func: F) -> F:
    options = [
        TRANSPORT,
        NAME_OPTION,
        click.option(
            "--port",
            type=click.IntRange(0, 65535),
            default=0,
            help="The proxy's port on 127.0.0.1 (default: a free one).",
        ),
        click.option(
            "--target-port",
            type=click.IntRange(1, 65535),
            default=DEFAULT_TARGET_PORT,
            show_default=True,
            help="The port an HTTP server listens on inside.",
        ),
        click.option(
            "--permission-profile",
            "profile",
            default="stdio",
            show_default=True,
            metavar="NAME|PATH",
            help="A built-in, a JSON profile or a policy file.",
        ),
        *PROXY_OPTIONS,
        ENGINE,
        ENV,
        click.argument("image"),
        click.argument("args", nargs=-1, type=click.UNPROCESSED),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _launch(
    opts: dict[str, Any], detached: bool, token: str | None
) -> tuple[Prepared, ServerState]:
    """Check and provision a server for `run`/`start` (its proxy's bearer `token`, None for
    `--no-auth`); policy errors exit 3, whether the compile found them or the second look
    at the host paths right before a create."""

    def warn(compiled: Compiled) -> None:
        click.echo(render_all(compiled.warnings, compiled.texts) + "\n", err=True)

    try:
        prepared = prepare(opts, on_warnings=warn)
        return prepared, provision(prepared, detached=detached, token=token)
    except PolicyError as error:
        fail(error)


def _snippet(
    name: str, urls: dict[str, str | None], transport: str, token: str | None = None
) -> str:
    kind = "sse" if transport == "sse" else "http"
    entry: dict[str, Any] = {"type": kind, "url": urls["url"]}
    if token:
        entry["headers"] = {"Authorization": f"Bearer {token}"}
    return json.dumps({"mcpServers": {name: entry}}, indent=2)


@click.command(context_settings={"ignore_unknown_options": False})
@launch_options
def run(**opts: Any) -> None:
    """Run IMAGE locked down in the foreground, serving it to MCP clients on 127.0.0.1.

    Prints the client URLs and a client config snippet on stderr. Ctrl-C or SIGTERM
    stops and removes everything it created. Arguments after `--` become the command.
    """
    from .handoff import cleaning_up, interruptible, serve
    from .respawn import parse_restart
    from .teardown import teardown

    token = auth_token(opts.pop("auth_token"), opts.pop("no_auth"))
    restarts = parse_restart(opts.pop("restart"))
    per_session = per_session_mode(opts)
    prepared, state = _launch(opts, detached=False, token=token)
    engine, store, request, plan = prepared.engine, prepared.store, prepared.request, prepared.plan
    body = session_body(plan) if per_session else None

    def announce(url: str) -> None:
        urls = client_urls(url, state.transport)
        lines = [f"{state.name} is ready", f"  endpoint: {urls['url']}"]
        if urls["sse_url"] and urls["sse_url"] != urls["url"]:
            lines.append(f"  legacy SSE: {urls['sse_url']}")
        if token is not None:
            lines.append(f"  bearer token: {token}")
        snippet = _snippet(state.name, urls, state.transport, token)
        lines.append(f"client config:\n{snippet}")
        if token is None:
            lines.append(NO_AUTH_WARNING.format(name=state.name))
        click.echo("\n".join(lines), err=True)

    try:
        with interruptible():
            serve(
                engine,
                store,
                state,
                request.port,
                announce,
                token=token,
                restarts=restarts,
                body=body,
            )
    except KeyboardInterrupt:
        pass
    finally:
        with cleaning_up():
            teardown(engine, store, store.load(state.name) or state)
    click.echo(f"{state.name} stopped and removed", err=True)


@click.command()
@launch_options
@FORMAT
def start(fmt: str, **opts: Any) -> None:
    """Start IMAGE locked down in the background; prints its name and URLs.

    The proxy runs detached and survives the terminal closing. Stop it with
    `mcp-lok stop NAME`, remove it with `mcp-lok rm NAME`.
    """
    from .handoff import cleaning_up, interruptible, log_tail, spawn
    from .respawn import parse_restart
    from .teardown import undo

    token = auth_token(opts.pop("auth_token"), opts.pop("no_auth"))
    restarts = parse_restart(opts.pop("restart"))
    per_session = per_session_mode(opts)
    prepared, state = _launch(opts, detached=True, token=token)
    engine, store, request, plan = prepared.engine, prepared.store, prepared.request, prepared.plan
    body = session_body(plan) if per_session else None
    try:
        with interruptible():
            url = spawn(
                store,
                state,
                request.port,
                token=token,
                on_attached=starter(engine, state, body),
                restarts=restarts,
                body=body,
            )
    except BaseException as error:
        tail = log_tail(state.log_path)
        with cleaning_up():
            undo(engine, store, store.load(state.name) or state)
        if tail and not isinstance(error, KeyboardInterrupt):
            click.echo(f"proxy log:\n{tail}", err=True)
        raise
    urls = client_urls(url, state.transport)
    if token is None:
        click.echo(NO_AUTH_WARNING.format(name=state.name), err=True)
    if fmt == "json":
        found = {"name": state.name, **urls, "auth": token is not None, "token": token}
        click.echo(json.dumps(found))
    else:
        shown = [urls["url"]] + ([urls["sse_url"]] if urls["sse_url"] != urls["url"] else [])
        if token is not None:
            shown.append(f"bearer token: {token}")
        click.echo("\n".join([state.name, *(u for u in shown if u)]))


@click.command("_proxy", hidden=True)
@NAME
@click.option("--ready-fd", type=int, required=True)
@click.option("--port", type=int, default=0)
def proxy_process(name: str, ready_fd: int, port: int) -> None:
    """Serve a started server's proxy, detached. `start` no longer uses it: it spawns
    the lighter `python -m mcp_lok.launcher.handoff`, which says `attached` on the ready
    pipe and lets `start` start a stdio container (so does this: whoever reads READY_FD
    must start it)."""
    import os

    from .handoff import TOKEN_VARIABLE, serve_detached

    serve_detached(name, ready_fd, port, os.environ.pop(TOKEN_VARIABLE, None))


@click.command("list")
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
    from .servers import FOREIGN_NOTE, listed

    found = listed(show_all)
    for server in found:
        if server["auth"] is False:  # loud, whatever the format: stderr is not the result
            click.echo(NO_AUTH_WARNING.format(name=server["name"]), err=True)
    if fmt == "json":
        click.echo(json.dumps(found, indent=2, sort_keys=True))
        return
    if any(r["status"] == "foreign" for r in found):
        click.echo(f"foreign: {FOREIGN_NOTE}; mcp-lok never stops or removes it", err=True)
    columns = ("name", "status", "transport", "url", "image", "engine", "profile", "auth")
    shown = {True: "token", False: "NONE", None: "-"}
    table = [[c.upper() for c in columns]] + [
        [shown[r[c]] if c == "auth" else str(r[c] or "-") for c in columns] for r in found
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@click.command()
@NAME
def stop(name: str) -> None:
    """Stop the server NAME (its proxy and containers); `rm` removes it."""
    from .servers import stop_server

    stop_server(name)
    click.echo(name)


@click.command()
@NAME
@click.option("-f", "--force", is_flag=True, help="Remove it even while it runs.")
def rm(name: str, force: bool) -> None:
    """Remove the server NAME: the containers, networks, files and state mcp-lok created."""
    from .servers import remove_server

    left = remove_server(name, force=force)
    click.echo(name)
    if left:
        ids = " ".join(i[:12] for i in left)
        click.echo(
            f"left alone: containers carrying the labels of `{name}` that mcp-lok did not "
            f"create ({ids})",
            err=True,
        )


@click.command()
@NAME
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
def logs(name: str, follow: bool) -> None:
    """Print the server's stderr and its proxy's log."""
    from .servers import print_logs

    print_logs(name, follow=follow, out=sys.stdout.buffer)


@click.command()
@FORMAT
@ENGINE
def version(fmt: str, engine_choice: str | None) -> None:
    """Show mcp-lok's version, and the engine's when one answers."""
    from .engine import discover
    from .errors import LokError

    try:
        engine = discover(engine_choice)
        found: dict[str, str] | None = {
            "kind": engine.kind.value,
            "version": engine.engine_version,
            "socket": engine.url,
        }
    except LokError:
        found = None
    if fmt == "json":
        click.echo(json.dumps({"version": __version__, "engine": found}, sort_keys=True))
        return
    click.echo(f"mcp-lok {__version__}")
    if found:
        click.echo(f"engine: {found['kind']} {found['version']} ({found['socket']})")


__all__ = [
    "list_",
    "logs",
    "proxy_process",
    "rm",
    "run",
    "start",
    "stop",
    "version",
]
