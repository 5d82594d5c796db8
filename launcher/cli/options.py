"""The options the commands share, with the checks a command line makes itself (a server
NAME, an exposure threshold); what a `LaunchRequest` judges is left to its `problems()`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from mcp_lok.launcher.audit.threshold import threshold_problem
from mcp_lok.launcher.request import SessionMode
from mcp_lok.launcher.sockets import ENGINE_HINT, engine_problem
from mcp_lok.launcher.state import name_problem
from mcp_lok.policy import Transport
from mcp_lok.policy.baseline import DEFAULT_TARGET_PORT, MAX_SESSIONS, SESSION_IDLE_TIMEOUT

F = TypeVar("F", bound=Callable[..., Any])


def server_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A NAME argument that no server can have is a usage error."""
    if problem := name_problem(value):
        raise click.BadParameter(problem, ctx, param)
    return value


def engine_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An `--engine` that names no engine is a usage error, before any engine is asked."""
    if value is not None and (problem := engine_problem(value)):
        raise click.BadParameter(f"{problem}\n  = hint: {ENGINE_HINT}", ctx, param)
    return value


class Threshold(click.FloatRange):
    """An exposure score, 0 to 10. Not NaN: every comparison with NaN is false, so a CI
    gate `--threshold nan` would pass everything."""

    name = "threshold"

    def __init__(self) -> None:
        super().__init__(0, 10)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if problem := threshold_problem(number):
            self.fail(problem, param, ctx)
        return number


THRESHOLD = Threshold()

NAME = click.argument("name", callback=server_name)
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
    "engine",
    metavar="E",
    callback=engine_name,
    help="`docker`, `podman` or a socket URL `unix:///…` "
    "(default: MCP_LOK_ENGINE, DOCKER_HOST, CONTAINER_HOST, then the usual sockets).",
)
# a command on the server NAME acts on the engine NAME was started on: an `--engine` is
# only checked against it (`servers.check_engine`)
NAME_ENGINE = click.option(
    "--engine",
    "engine",
    metavar="E",
    callback=engine_name,
    help="Not needed: NAME is acted on where it was started. Given, it must name that "
    "engine (`docker`, `podman` or its socket URL).",
)
# shared by `policy compile` and `run`, so that both read the same way
TRANSPORT = click.option(
    "--transport",
    type=click.Choice([t.value for t in Transport]),
    default=Transport.STDIO.value,
    show_default=True,
    help="How the server speaks MCP.",
)
NAME_OPTION = click.option("--name", help="The server's name (default: from the image).")
ENV = click.option(
    "-e",
    "--env",
    "env",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set an environment variable in the server.",
)
ARGS = click.argument("args", nargs=-1, type=click.UNPROCESSED)

PORT = click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="The proxy's port on 127.0.0.1 (default: a free one).",
)
TARGET_PORT = click.option(
    "--target-port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_TARGET_PORT,
    show_default=True,
    help="The port an HTTP server listens on inside.",
)
PROFILE = click.option(
    "--permission-profile",
    "profile",
    default="stdio",
    show_default=True,
    metavar="NAME|PATH",
    help="A built-in, a JSON profile or a policy file.",
)
PROXY_OPTIONS = [
    click.option(
        "--auth-token",
        metavar="TOKEN",
        envvar="MCP_LOK_AUTH_TOKEN",
        help="The bearer token clients must send (`Authorization: Bearer TOKEN`); also "
        "read from MCP_LOK_AUTH_TOKEN. Without it (or with `generate`) mcp-lok makes a "
        "random one and prints it.",
    ),
    click.option(
        "--no-auth",
        is_flag=True,
        help="Serve without a bearer token: every local user and process can use the "
        "server, and what it holds. Not for servers with credentials.",
    ),
    click.option(
        "--restart",
        default="no",
        show_default=True,
        metavar="no|on-failure[:N]",
        help="Start a stdio server that exits with an error again (at most N times, "
        "5 by default); clients carry on in their sessions.",
    ),
    click.option(
        "--session-mode",
        type=click.Choice([m.value for m in SessionMode]),
        default=SessionMode.SHARED.value,
        show_default=True,
        help="stdio: all client sessions on one server, or a server (container) of "
        "its own for each session, removed when the session ends.",
    ),
    click.option(
        "--max-sessions",
        type=int,
        metavar="N",
        help=f"stdio: client sessions open at once (per-session: containers; default "
        f"{MAX_SESSIONS}). At the limit the least recently used idle session is closed for "
        "a new one; a new client is refused (503) only while all are busy.",
    ),
    click.option(
        "--session-idle-timeout",
        type=int,
        metavar="SECONDS",
        help=f"stdio: close a session idle this long, with no request in flight and no open "
        f"stream (default {SESSION_IDLE_TIMEOUT}: an hour).",
    ),
]


def launch_options(func: F) -> F:
    """The options of `run` and `start`: a `LaunchRequest`'s fields, by the same names."""
    options = [
        TRANSPORT,
        NAME_OPTION,
        PORT,
        TARGET_PORT,
        PROFILE,
        *PROXY_OPTIONS,
        ENGINE,
        ENV,
        click.argument("image"),
        ARGS,
    ]
    for option in reversed(options):
        func = option(func)
    return func


__all__ = [
    "ARGS",
    "ENGINE",
    "ENV",
    "FORMAT",
    "NAME",
    "NAME_ENGINE",
    "NAME_OPTION",
    "THRESHOLD",
    "TRANSPORT",
    "launch_options",
]
