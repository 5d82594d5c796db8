"""Where container engines listen, and how one is told from another, without the docker
SDK: the sockets tried for `--engine`, `MCP_LOK_ENGINE`, `DOCKER_HOST`, `CONTAINER_HOST`
or none, whether a choice names the engine a server was started on, and the engine and
version an answer to `GET /_ping` names. The engine adapter (`engine.py`) connects; this
module only names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mcp_lok.policy import Engine

from .errors import LokError, UsageError

START_HINT = (
    "start one (as root): `systemctl start docker` or `systemctl start podman.socket`; "
    "or name the socket of one that runs, e.g. `--engine unix:///run/user/1000/podman/podman.sock`"
)


def well_known(environ: Mapping[str, str]) -> list[tuple[Engine, str]]:
    """The sockets tried when nothing names one, in order."""
    found = [
        (Engine.DOCKER, "unix:///var/run/docker.sock"),
        (Engine.PODMAN, "unix:///run/podman/podman.sock"),
    ]
    if runtime := environ.get("XDG_RUNTIME_DIR"):
        found.append((Engine.PODMAN, f"unix://{runtime}/podman/podman.sock"))
    return found


ENGINE_HINT = (
    "use `docker`, `podman`, or a local socket such as `unix:///var/run/docker.sock`: "
    "plans name host paths, so the engine must be local"
)


# the environment's ways to name one engine, in order: mcp-lok's own, then the engines'
# (which name sockets only)
ENGINE_VARIABLE = "MCP_LOK_ENGINE"
SOCKET_VARIABLES = ("DOCKER_HOST", "CONTAINER_HOST")


def named(choice: str | None, environ: Mapping[str, str]) -> str | None:
    """The engine `--engine CHOICE` or the environment names (`MCP_LOK_ENGINE`, then
    `DOCKER_HOST`, then `CONTAINER_HOST`): `docker`, `podman` or a socket URL; None when
    nothing names one. A CHOICE that names no engine is a usage error; such a variable,
    the environment's (a failure)."""
    if choice:
        if problem := engine_problem(choice):
            raise UsageError.of("engine", problem, hint=ENGINE_HINT)
        return choice
    if value := environ.get(ENGINE_VARIABLE):
        if engine_problem(value):
            raise LokError(
                f"`{value}` (from {ENGINE_VARIABLE}) is not an engine mcp-lok can use",
                hint=ENGINE_HINT,
            )
        return value
    for variable in SOCKET_VARIABLES:
        if value := environ.get(variable):
            if _is_unix_url(value):
                return value
            raise LokError(
                f"`{value}` (from {variable}) is not an engine mcp-lok can use",
                hint=ENGINE_HINT,
            )
    return None


def candidates(choice: str | None, environ: Mapping[str, str]) -> list[str]:
    """Socket URLs for `--engine CHOICE` (`docker`, `podman`, `unix:///…`) or the
    environment (`named`). What names an engine is the only candidate tried (`docker` and
    `podman`: their well-known sockets); only when nothing does are all the well-known
    sockets tried."""
    choice = named(choice, environ)
    if choice in (Engine.DOCKER.value, Engine.PODMAN.value):
        return [url for kind, url in well_known(environ) if kind.value == choice]
    if choice:
        return [choice]
    return [url for _, url in well_known(environ)]


def engine_problem(choice: str) -> str | None:
    """Why `--engine CHOICE` names no engine mcp-lok can use, or None when it names one."""
    if choice in (Engine.DOCKER.value, Engine.PODMAN.value) or _is_unix_url(choice):
        return None
    return f"`{choice}` is not an engine mcp-lok can use"


def _is_unix_url(value: str) -> bool:
    return value.startswith("unix://") and len(value) > len("unix://")


def identify_ping(headers: Mapping[str, str]) -> tuple[Engine, dict[str, Any]]:
    """The engine and its version from `GET /_ping`'s headers. Podman answers `/_ping` at
    once but takes about 0.4 s over `/version` (measured on 4.3), and its ping already
    names it: `Libpod-Api-Version`, and `Server: Libpod/4.3.1 (linux)`."""
    lowered = {key.lower(): value for key, value in headers.items()}
    server = lowered.get("server", "")
    product, _, rest = server.partition("/")
    version = {
        "Version": rest.split(" ", 1)[0] or "unknown",
        "Server": server,
        "ApiVersion": lowered.get("api-version", ""),
    }
    if "libpod-api-version" in lowered or product.lower() == "libpod":
        return Engine.PODMAN, version
    return Engine.DOCKER, version


def socket_path(url: str) -> str:
    return url.removeprefix("unix://")


def same_engine(choice: str, kind: str, url: str) -> bool:
    """Whether `--engine CHOICE` names the engine of kind `kind` at `url` (a server's
    engine as its state records it): the same kind, or a socket that is the same file."""
    if choice in (Engine.DOCKER.value, Engine.PODMAN.value):
        return choice == kind
    return os.path.realpath(socket_path(choice)) == os.path.realpath(socket_path(url))


def elsewhere_problem(name: str, choice: str, kind: str, url: str) -> str | None:
    """Why `--engine CHOICE` cannot be used for the server `name`, started on the engine
    `kind` at `url`; None when it names that engine."""
    if same_engine(choice, kind, url):
        return None
    return f"`{name}` was started on {kind} ({url}), not on `{choice}`"


# what to do instead of naming another engine than a server's
ELSEWHERE_HINT = "name no engine: a server is always acted on where it was started"


__all__ = [
    "ELSEWHERE_HINT",
    "ENGINE_HINT",
    "ENGINE_VARIABLE",
    "SOCKET_VARIABLES",
    "START_HINT",
    "candidates",
    "elsewhere_problem",
    "engine_problem",
    "identify_ping",
    "named",
    "same_engine",
    "socket_path",
    "well_known",
]
