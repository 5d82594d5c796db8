"""`mcp-lok restart NAME`: a server that is not running (stopped, exited by itself, or left
without its proxy) launched again as its launch asked: the same name, image, command,
policy SOURCE, engine, port and bearer token, so that its clients need no new settings.

Nothing is reused but the request its state recorded (`ServerState.request`): the policy
is compiled and judged again on this host through the one launch pipeline
(`launch.prepare`), before the old server is touched, so a policy that no longer compiles
(or a host path it grants that moved) leaves the server as it was. A policy that compiles
to something else than it did is launched as it now reads, and the caller is told the
digest changed. Only then is the old server removed and the new one provisioned and handed
to a detached proxy, as `start` does; its log is kept across the restart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mcp_lok.policy import Compiled
from mcp_lok.proxy import logfile

from .engine import ContainerEngine, EngineClient
from .errors import LokError
from .launch import Prepared, port_busy, prepare, provision, start_detached
from .request import LaunchRequest
from .servers import load, status
from .state import PRIVATE_FILE, ServerState, Status, Store, write_atomic
from .teardown import teardown

# what `restart` brings back; a running (or starting) server is stopped first by the user
RESTARTABLE = (Status.STOPPED, Status.EXITED, Status.UNHEALTHY, Status.MISSING)


@dataclass(frozen=True)
class Restarted:
    """A server launched again: the pipeline's `Prepared`, its new state, its base URL,
    and the digest its policy had before when it now compiles to another (else None)."""

    prepared: Prepared
    state: ServerState
    url: str
    changed_from: str | None


def restart(name: str, on_warnings: Callable[[Compiled], None] | None = None) -> Restarted:
    """Launch the server NAME again from its recorded request. Raises `LokError` when it
    runs, when its state predates kept requests, when its engine does not answer or its
    port is taken; `PolicyError` when its policy no longer compiles (nothing changed)."""
    store = Store()
    old = load(store, name)
    engine = _engine(old)
    found = status(old, engine)
    if found not in RESTARTABLE:
        raise LokError(
            f"`{name}` is {found.value}",
            hint=f"stop it first with `mcp-lok stop {name}`, then `mcp-lok restart {name}`",
        )
    request = recorded_request(old)
    _check_port(name, request.port)
    prepared = prepare(request, on_warnings=on_warnings)  # judged again before any change
    changed = old.policy_digest if old.policy_digest != prepared.plan.digest else None
    log = _read_log(old)
    teardown(engine, store, old)
    state = provision(prepared, detached=True)
    state = replace(state, restarts=old.restarts + 1)
    store.save(state)
    _restore_log(state, log)
    url = start_detached(prepared, state)
    return Restarted(prepared, store.load(name) or state, url, changed)


def recorded_request(state: ServerState) -> LaunchRequest:
    """The request the server's launch recorded, asking for its port and token again, on
    its own engine. Raises `LokError` for a state that kept no request."""
    hint = f"remove it with `mcp-lok rm {state.name}` and start it again"
    if state.request is None:
        raise LokError(
            f"`{state.name}` was launched by an older mcp-lok, which kept no record of how",
            hint=hint,
        )
    try:
        request = LaunchRequest.recorded(state.request, state.token)
    except ValueError as error:
        raise LokError(
            f"the recorded launch of `{state.name}` is damaged: {error}", hint=hint
        ) from error
    # a profile given inline is in the record itself: the copy kept next to the state goes
    # with the old server, and the new launch keeps it again
    return replace(request, engine=state.engine_url, port=state.port or request.port)


def _engine(state: ServerState) -> ContainerEngine:
    try:
        return EngineClient.connect(state.engine_url)
    except LokError as error:
        raise LokError(
            f"the engine of `{state.name}` ({state.engine_url}) does not answer",
            hint=f"start it, then `mcp-lok restart {state.name}` again",
        ) from error


def _check_port(name: str, port: int) -> None:
    """The port the server was served on must be free again: its clients know it."""
    if (busy := port_busy(port)) is not None:
        raise LokError(
            f"the port of `{name}`, {port} on 127.0.0.1, is busy ({busy})",
            hint="stop what listens there; or remove the server with "
            f"`mcp-lok rm {name}` and start it on another `--port`",
        )


def _read_log(state: ServerState) -> bytes:
    with contextlib.suppress(OSError):
        return Path(state.log_path).read_bytes()
    return b""


def _restore_log(state: ServerState, earlier: bytes) -> None:
    """The log of the server's earlier runs goes on in its new log, before what this
    launch wrote so far (nothing serves it yet)."""
    said = logfile.line(logfile.LAUNCHER, f"started again (restart {state.restarts})") + "\n"
    path = Path(state.log_path)
    now = _read_log(state)
    write_atomic(path, (earlier + now).decode("utf-8", "replace") + said, PRIVATE_FILE)


__all__ = ["RESTARTABLE", "Restarted", "recorded_request", "restart"]
