"""Where container engines listen, and how one is told from another, without the docker
SDK: the sockets tried for `--engine`, `DOCKER_HOST`, `CONTAINER_HOST` or none, and the
engine and version an answer to `GET /_ping` names. The engine adapter (`engine.py`)
connects; this module only names.
"""

from __future__ import annotations

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


def candidates(choice: str | None, environ: Mapping[str, str]) -> list[str]:
    """Socket URLs for `--engine CHOICE` (`docker`, `podman`, `unix:///…`) or the
    environment. An explicit choice, `DOCKER_HOST` or `CONTAINER_HOST` is the only
    candidate tried; only without them do the well-known sockets apply. A CHOICE that
    names no engine is a usage error; such a variable, the environment's (a failure)."""
    if choice in (Engine.DOCKER.value, Engine.PODMAN.value):
        return [url for kind, url in well_known(environ) if kind.value == choice]
    if choice:
        if problem := engine_problem(choice):
            raise UsageError.of("engine", problem, hint=ENGINE_HINT)
        return [choice]
    for variable in ("DOCKER_HOST", "CONTAINER_HOST"):
        if value := environ.get(variable):
            if _is_unix_url(value):
                return [value]
            raise LokError(
                f"`{value}` (from {variable}) is not an engine mcp-lok can use",
                hint=ENGINE_HINT,
            )
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


__all__ = [
    "ENGINE_HINT",
    "START_HINT",
    "candidates",
    "engine_problem",
    "identify_ping",
    "socket_path",
    "well_known",
]
