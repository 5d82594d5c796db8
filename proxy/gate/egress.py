"""Egress listeners: one per allowed name × allowed port, on the name's own loopback
address, so software that ignores proxy variables, and protocols that are not HTTP
(databases, mail, …), reach exactly the allowed destinations. TCP connections are handed
over to the host, UDP flows relayed to it (`relay.py`); nothing else listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import cast

from .gate_config import Egress
from .log import log
from .names import Names
from .relay import Refused, frame, hand_over, open_relay, read_frame
from .sockets import accept_forever, listen_tcp, reset
from .splice import Connections
from .tasks import Tasks

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
        self._tasks = Tasks("egress")
        self._udp: list[UdpDestination] = []
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        for name, address in self._names.bound():
            await self.open(name, address)

    async def open(self, name: str, address: str) -> None:
        async with self._lock:
            for port, protocol in sorted(self._names.allowed(name)):
                if protocol == "tcp":
                    listener = listen_tcp(address, port)
                    accept = accept_forever(listener, self._acceptor(name, port), self._connections)
                    self._tasks.spawn(accept, name=f"accept {name}:{port}")
                else:
                    udp = UdpDestination(self._egress.socket, name, port)
                    await udp.start(address)
                    self._udp.append(udp)
            log.info("egress: %s is %s", name, address)

    async def close(self) -> None:
        await self._tasks.close()
        for udp in self._udp:
            await udp.close()
        self._udp = []

    def _acceptor(
        self, name: str, port: int
    ) -> Callable[[socket.socket], Coroutine[object, object, None]]:
        async def accept(conn: socket.socket) -> None:
            await self._connections.serve(
                lambda: reset(conn),
                self.label,
                lambda serial: relay_tcp(self._egress.socket, serial, "dns", name, port, conn),
            )

        return accept


async def relay_tcp(
    path: str,
    serial: int,
    via: str,
    host: str,
    port: int,
    client: socket.socket,
    first: bytes = b"",
    on_open: bytes = b"",
    on_refused: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """Hand one TCP connection to the host for `host:port`; `first` goes to the destination
    before the client's own bytes, `on_open` to the client once the host has connected.
    A refused connection is reset, unless `on_refused` answers it."""
    started = time.monotonic()
    request = {"host": host, "port": port, "transport": "tcp", "via": via}
    try:
        address = await hand_over(path, client, request, first=first, on_open=on_open)
    except Refused as error:
        log.info("egress #%d %s %s:%d: refused: %s", serial, via, host, port, error)
        if on_refused is None:
            reset(client)
        else:
            await on_refused(str(error))  # an answer, then an orderly close
            client.close()
        return
    except BaseException:
        reset(client)
        raise
    client.close()  # the host holds the connection now
    log.info(
        "egress #%d %s %s:%d: handed to mcp-lok on the host, to %s, in %.3f s",
        serial, via, host, port, address, time.monotonic() - started,
    )  # fmt: skip


class UdpDestination(asyncio.DatagramProtocol):
    """One allowed UDP destination: each client (source address) is a flow, relayed over
    its own framed stream to the host."""

    def __init__(self, socket: str, name: str, port: int) -> None:
        self._socket, self._name, self._port = socket, name, port
        self._transport: asyncio.DatagramTransport | None = None
        self._flows: dict[tuple[str, int], asyncio.Queue[bytes]] = {}
        self._tasks = Tasks(f"udp {name}:{port}")

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
            if self._tasks.closed:
                return
            queue = self._flows[addr] = asyncio.Queue(MAX_PENDING)
            self._tasks.spawn(self._flow(addr, queue), name=f"flow {addr[0]}:{addr[1]}")
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

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        await self._tasks.close()
