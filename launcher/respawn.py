"""Servers the proxy starts while it runs: a stdio server that failed, started again
(`--restart on-failure[:N]`), and a server for each client session
(`--session-mode per-session`).

Launcher code that runs in the proxy's process: it loads the engine adapter only when
it first needs it, and hands the proxy attached streams (`mcp_lok.proxy.attach`), attached
before the container starts so that none of its output is lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .errors import LokError
from .state import ServerState

if TYPE_CHECKING:
    from mcp_lok.proxy.pool import Remove, Spawn
    from mcp_lok.proxy.server import Restart, Stream

log = logging.getLogger(__name__)

RESTART_DEFAULT = 5  # `on-failure` without a count: at most this many restarts


def parse_restart(value: str) -> int:
    """`no` → 0, `on-failure` → RESTART_DEFAULT, `on-failure:N` → N restarts at most."""
    if value == "no":
        return 0
    policy, _, count = value.partition(":")
    number = count.isascii() and count.isdigit() and 0 < int(count) <= 100
    if policy == "on-failure" and (not count or number):
        return int(count) if count else RESTART_DEFAULT
    raise LokError(
        f"unknown restart policy `{value}`",
        hint="`no`, `on-failure` or `on-failure:N` with N from 1 to 100",
    )


def restarter(state: ServerState, most: int) -> Restart:
    """Start a stdio server that failed (a non-zero exit) again, at most `most` times,
    a little later each time; returns the proxy's new attached streams. The engine
    adapter is loaded only when a server dies."""
    from mcp_lok.proxy.attach import attach

    restarts = 0
    container = state.container_id or ""
    socket = state.engine_url.removeprefix("unix://")

    async def restart(reason: str) -> Stream | None:
        nonlocal restarts
        if restarts >= most:
            log.warning("%s: not restarting: %d restarts already", state.name, restarts)
            return None
        from .engine import EngineClient

        loop = asyncio.get_running_loop()
        engine = await loop.run_in_executor(None, EngineClient.connect, state.engine_url)
        found = await loop.run_in_executor(None, engine.inspect, container)
        code = (found or {}).get("State", {}).get("ExitCode")
        if found is None or code == 0:
            return None  # removed, or it ended well: on-failure leaves it be
        restarts += 1
        log.warning("%s: exit code %s; restart %d of %d", state.name, code, restarts, most)
        await asyncio.sleep(min(restarts, 5) * 0.5)  # a crash loop does not spin
        stream = await attach(socket, container)  # before it starts: no output is lost
        await loop.run_in_executor(None, engine.start, container)
        return stream

    return restart


def session_spawner(state: ServerState, body: dict[str, Any]) -> Spawn:
    """For `--session-mode per-session`: create a container from the server's own
    payload (`body`, secrets filled) under a name of its own, attach, start it; and remove
    it when its session ends. It carries the server's labels, so `mcp-lok rm` finds any
    that a crash left behind."""
    import secrets

    from mcp_lok.proxy.attach import attach

    socket = state.engine_url.removeprefix("unix://")

    async def spawn() -> tuple[Stream, Remove]:
        from .engine import EngineClient

        loop = asyncio.get_running_loop()
        engine = await loop.run_in_executor(None, EngineClient.connect, state.engine_url)
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
