"""Ingress: the host's way in to an HTTP server, a Unix socket spliced to its port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import time

from .gate_config import Ingress
from .log import log
from .splice import CHUNK, DIAL_DEADLINE, Connections, DialError, Traffic, dial, splice


class IngressListener:
    """The host's way in: a Unix socket whose connections are spliced to the server."""

    label = "ingress"

    def __init__(
        self,
        ingress: Ingress,
        connections: Connections,
        *,
        host: str = "127.0.0.1",
        dial_deadline: float = DIAL_DEADLINE,
    ) -> None:
        self._ingress = ingress
        self._connections = connections
        self._host = host
        self._dial_deadline = dial_deadline
        self._server: asyncio.Server | None = None
        self._inode: tuple[int, int] | None = None

    async def start(self) -> None:
        path = self._ingress.socket
        _remove_stale_socket(path)
        # INVARIANT: the socket is created 0600 (no window with a wider mode): only the
        # gate's uid and root on the host may connect; its folder is the gate's alone and
        # is never mounted into the server.
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._accept, path=path, limit=CHUNK)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        info = os.stat(path)
        self._inode = (info.st_dev, info.st_ino)
        log.info("ingress: %s → %s:%d", path, self._host, self._ingress.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        # remove the socket only if it is still the one this listener bound
        with contextlib.suppress(FileNotFoundError):
            info = os.stat(self._ingress.socket)
            if (info.st_dev, info.st_ino) == self._inode:
                os.unlink(self._ingress.socket)
        self._inode = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._connections.serve(
            writer, self.label, lambda serial: self._relay(serial, reader, writer)
        )

    async def _relay(
        self, serial: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        started = time.monotonic()
        target = f"{self._host}:{self._ingress.port}"
        traffic = Traffic()
        outcome = "waiting for the server"
        try:
            server = await dial(
                self._host,
                self._ingress.port,
                deadline=self._dial_deadline,
                abandoned=lambda: reader.at_eof() or reader.exception() is not None,
            )
            outcome = "relayed"
            await splice((reader, writer), server, traffic)
        except DialError as error:
            writer.transport.abort()
            outcome = f"not relayed: {error}"
        except asyncio.CancelledError:
            writer.transport.abort()
            outcome += ", cut at shutdown"
            raise
        finally:
            took = time.monotonic() - started
            log.info(
                "ingress #%d → %s: %s, %d B up, %d B down, %.2f s",
                serial, target, outcome, traffic.up, traffic.down, took,
            )  # fmt: skip


def _remove_stale_socket(path: str) -> None:
    """A socket left by an earlier run of this gate is removed; anything else is an error."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise OSError(f"`{path}` exists and is not a socket")
    os.unlink(path)
