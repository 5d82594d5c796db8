"""`mcp-lok run` and `start`: build the `LaunchRequest` the command line describes, run
it through the launch pipeline (`launch.py`), and print where clients reach the server:
results on stdout, progress and the client snippet on stderr.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from mcp_lok.launcher.handoff import TOKEN_VARIABLE, serve_detached
from mcp_lok.launcher.images import is_spec
from mcp_lok.launcher.launch import Prepared, prepare, provision, serve_foreground, start_detached
from mcp_lok.launcher.readiness import START_WAIT, NotServing
from mcp_lok.launcher.request import LaunchRequest
from mcp_lok.launcher.state import ServerState, client_urls
from mcp_lok.policy import Compiled, render_all

from .command import LokCommand, echo
from .images import ENTRYPOINT, REFRESH, built, package_only
from .options import FORMAT, NAME, launch_options

NO_AUTH_WARNING = (
    "warning: `{name}` serves without a bearer token (--no-auth): every local user and "
    "process can use it, and whatever it holds or reaches"
)


def _prepared(options: dict[str, Any], detached: bool) -> tuple[Prepared, ServerState]:
    """The request the options describe, checked and provisioned; the compiler's warnings
    on stderr."""

    def warn(compiled: Compiled) -> None:
        echo(render_all(compiled.warnings, compiled.texts) + "\n", err=True)

    entrypoint, refresh = options.pop("entrypoint"), options.pop("refresh")
    if is_spec(options["image"]):
        options["image"] = built(options["engine"], options["image"], entrypoint, refresh)
    else:
        package_only(entrypoint, refresh)
    request = LaunchRequest(**{**options, "env": tuple(options["env"])})
    prepared = prepare(request, on_warnings=warn)
    return prepared, provision(prepared, detached=detached)


def snippet(name: str, urls: dict[str, str | None], transport: str, token: str | None) -> str:
    """A client's configuration for the server, with its bearer token."""
    kind = "sse" if transport == "sse" else "http"
    entry: dict[str, Any] = {"type": kind, "url": urls["url"]}
    if token:
        entry["headers"] = {"Authorization": f"Bearer {token}"}
    return json.dumps({"mcpServers": {name: entry}}, indent=2)


@click.command(cls=LokCommand, context_settings={"ignore_unknown_options": False})
@launch_options
@ENTRYPOINT
@REFRESH
def run(**options: Any) -> None:
    """Run IMAGE locked down in the foreground, serving it to MCP clients on 127.0.0.1.

    IMAGE is an image's name, or a package, `uvx://PACKAGE[@VERSION]`, whose image is built
    first when there is none (`mcp-lok build`).
    Prints the client URLs and a client config snippet on stderr, then the server's
    stderr as it comes, each line marked `server:`. Ctrl-C or SIGTERM stops and removes
    everything it created; so does the server's end, which exits 1 with its exit code.
    Arguments after `--` become the command.
    """
    prepared, state = _prepared(options, detached=False)
    token = prepared.token

    def announce(url: str) -> None:
        urls = client_urls(url, state.transport)
        lines = [f"{state.name} is ready", f"  endpoint: {urls['url']}"]
        if urls["sse_url"] and urls["sse_url"] != urls["url"]:
            lines.append(f"  legacy SSE: {urls['sse_url']}")
        if token is not None:
            lines.append(f"  bearer token: {token}")
        lines.append(f"client config:\n{snippet(state.name, urls, state.transport, token)}")
        if token is None:
            lines.append(NO_AUTH_WARNING.format(name=state.name))
        echo("\n".join(lines), err=True)

    serve_foreground(prepared, state, announce, show=lambda line: echo(f"server: {line}", err=True))
    echo(f"{state.name} stopped and removed", err=True)


@click.command(cls=LokCommand)
@launch_options
@ENTRYPOINT
@REFRESH
@FORMAT
@click.option(
    "--wait",
    type=click.FloatRange(min=0, min_open=True),
    default=START_WAIT,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait until the server serves: a stdio server has answered "
    "`initialize` through the proxy, an HTTP server's port answers.",
)
@click.option("--no-wait", is_flag=True, help="Return once the proxy listens.")
def start(fmt: str, wait: float, no_wait: bool, **options: Any) -> None:
    """Start IMAGE locked down in the background; prints its name and URLs once it serves.

    IMAGE is an image's name or a package, `uvx://PACKAGE[@VERSION]`, as for `run`.
    The proxy runs detached and survives the terminal closing. If the server exits or does
    not serve in time, its last lines on stderr are printed, everything is removed, and
    the exit code is 1. Stop it with `mcp-lok stop NAME`, remove it with `mcp-lok rm NAME`.
    """
    if no_wait and _given(click.get_current_context(), "wait"):
        raise click.UsageError("`--wait` and `--no-wait` cannot be used together")
    prepared, state = _prepared(options, detached=True)
    try:
        url = start_detached(prepared, state, wait=None if no_wait else wait)
    except NotServing as error:
        for line in error.tail:
            echo(f"server: {line}", err=True)
        raise
    report_detached(fmt, state, url, prepared.token)


def report_detached(fmt: str, state: ServerState, base: str, token: str | None) -> None:
    """What `start` and `restart` print: the name and URLs (and token) on stdout, or one
    JSON object; for a person, the client config snippet `run` prints, on stderr."""
    urls = client_urls(base, state.transport)
    if token is None:
        echo(NO_AUTH_WARNING.format(name=state.name), err=True)
    if fmt == "json":
        found = {"name": state.name, **urls, "auth": token is not None, "token": token}
        echo(json.dumps(found))
        return
    shown = [urls["url"]] + ([urls["sse_url"]] if urls["sse_url"] != urls["url"] else [])
    if token is not None:
        shown.append(f"bearer token: {token}")
    echo("\n".join([state.name, *(u for u in shown if u)]))
    echo(f"client config:\n{snippet(state.name, urls, state.transport, token)}", err=True)


def _given(ctx: click.Context, name: str) -> bool:
    """Whether the option `name` was given on the command line (not its default)."""
    return ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE


@click.command("_proxy", cls=LokCommand, hidden=True)
@NAME
@click.option("--ready-fd", type=int, required=True)
@click.option("--port", type=int, default=0)
def proxy_process(name: str, ready_fd: int, port: int) -> None:
    """Serve a started server's proxy, detached. `start` no longer uses it: it spawns
    the lighter `python -m mcp_lok.launcher.handoff`, which says `attached` on the ready
    pipe and lets `start` start a stdio container (so does this: whoever reads READY_FD
    must start it)."""
    serve_detached(name, ready_fd, port, os.environ.pop(TOKEN_VARIABLE, None))


__all__ = ["NO_AUTH_WARNING", "proxy_process", "report_detached", "run", "snippet", "start"]
