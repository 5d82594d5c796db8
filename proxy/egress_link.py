"""The Unix link between the gate and mcp-lok on the host, the host's end: reading the
gate's request, answering it, taking over the client connection the gate hands over
(checked to be exactly one TCP socket), and carrying a UDP flow as framed datagrams.
The decisions themselves are `egress.py`'s."""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import os
import socket
import stat

from .gate.relay import FRAME_LENGTH, frame, read_frame
from .gate.sockets import read_line, readable
from .gate.splice import Traffic

UDP_IDLE = 60.0
MAX_REQUEST = 4096
MAX_FIRST = 64 * 1024  # a rewritten proxy request head


def printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


async def read_request(link: socket.socket) -> bytes:
    """The gate's request line; it sends nothing more before it has the answer."""
    line = await read_line(link, MAX_REQUEST)
    if line is None:
        raise ValueError("the gate sent no request")
    return line


async def answer(link: socket.socket, answer: dict[str, object]) -> None:
    await asyncio.get_running_loop().sock_sendall(link, json.dumps(answer).encode() + b"\n")


async def receive_client(link: socket.socket) -> tuple[socket.socket, bytes]:
    """The client's connection the gate hands over, and the bytes it sends first."""
    loop = asyncio.get_running_loop()
    while True:
        await readable(link)
        try:
            data, ancillary, _, _ = link.recvmsg(FRAME_LENGTH.size, socket.CMSG_SPACE(4 * 4))
        except BlockingIOError:
            continue
        break
    fds = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += array.array("i", payload[: len(payload) - len(payload) % 4]).tolist()
    client = _client_socket(fds)
    try:
        if len(data) < FRAME_LENGTH.size:
            data += await loop.sock_recv(link, FRAME_LENGTH.size - len(data))
        (size,) = FRAME_LENGTH.unpack(data)
        if size > MAX_FIRST:
            raise ValueError(f"the gate sent {size} bytes to go first")
        first = b""
        while len(first) < size:
            chunk = await loop.sock_recv(link, size - len(first))
            if not chunk:
                raise ValueError("the gate closed mid-handover")
            first += chunk
    except BaseException:
        client.close()
        raise
    return client, first


def _client_socket(fds: list[int]) -> socket.socket:
    """INVARIANT: exactly one descriptor, and it must be a TCP stream socket (the client's
    connection); anything else a subverted gate might send is closed, never used."""
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise ValueError(f"the gate handed over {len(fds)} descriptors, not one")
    if not stat.S_ISSOCK(os.fstat(fds[0]).st_mode):
        os.close(fds[0])
        raise ValueError("the gate handed over something that is not a socket")
    client = socket.socket(fileno=fds[0])
    if client.type != socket.SOCK_STREAM or client.family not in (socket.AF_INET,
                                                                  socket.AF_INET6):  # fmt: skip
        client.close()
        raise ValueError("the gate handed over a socket that is not a TCP connection")
    client.setblocking(False)
    return client


class Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(64)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable: the peer is not there; the flow idles out


async def open_udp(address: str, port: int) -> asyncio.DatagramTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Datagrams, remote_addr=(address, port))
    return transport


async def udp_relay(link: socket.socket, outside: asyncio.DatagramTransport) -> tuple[int, int]:
    """A UDP flow: framed datagrams on the gate's stream, plain ones to the destination."""
    protocol = outside.get_protocol()
    assert isinstance(protocol, Datagrams)
    reader, writer = await asyncio.open_connection(sock=link.dup())
    traffic = Traffic()

    async def out() -> None:
        while (data := await read_frame(reader)) is not None:
            outside.sendto(data)
            traffic.up += len(data)
        raise OSError("the gate ended the flow")

    async def back() -> None:
        while True:
            async with asyncio.timeout(UDP_IDLE):
                data = await protocol.queue.get()
            writer.write(frame(data))
            await writer.drain()
            traffic.down += len(data)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(out())
            group.create_task(back())
    except* (OSError, TimeoutError):
        pass
    finally:
        outside.close()
        writer.close()
    return traffic.up, traffic.down
