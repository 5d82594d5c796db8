"""Servers the proxy starts while it runs: a stdio server that failed, started again
(`--restart on-failure[:N]`), and a server for each client session
(`--session-mode per-session`).

Launcher code that runs in the proxy's process: it loads the engine adapter (the docker
SDK: ~50 ms, and ~9 MiB of the detached proxy's memory) only when it first needs it, when
a server dies or a session starts, and hands the proxy attached streams
(`mcp_lok.proxy.attach`), attached before the container starts so that none of its output
is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_lok.proxy.attach import attach
from mcp_lok.proxy.pool import Remove, Spawn
from mcp_lok.proxy.server import Restart, Stream

from .errors import LokError
from .host import resolve
from .sockets import socket_path
from .state import ServerState, Store

if TYPE_CHECKING:  # the adapter loads the docker SDK: see the module's docstring
    from .engine import ContainerEngine

log = logging.getLogger(__name__)


def restarter(state: ServerState, most: int, gate_ready: Path | None = None) -> Restart:
    """Start a stdio server that failed (a non-zero exit) again, at most `most` times,
    a little later each time; returns the proxy's new attached streams. A server behind
    a gate gets its gate back first: the server joins the gate's namespace, so it cannot
    start without it, and with the gate down it would have no egress at all (`gate_ready`
    is the marker the gate writes once its DNS, listeners and proxy serve). The engine
    adapter is loaded only when a server dies."""
    restarts = 0
    container = state.container_id or ""
    socket = socket_path(state.engine_url)

    async def restart(reason: str) -> Stream | None:
        nonlocal restarts
        if restarts >= most:
            log.warning("%s: not restarting: %d restarts already", state.name, restarts)
            return None
        loop = asyncio.get_running_loop()
        engine = await loop.run_in_executor(None, _connect, state.engine_url)
        found = await loop.run_in_executor(None, engine.inspect, container)
        code = (found or {}).get("State", {}).get("ExitCode")
        if found is None or code == 0:
            return None  # removed, or it ended well: on-failure leaves it be
        restarts += 1
        log.warning("%s: exit code %s; restart %d of %d", state.name, code, restarts, most)
        await loop.run_in_executor(None, counted, state.name)
        await asyncio.sleep(min(restarts, 5) * 0.5)  # a crash loop does not spin
        if state.gate_id:
            await loop.run_in_executor(None, gate_up, engine, state, gate_ready)
        stream = await attach(socket, container)  # before it starts: no output is lost
        await loop.run_in_executor(None, engine.start, container)
        return stream

    return restart


def counted(name: str) -> None:
    """Count one more start of NAME's server in its state (`inspect` shows it); a state
    that cannot be written is logged, and the restart goes on."""
    store = Store()
    try:
        if (state := store.load(name)) is not None:
            store.save(replace(state, restarts=state.restarts + 1))
    except (LokError, OSError) as error:
        log.warning("%s: could not count the restart: %s", name, error)


def _connect(url: str) -> ContainerEngine:
    # the docker SDK, loaded only now (see the module's docstring); `creation` with it
    from .engine import EngineClient

    return EngineClient.connect(url)


def gate_up(engine: ContainerEngine, state: ServerState, ready: Path | None) -> None:
    """Start the server's gate again if it stopped (it crashed, or someone stopped it) and
    wait until it serves; a gate that runs is left alone, so the server rejoins it."""
    from .creation import INGRESS_WAIT, wait_for_socket  # imports the adapter: as `_connect`

    gate = state.gate_id or ""
    seen = engine.inspect(gate)
    if seen is None:
        raise LokError(
            f"the gate of `{state.name}` is gone",
            hint=f"start the server afresh: `mcp-lok rm {state.name}`, then `mcp-lok start`",
        )
    if seen.get("State", {}).get("Running"):
        return
    log.warning("%s: its gate had stopped; starting it again", state.name)
    if ready is not None and str(ready) not in state.files:
        ready = None  # only a gate with egress writes the marker
    if ready is not None:
        with contextlib.suppress(FileNotFoundError):
            ready.unlink()  # a gate killed outright leaves its marker behind
    engine.start(gate)
    if ready is not None:
        wait_for_socket(engine, gate, ready, INGRESS_WAIT, "ready marker")


def session_spawner(state: ServerState, body: dict[str, Any]) -> Spawn:
    """For `--session-mode per-session`: create a container from the server's own
    payload (`body`, secrets filled) under a name of its own, attach, start it; and remove
    it when its session ends, by the id its create returned. It carries the launch's nonce
    (the body is the plan's), recorded in the state before anything was created, so
    `mcp-lok rm` finds any that a crash left behind, and nothing that only looks alike."""
    socket = socket_path(state.engine_url)

    async def spawn() -> tuple[Stream, Remove]:
        # INVARIANT: a session's container binds only what the launch judged: every bind
        # source (resolved at compile time) must still lead to itself
        moved(body)
        loop = asyncio.get_running_loop()
        engine = await loop.run_in_executor(None, _connect, state.engine_url)
        name = f"{state.container_name}-s{secrets.token_hex(4)}"
        container = await loop.run_in_executor(None, engine.create_container, name, body)

        async def remove() -> None:
            await loop.run_in_executor(None, engine.remove_container, container)

        try:
            stream = await attach(socket, container)  # before it starts: nothing is lost
            await loop.run_in_executor(None, engine.start, container)
        except BaseException:
            await remove()
            raise
        return stream, remove

    return spawn


def moved(body: dict[str, Any]) -> None:
    """Refuse a payload whose bind sources no longer lead to themselves: the plan names
    every host path as it resolved when the launch judged it, so a symlink put in its way
    since would make the engine bind something else. Raises `LokError`."""
    for mount in body.get("HostConfig", {}).get("Mounts", []):
        source = str(mount.get("Source", ""))
        resolved, broken = resolve(source)
        if broken or resolved != source or not os.path.lexists(source):
            raise LokError(
                f"the host path `{source}` changed since the launch judged it",
                hint="find out who changed it; the server's sessions stay refused until "
                "it is relaunched",
            )
