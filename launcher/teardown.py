"""Removing what a launch created: a server's teardown (`rm`, the end of a foreground
`run`, a restart), the undoing of a launch that failed, and the reaping of launches whose
launcher died half-way. A server that is gone for good (`rm`, `run`'s end, `undo`) also
leaves the MCP clients `client setup` pointed at it (`forget`); a restart, which brings it
back on the same port with the same token, keeps them.

mcp-lok acts only on what it created: the ids a server's state recorded, and the objects
carrying the launch nonce that state recorded before anything was created (an object
created just before a crash, or a client session's server made by the proxy). A container
that merely carries mcp-lok's labels is a look-alike: never stopped or removed, only
reported (`look_alikes`). Creating is `lifecycle`'s business.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from . import clients
from .engine import ContainerEngine
from .errors import LokError
from .state import LAUNCH_LABEL, Phase, ServerState, Store, alive, created_by, is_nonce

log = logging.getLogger(__name__)

PROXY_STOP_WAIT = 5.0  # seconds between SIGTERM and SIGKILL for a proxy
CONTAINER_STOP_WAIT = 3  # seconds the engine gives a container between SIGTERM and SIGKILL


def stop_process(pid: int | None, start: int | None, timeout: float = PROXY_STOP_WAIT) -> None:
    """SIGTERM, then SIGKILL after `timeout`; only when `pid` is still the recorded process."""
    if pid is None or pid == os.getpid() or not alive(pid, start):
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while alive(pid, start) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not alive(pid, start):
            return


def stop_containers(engine: ContainerEngine, state: ServerState) -> None:
    for container in state.ids:
        engine.stop(container, timeout=CONTAINER_STOP_WAIT)


def teardown(engine: ContainerEngine | None, store: Store, state: ServerState) -> None:
    """Remove everything `state` records (and what its launch created but had not recorded
    yet), then the state itself. Raises `LokError` (keeping the state, so `rm` can be
    retried) when the engine cannot remove something."""
    stop_process(state.proxy_pid, state.proxy_start)
    if state.launcher_pid != os.getpid():
        stop_process(state.launcher_pid, state.launcher_start)
    if engine is not None:
        remove_engine_objects(engine, state)
    with store.lock():
        remove_files(store, state)
        store.remove(state.name)


def remove_engine_objects(engine: ContainerEngine, state: ServerState) -> None:
    """Remove the containers and networks `state` records, and those carrying its launch's
    nonce (created just before a crash, or for a client session by the proxy)."""
    # INVARIANT: mcp-lok removes only what it created: ids its state recorded, or objects
    # carrying the nonce it recorded before creating anything. mcp-lok's labels alone (a
    # look-alike made by hand) are never enough.
    launched: list[str] = []
    nets: list[str] = []
    if is_nonce(state.launch):
        nonce = {LAUNCH_LABEL: state.launch or ""}
        launched = [c["Id"] for c in engine.containers(nonce)]
        nets = [n["Id"] for n in engine.networks(nonce)]
    gate = [state.gate_id] if state.gate_id else []
    # the gate last: the server and any session's server live in its namespace
    containers = [i for i in [*state.ids, *launched] if i not in gate] + gate
    for container in dict.fromkeys(containers):
        engine.stop(container, timeout=CONTAINER_STOP_WAIT)
        engine.remove_container(container)
    for network in dict.fromkeys([*(n.id for n in state.networks), *nets]):
        engine.remove_network(network)


def look_alikes(
    engine: ContainerEngine, store: Store, name: str | None = None
) -> list[dict[str, Any]]:
    """Containers that carry mcp-lok's labels (for the server `name`, or any) that no
    launch created: made by hand, or recreated outside mcp-lok. mcp-lok leaves them be."""
    labels = {"mcp-lok": "true", **({"mcp-lok-name": name} if name else {})}
    listed = engine.containers(labels)
    # INVARIANT: state is read after the engine is listed. A launch records its state and
    # nonce before it creates anything, so whatever the list holds that a launch in
    # progress created is recorded by now; read earlier, it would look like a look-alike.
    states = store.all()
    return [c for c in listed if created_by(c, states) is None]


def remove_files(store: Store, state: ServerState) -> None:
    """The files and folders this server's launch wrote. A file outside the server's own
    folder (Podman's seccomp profiles, shared by content) stays when it was there before
    the launch, or while another server uses it; folders outside it always stay."""
    own = store.folder(state.name)
    others = {f for s in store.all() if s.name != state.name for f in s.files}
    for path in map(Path, state.files):
        if own not in path.parents and (str(path) in others or str(path) in state.kept):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    # shared folders (`seccomp/`, `empty/`) stay: another launch may be about to use them
    mine = [p for p in map(Path, state.dirs) if p == own or own in p.parents]
    for folder in sorted(mine, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):  # only when empty
            folder.rmdir()


def undo(engine: ContainerEngine, store: Store, state: ServerState) -> None:
    """Remove a failed launch, logging (not raising) what could not be removed."""
    try:
        teardown(engine, store, state)
    except LokError as error:
        log.error("could not remove everything `%s` created: %s", state.name, error.message)
    forget(state.name)


def forget(name: str) -> None:
    """The server `name` is gone for good: take it out of the MCP clients' files."""
    # INVARIANT: no client is left pointing at a server that is gone
    clients.forget(name)


# --- reaping ---------------------------------------------------------------------------


def reap(engine: ContainerEngine, store: Store) -> list[str]:
    """Remove what crashed commands left on `engine`: launches whose launcher died half-way
    (by their state: recorded ids and the launch's nonce). Returns the names reaped. What
    no state records is never reaped: `list --all` and `audit` report it."""
    reaped = []
    for state in store.all():
        launching = state.phase == Phase.STARTING.value
        if (
            launching
            and state.engine_url == engine.url
            and not alive(state.launcher_pid, state.launcher_start)
        ):
            log.warning("removing `%s`: its launch did not finish", state.name)
            undo(engine, store, state)
            reaped.append(state.name)
    return sorted(reaped)


__all__ = [
    "forget",
    "look_alikes",
    "reap",
    "remove_engine_objects",
    "remove_files",
    "stop_containers",
    "stop_process",
    "teardown",
    "undo",
]
