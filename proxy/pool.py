"""`--session-mode per-session`: every client session gets a server of its own, started
when the session opens and removed when it closes, for users who need clients isolated
from each other.

Each session is one `StdioBridge` (its own router, attach stream and server), so
everything about routing is as for a shared server with one client. Creating, starting
and removing the containers is the launcher's: it hands in `spawn`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .admission import Admission
from .bridge import StdioBridge, sweep
from .config import ProxyConfig
from .jsonrpc import Message
from .session import Kind, Session
from .tasks import Tasks

log = logging.getLogger(__name__)

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Remove = Callable[[], Awaitable[None]]
# starts a new server: its attached streams, and how to remove it
Spawn = Callable[[], Awaitable[tuple[Stream, Remove]]]
# seconds a session whose event stream ended may stay idle before its server is removed
# (`session_idle_timeout` if shorter): a Streamable HTTP client that vanished without
# DELETE leaves no other sign, and each session here holds a container
VANISHED_AFTER = 30.0


@dataclass(slots=True)
class _Server:
    bridge: StdioBridge
    tasks: Tasks
    remove: Remove


class PerSessionBridge:
    def __init__(self, config: ProxyConfig, spawn: Spawn, tasks: Tasks) -> None:
        self.config = config
        self.sessions: dict[str, Session] = {}
        self.draining = True
        self._spawn = spawn
        self._tasks = tasks
        self._servers: dict[str, _Server] = {}
        self._starting = 0  # servers being started for sessions not open yet
        # INVARIANT: at most `max_sessions` servers run (or start) at once; an idle
        # session's server is removed to make room, and when all are busy a new client is
        # refused rather than given another container
        self._admission = Admission(config.max_sessions)

    def start(self) -> None:
        # each server is a container: one whose client's stream ended goes sooner
        self._tasks.spawn(sweep(self, vanished_after=VANISHED_AFTER), name="session-sweeper")

    async def open_session(self, kind: Kind, *, stateless: bool = False) -> Session | None:
        """A session with a server of its own, or None when `max_sessions` are open and
        busy (an idle one's server is removed to make room: `admission`) or its server
        did not start (logged)."""
        if not await self._admission.make_room(self.sessions, self._count, self.close_session):
            return None
        self._starting += 1
        try:
            stream, remove = await self._spawn()
        except Exception as error:
            log.error("%s: a session's server did not start: %s", self.config.name, error)
            return None
        finally:
            self._starting -= 1
        tasks = Tasks(f"proxy:{self.config.name}:session")
        bridge = StdioBridge(self.config, *stream, tasks)
        bridge.start(sweeping=False)
        session = await bridge.open_session(kind, stateless=stateless)
        assert session is not None  # a bridge of one session is never full
        self.sessions[session.id] = session
        self._servers[session.id] = _Server(bridge, tasks, remove)
        return session

    def _count(self) -> int:
        return len(self.sessions) + self._starting

    async def close_session(self, session: Session) -> None:
        """End the session and remove its server."""
        server = self._servers.pop(session.id, None)
        if server is None:
            return
        del self.sessions[session.id]
        try:
            await server.bridge.close_session(session)
            await server.bridge.close()
            await server.tasks.close()
        finally:
            try:
                await server.remove()
            except Exception as error:  # left for `mcp-lok rm`: it carries the launch's nonce
                log.error("%s: removing a session's server failed: %s", self.config.name, error)

    async def submit(self, session: Session, message: Message) -> None:
        server = self._servers.get(session.id)
        if server is not None:
            await server.bridge.submit(session, message)

    async def cancel(self, session: Session, request_id: bytes, reason: str) -> None:
        server = self._servers.get(session.id)
        if server is not None:
            await server.bridge.cancel(session, request_id, reason)

    def health(self) -> tuple[bool, str]:
        # each session's own server failing shows in that session's answers; the proxy
        # is healthy while it can start servers for new sessions
        return True, f"per-session: {len(self._servers)} servers"

    def refusing(self) -> str | None:
        return self._admission.refusing(self.sessions.values(), self._count())

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            await self.close_session(session)
