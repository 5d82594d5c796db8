"""The stdio transport at run time: one attached server, many client sessions.

Reads the attach stream (demultiplex, re-split stdout into lines, stderr to the server's
log), feeds the router, writes what the router sends to stdin, and hands what it sends
to clients to their sessions. Knows when the server is gone and says so at `/health`.
HTTP is the app's business; protocol decisions are the router's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import IO, Protocol

from . import logfile
from .admission import Admission
from .config import ProxyConfig, private_log
from .framing import Demuxer, FramingError, LineSplitter, LineTooLong, Stream, encode_stdin
from .jsonrpc import Message
from .router import Out, Router, ToServer
from .session import Kind, Session
from .tasks import Tasks

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
WRITE_TIMEOUT = 30.0
MAX_LOG_LINE = 64 * 1024


class ServerLog:
    """The server's stderr, appended to a file line by line, each stamped as the log's
    lines are (complete lines only, so the proxy's own lines do not land mid-line), and
    each line handed to `on_line` as it comes (a foreground `run` shows them)."""

    def __init__(self, path: str | None, on_line: Callable[[str], None] | None = None) -> None:
        if path:
            private_log(path)
        self._file: IO[bytes] | None = open(path, "ab") if path else None  # noqa: SIM115 - closed in close()
        self._partial = b""
        self._on_line = on_line

    def write(self, data: bytes) -> None:
        head, sep, rest = (self._partial + data).rpartition(b"\n")
        self._partial = rest
        if len(self._partial) > MAX_LOG_LINE:
            head, sep, self._partial = head + sep + self._partial, b"\n", b""
        if sep:
            self._emit(head + b"\n")

    def close(self) -> None:
        if self._partial:
            self._emit(self._partial + b"\n")
            self._partial = b""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _emit(self, lines: bytes) -> None:
        texts = lines.decode("utf-8", "replace").splitlines()
        if self._file is not None:
            # one stamped line per line the server wrote (`logfile`)
            self._file.write(
                "".join(logfile.line(logfile.SERVER, t) + "\n" for t in texts).encode()
            )
            self._file.flush()
        if self._on_line is None and self._file is not None:
            return
        for text in texts:
            if self._on_line is not None:
                self._on_line(text)
            else:
                log.info("server: %s", text)


class Bridge(Protocol):
    """What the HTTP handlers need from the stdio side: one shared server
    (`StdioBridge`), or a server for each session (`pool.PerSessionBridge`)."""

    config: ProxyConfig
    sessions: dict[str, Session]
    draining: bool

    def start(self) -> None: ...

    async def open_session(self, kind: Kind, *, stateless: bool = False) -> Session | None: ...

    async def close_session(self, session: Session) -> None: ...

    async def submit(self, session: Session, message: Message) -> None: ...

    async def cancel(self, session: Session, request_id: bytes, reason: str) -> None: ...

    def health(self) -> tuple[bool, str]: ...

    def refusing(self) -> str | None: ...

    async def close(self) -> None: ...


async def sweep(owner: Bridge, vanished_after: float | None = None) -> None:
    """Close Streamable HTTP sessions a client abandoned without DELETE: idle (not busy)
    for `session_idle_timeout`, or, with `vanished_after`, for that long once their event
    stream ended (the client that held it is likely gone)."""
    loop = asyncio.get_running_loop()
    idle = owner.config.session_idle_timeout
    gone = min(idle, vanished_after) if vanished_after is not None else idle
    while True:
        await asyncio.sleep(min(gone / 4, 60.0))
        for session in list(owner.sessions.values()):
            quiet = loop.time() - session.last_seen
            if not session.busy and quiet > (gone if session.streamed else idle):
                log.info("closing idle session %s…", session.id[:6])
                await owner.close_session(session)


class StdioBridge:
    def __init__(
        self,
        config: ProxyConfig,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        tasks: Tasks,
        on_stderr: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.router = Router(config.name)
        self.sessions: dict[str, Session] = {}
        self._stateless = 0  # how many of `sessions` are stateless
        self._admission = Admission(config.max_sessions)
        self.gone: str | None = None
        self._reader = reader
        self._writer = writer
        self._tasks = tasks
        self._demux = Demuxer()
        self._lines = LineSplitter(config.max_line_bytes)
        self._stderr = ServerLog(config.log_path, on_stderr)
        self.server_gone = asyncio.Event()
        self.draining = True  # on shutdown, let requests in flight finish first

    def start(self, *, sweeping: bool = True) -> None:
        self._tasks.spawn(self._read(), name="server-output")
        if sweeping:  # else its owner sweeps
            self._tasks.spawn(sweep(self), name="session-sweeper")

    async def reattach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The server was started again: read and write its new streams, and replay the
        handshake so every session carries on (what was in flight got its error already)."""
        old = self._writer
        self._reader, self._writer = reader, writer
        self._demux, self._lines = Demuxer(), LineSplitter(self.config.max_line_bytes)
        old.close()
        self.gone = None
        self.server_gone = asyncio.Event()
        self._tasks.spawn(self._read(), name="server-output")
        await self._apply(self.router.restarted())

    # -- sessions -------------------------------------------------------------------------

    async def open_session(self, kind: Kind, *, stateless: bool = False) -> Session | None:
        """A new session, or None when `max_sessions` are open and busy (an idle one is
        closed to make room: `admission`). Stateless ones, which last one POST, are
        bounded by `max_stateless` instead."""
        if stateless:
            if self._stateless >= self.config.max_stateless:
                return None
        elif not await self._admission.make_room(self.sessions, self._open, self.close_session):
            return None
        session = Session(kind, stateless=stateless)
        self._stateless += stateless
        self.sessions[session.id] = session
        self.router.open(session.id, can_be_asked=not stateless)
        if not stateless:  # a stateless one lasts one request: its request line says it
            log.info("session %s… opened (%s)", session.id[:8], kind.value)
        return session

    def _open(self) -> int:
        return len(self.sessions) - self._stateless

    async def close_session(self, session: Session) -> None:
        if self.sessions.pop(session.id, None) is None:
            return
        self._stateless -= session.stateless
        session.close()
        if not session.stateless:
            log.info("session %s… closed", session.id[:8])
        await self._apply(self.router.close(session.id))

    # -- messages -------------------------------------------------------------------------

    async def submit(self, session: Session, message: Message) -> None:
        """One client message into the router, and what comes out to where it goes."""
        if session.closed:  # closed while the message was on its way in: drop it
            return
        session.touch()
        await self._apply(self.router.from_client(session.id, message))

    async def cancel(self, session: Session, request_id: bytes, reason: str) -> None:
        session.forget(request_id)
        await self._apply(self.router.cancel(session.id, request_id, reason))

    def health(self) -> tuple[bool, str]:
        if self.gone is not None:
            return False, self.gone
        if (error := self.router.handshake.error) is not None:
            return False, f"the server answered `initialize` with an error: {error}"
        if self.router.handshake.done:
            return True, "attached"
        return True, "attached; no `initialize` answered yet"

    def refusing(self) -> str | None:
        open_ = (s for s in self.sessions.values() if not s.stateless)
        return self._admission.refusing(open_, self._open())

    async def _apply(self, outs: list[Out]) -> None:
        if self._deliver(outs):
            await self._flush()

    def _deliver(self, outs: list[Out]) -> bool:
        """Route outputs; returns whether anything was written to the server."""
        wrote = False
        for out in outs:
            if isinstance(out, ToServer):
                if self.gone is None:
                    self._writer.write(encode_stdin(out.data))
                    wrote = True
            elif (session := self.sessions.get(out.session)) is not None:
                session.deliver(out.data, out.reply_to, out.only_if_waiting, out.related)
        return wrote

    async def _flush(self) -> None:
        if not self._writer.transport.get_write_buffer_size():
            return  # all of it is with the kernel already: nothing to wait for
        try:
            async with asyncio.timeout(WRITE_TIMEOUT):
                await self._writer.drain()
        except TimeoutError:
            self._lost(f"the server has not read its input for {WRITE_TIMEOUT:.0f}s")
        except OSError as error:
            self._lost(f"writing to the server failed: {error}")

    # -- the server's output --------------------------------------------------------------

    async def _read(self) -> None:
        reason = "the server's output ended (the container stopped)"
        try:
            while chunk := await self._reader.read(READ_SIZE):
                self._feed(chunk)
        except (FramingError, LineTooLong) as error:
            reason = f"the server's output is broken: {error}"
        except OSError as error:
            reason = f"the attach connection failed: {error}"
        self._lost(reason)

    def _feed(self, chunk: bytes) -> None:
        for stream, payload in self._demux.feed(chunk):
            if stream is Stream.STDERR:
                self._stderr.write(payload)
                continue
            for line in self._lines.feed(payload):
                self._deliver(self.router.from_server(line))

    def _lost(self, reason: str) -> None:
        """The server is gone: every waiting client gets an error now; later requests too."""
        if self.gone is not None:
            return
        log.warning("%s: %s", self.config.name, reason)
        self._deliver(self.router.server_gone(reason))
        self.gone = reason
        self.server_gone.set()

    async def close(self) -> None:
        """End every session, then the attach connection (the container keeps running)."""
        for session in list(self.sessions.values()):
            await self.close_session(session)
        if self.gone is None:
            self.gone = "the proxy is shutting down"  # not the server's doing: no warning
        self._writer.close()
        try:
            async with asyncio.timeout(2.0):
                await self._writer.wait_closed()
        except (TimeoutError, OSError):
            pass
        self._stderr.close()
