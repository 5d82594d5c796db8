"""Egress listeners: one per allowed name × allowed port, on the name's own loopback
address, so software that ignores proxy variables, and protocols that are not HTTP
(databases, mail, …), reach exactly the allowed destinations. TCP connections and UDP
flows are relayed to the host (`relay.py`); nothing else listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import cast

from .config import Egress
from .log import log
from .names import Names
from .relay import Refused, frame, open_relay, read_frame
from .splice import CHUNK, Connections, Traffic, splice

UDP_IDLE = 60.0  # a UDP flow with no datagram either way for this long is closed
MAX_UDP_FLOWS = 64  # per listener
MAX_PENDING = 16  # datagrams held while a flow's relay opens


class Destinations:
    """The listeners of every named destination; started for exact names at once and for
    wildcard names on their first lookup (before DNS answers)."""

    label = "egress"

    def __init__(self, egress: Egress, names: Names, connections: Connections) -> None:
        self._egress = egress
        self._names = names
        self._connections = connections
        self._servers: list[asyncio.Server] = []
        self._udp: list[UdpDestination] = []
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        for name, address in self._names.bound():
            await self.open(name, address)

    async def open(self, name: str, address: str) -> None:
        async with self._lock:
            for port, transport in sorted(self._names.allowed(name)):
                if transport == "tcp":
                    server = await asyncio.start_server(
                        self._acceptor(name, port),
                        host=address,
                        port=port,
                        limit=CHUNK,
                    )
                    self._servers.append(server)
                else:
                    udp = UdpDestination(self._egress.socket, name, port)
                    await udp.start(address)
                    self._udp.append(udp)
            log.info("egress: %s is %s", name, address)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for udp in self._udp:
            udp.close()
        self._servers, self._udp = [], []

    def _acceptor(
        self, name: str, port: int
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._connections.serve(
                writer, self.label, lambda serial: self._relay(serial, name, port, (reader, writer))
            )

        return accept

    async def _relay(
        self,
        serial: int,
        name: str,
        port: int,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        refused = await relay_tcp(self._egress.socket, serial, "dns", name, port, client, b"")
        if refused is not None:
            reset(client[1])


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (linger 0): the client sees a refused connection, not an
    empty answer it might take for a reply."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def relay_tcp(
    socket: str,
    serial: int,
    via: str,
    host: str,
    port: int,
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    first: bytes,
    on_open: bytes = b"",
) -> str | None:
    """Relay one TCP connection to `host:port` through the host; `first` goes upstream
    and `on_open` to the client once the host has connected. Why it was refused, or None."""
    started = time.monotonic()
    traffic = Traffic()
    outcome = "refused"
    try:
        upstream, address = await open_relay(socket, host, port, "tcp", via)
    except Refused as error:
        log.info("egress #%d %s %s:%d: refused: %s", serial, via, host, port, error)
        return str(error)
    try:
        outcome = f"relayed to {address}"
        if first:
            upstream[1].write(first)
        if on_open:
            client[1].write(on_open)
        await splice(client, upstream, traffic)
    except asyncio.CancelledError:
        outcome += ", cut at shutdown"
        raise
    finally:
        log.info(
            "egress #%d %s %s:%d: %s, %d B up, %d B down, %.2f s",
            serial, via, host, port, outcome, traffic.up, traffic.down,
            time.monotonic() - started,
        )  # fmt: skip
    return None


class UdpDestination(asyncio.DatagramProtocol):
    """One allowed UDP destination: each client (source address) is a flow, relayed over
    its own framed stream to the host."""

    def __init__(self, socket: str, name: str, port: int) -> None:
        self._socket, self._name, self._port = socket, name, port
        self._transport: asyncio.DatagramTransport | None = None
        self._flows: dict[tuple[str, int], asyncio.Queue[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, address: str) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(address, self._port))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        queue = self._flows.get(addr)
        if queue is None:
            if len(self._flows) >= MAX_UDP_FLOWS:
                return
            queue = self._flows[addr] = asyncio.Queue(MAX_PENDING)
            task = asyncio.get_running_loop().create_task(self._flow(addr, queue))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(data)

    async def _flow(self, addr: tuple[str, int], queue: asyncio.Queue[bytes]) -> None:
        target = f"{self._name}:{self._port}/udp"
        try:
            (reader, writer), address = await open_relay(
                self._socket, self._name, self._port, "udp", "dns"
            )
        except Refused as error:
            log.info("egress udp %s: refused: %s", target, error)
            self._flows.pop(addr, None)
            return
        log.info("egress udp %s: relayed to %s", target, address)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._up(queue, writer))
                group.create_task(self._down(reader, addr))
        except* (OSError, TimeoutError):
            pass
        finally:
            self._flows.pop(addr, None)
            writer.close()

    async def _up(self, queue: asyncio.Queue[bytes], writer: asyncio.StreamWriter) -> None:
        while True:
            async with asyncio.timeout(UDP_IDLE):
                data = await queue.get()
            writer.write(frame(data))
            await writer.drain()

    async def _down(self, reader: asyncio.StreamReader, addr: tuple[str, int]) -> None:
        while (data := await read_frame(reader)) is not None:
            if self._transport is not None:
                self._transport.sendto(data, addr)
        raise OSError("the host ended the flow")

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        for task in list(self._tasks):
            task.cancel()
