"""Every engine on this machine at once: which answer, and which do not.

A launch needs one engine (`engine.discover`: the one named, or the first that answers);
`list`, `audit --all` and `version` look at all of them: the engine the environment names
(`MCP_LOK_ENGINE`, `DOCKER_HOST`, `CONTAINER_HOST`) or else every well-known socket, and
the engine of every server a state records. What the commands do with the engines found
is theirs; this module only finds them, and says why the others did not answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .engine import ContainerEngine, EngineClient, EngineError
from .errors import LokError
from .sockets import START_HINT, candidates, named, socket_path, well_known


@dataclass(frozen=True)
class Silent:
    """An engine that did not answer: its kind when it is known (a well-known socket's, or
    the one a state records), its socket URL, why, and the servers started on it."""

    kind: str | None
    url: str
    reason: str
    servers: tuple[str, ...] = ()

    def __str__(self) -> str:
        what = f"{self.kind} at {socket_path(self.url)}" if self.kind else socket_path(self.url)
        return f"{what} does not answer ({self.reason})"


@dataclass
class Census:
    """The engines that answered, in the order they were tried, and those that did not
    (`tried` also names the sockets that do not exist, for the error when none answers)."""

    answering: list[ContainerEngine] = field(default_factory=list)
    silent: list[Silent] = field(default_factory=list)
    tried: list[str] = field(default_factory=list)

    def require(self) -> list[ContainerEngine]:
        """The engines that answered; when none did, a `LokError` saying what was tried."""
        if not self.answering:
            raise LokError(
                f"no container engine answers; tried {'; '.join(self.tried) or 'nothing'}",
                hint=START_HINT,
            )
        return self.answering


class Missing(EngineError):
    """No socket at that path: no engine is installed or started there."""


def connect(url: str) -> ContainerEngine:
    """The engine at `url`; raises `Missing` when there is no socket, `EngineError` when
    it does not answer."""
    if not os.path.exists(socket_path(url)):
        raise Missing("does not exist")
    return EngineClient.connect(url)


def take(
    servers: Mapping[str, tuple[str, str]] | None = None,
    environ: Mapping[str, str] | None = None,
    reach: Callable[[str], ContainerEngine] = connect,
) -> Census:
    """Ask every engine on this machine: the one the environment names, or else every
    well-known socket, then the engines `servers` (name → (kind, socket URL), as states
    record them) were started on; `reach` connects. A well-known socket that does not
    exist is no engine that failed (none is installed or started there) and is only
    `tried`; one that exists and does not answer, or one named or holding servers, is
    `silent`. Raises `LokError` when a variable names no engine mcp-lok can use."""
    env = os.environ if environ is None else environ
    servers = servers or {}
    choice, urls = named(None, env), candidates(None, env)
    kinds = {url: kind.value for kind, url in well_known(env)}
    kinds |= {url: kind for kind, url in servers.values()}
    on: dict[str, list[str]] = {}
    for name, (_, url) in sorted(servers.items()):
        on.setdefault(url, []).append(name)
    census = Census()
    for url in [*urls, *sorted(set(on) - set(urls))]:
        try:
            census.answering.append(reach(url))
        except EngineError as error:
            census.tried.append(f"{socket_path(url)} ({error.message})")
            if choice or url in on or not isinstance(error, Missing):
                held = tuple(on.get(url, ()))
                census.silent.append(Silent(kinds.get(url), url, error.message, held))
    return census


__all__ = ["Census", "Missing", "Silent", "connect", "take"]
