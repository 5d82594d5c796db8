"""Raw non-blocking sockets on the gate's event loop: listening, accepting, waiting for
data without reading it. Egress connections stay raw (never wrapped in asyncio streams,
which read ahead), because each is handed over whole, descriptor and unread bytes, to
mcp-lok on the host (`relay.hand_over`)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable, Coroutine

from .splice import Connections

BACKLOG = 128


def listen_tcp(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def accept_forever(
    sock: socket.socket,
    handle: Callable[[socket.socket], Coroutine[object, object, None]],
    connections: Connections,
) -> None:
    """Accept on `sock` until cancelled; each connection is handled in a task of its own,
    which owns (and closes) the connection, and which `connections` owns."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError:
                await asyncio.sleep(0.05)  # e.g. out of descriptors: back off, keep serving
                continue
            conn.setblocking(False)
            connections.spawn(handle(conn), name="connection")
    finally:
        sock.close()


async def readable(sock: socket.socket) -> None:
    """Wait until `sock` has data (or an end) to read, without reading it."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


async def read_line(sock: socket.socket, limit: int) -> bytes | None:
    """One line, up to its `\n`, from a peer that sends nothing more before it is answered;
    None when the peer closed first or sent more than `limit` bytes without one."""
    loop = asyncio.get_running_loop()
    data = b""
    while not data.endswith(b"\n"):
        chunk = await loop.sock_recv(sock, limit)
        if not chunk or len(data) > limit:
            return None
        data += chunk
    return data


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset (linger 0): the client sees a refused connection, not an
    empty answer it might take for a reply."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
