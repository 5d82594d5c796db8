"""The gate's program: read the config, start every listener it asks for, serve until a
signal, then drain. `python3 -I -m mcp_lok_gate /run/mcp-lok-gate/gate.json` in the image.

* ingress (HTTP transports): a Unix socket whose every connection is spliced to the
  server's port on the shared loopback (`ingress.py`);
* egress (allow-listed networks): DNS (`dns.py`), one listener per allowed destination
  (`egress.py`) and an HTTP proxy (`httpproxy.py`), each relaying over a second Unix
  socket to the host, which decides again (`relay.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import stat
import sys
from dataclasses import dataclass, field
from typing import Protocol

from .dns import DnsServer
from .egress import Destinations
from .gate_config import MAX_BYTES, ConfigError, GateConfig
from .httpproxy import HttpProxy
from .ingress import IngressListener
from .log import log
from .names import Names
from .report import RefusalReport
from .splice import Connections

DRAIN_SECONDS = 3.0  # on the first SIGTERM, how long open connections may finish
EXIT_OK = 0
EXIT_FAILURE = 1  # a listener could not start
EXIT_CONFIG = 2  # the config is unreadable or invalid
READY = "ready"


class Listener(Protocol):
    """One door the gate serves, started and closed the same way as every other."""

    @property
    def label(self) -> str: ...

    async def start(self) -> None: ...

    async def close(self) -> None:
        """Stop accepting and remove whatever `start` created; open connections stay."""


def load_config(path: str) -> GateConfig:
    """The config at `path`, as the launcher wrote it (`GateConfig.from_json` validates it)."""
    try:
        # non-blocking, so a FIFO in the config's place cannot hang the gate
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError(f"`{path}` is not a regular file")
            data = os.read(fd, MAX_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as error:
        raise ConfigError(f"cannot read `{path}`: {error.strerror}") from error
    try:
        return GateConfig.from_json(data)
    except ConfigError as error:
        raise ConfigError(f"`{path}`: {error}") from None


def listeners(config: GateConfig, connections: Connections) -> list[Listener]:
    """The listeners a config asks for, in start order."""
    found: list[Listener] = []
    if config.ingress is not None:
        found.append(IngressListener(config.ingress, connections))
    if config.egress is not None:
        names = Names(config.egress)
        destinations = Destinations(config.egress, names, connections)

        async def lookup(name: str) -> str | None:
            address, new = names.address_of(name)
            if address is not None and new:
                # the listeners exist before the answer does, so the first dial connects
                try:
                    await destinations.open(name, address)
                except OSError as error:  # e.g. the server bound that address first
                    log.warning("egress: cannot listen for %s on %s: %s", name, address, error)
                    return None
            return address

        # listed before DNS, it closes after it: the last refusals are sent at shutdown
        report = RefusalReport(config.egress.socket)
        found += [
            destinations,
            HttpProxy(config.egress, connections),
            report,
            DnsServer(config.egress.dns, lookup, refused=report.note),
        ]
    return found


# --- running -------------------------------------------------------------------------


@dataclass
class Gate:
    """The event loop's owner: starts the listeners, waits for a signal, shuts down."""

    config: GateConfig
    connections: Connections = field(default_factory=Connections)
    drain_seconds: float = DRAIN_SECONDS
    # written once every listener is up (the launcher starts the server after it), and
    # removed at shutdown; in the gate's own folder, next to its config
    ready_file: str | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _started: list[Listener] = field(default_factory=list, init=False)

    def stop(self) -> None:
        """First call: stop accepting and drain. Second call: cut every connection now."""
        if self._stop.is_set():
            log.info("gate %s: second signal, cutting open connections", self.config.name)
            self.connections.cut()
        self._stop.set()

    async def start(self) -> None:
        for listener in listeners(self.config, self.connections):
            await listener.start()
            self._started.append(listener)

    async def run(self) -> None:
        try:
            await self.start()
            if self.ready_file is not None:
                _write_ready(self.ready_file)
            log.info("gate %s ready", self.config.name)
            await self._stop.wait()
            log.info(
                "gate %s stopping, %d connections open", self.config.name, len(self.connections)
            )
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        if self.ready_file is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.ready_file)
        while self._started:
            await self._started.pop().close()
        await self.connections.drain(self.drain_seconds)


def _write_ready(path: str) -> None:
    with open(f"{path}.tmp", "w", encoding="ascii") as marker:
        marker.write("ready\n")
    os.replace(f"{path}.tmp", path)


async def serve(config: GateConfig, ready_file: str | None = None) -> None:
    gate = Gate(config, ready_file=ready_file)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, gate.stop)
    try:
        await gate.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s mcp-lok-gate %(levelname)s %(message)s",
    )
    if len(args) != 1:
        log.error("usage: python3 -m mcp_lok_gate CONFIG.json")
        return EXIT_CONFIG
    try:
        config = load_config(args[0])
    except ConfigError as error:
        log.error("refusing to start: %s", error)
        return EXIT_CONFIG
    try:
        asyncio.run(serve(config, os.path.join(os.path.dirname(args[0]), READY)))
    except OSError as error:
        log.error("cannot serve: %s", error)
        return EXIT_FAILURE
    return EXIT_OK
