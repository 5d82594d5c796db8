"""The gate's half of the egress relay: one Unix-socket connection to the host per
accepted connection, opened with a one-line request that the host answers.

    gate → host   {"host": "api.github.com", "port": 443, "transport": "tcp", "via": "dns"}\\n
    host → gate   {"ok": true, "address": "140.82.121.6"}\\n  or  {"ok": false, "reason": "…"}\\n

After `ok`, a TCP connection is handed over: the gate sends a four-byte length, the
client's descriptor with it (SCM_RIGHTS), then that many bytes the destination must get
first (a rewritten proxy request), and closes its own copy. From then on mcp-lok on the
host splices the client to the destination in the kernel, with the gate out of the path.
A UDP flow stays on the stream: datagrams, each framed by a two-byte big-endian length.
The host decides; the gate never reaches the outside itself. No host process listening
means no egress (fail closed).
"""

from __future__ import annotations

import array
import asyncio
import json
import socket
import struct

from .sockets import read_line
from .splice import CHUNK

HOST_WAIT = 10.0  # the host process may still be starting when the server first dials
ANSWER_WAIT = 20.0  # the host resolves and connects before it answers
MAX_LINE = 4096
FRAME = struct.Struct("!H")
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Refused(Exception):
    """The host (or the gate itself) refused the destination; the message says why."""


async def open_relay(
    socket: str, host: str, port: int, transport: str, via: str, *, wait: float = HOST_WAIT
) -> tuple[Stream, str]:
    """Ask the host for `host:port/transport`; the open stream and the address it reached."""
    stream = await _connect(socket, wait)
    reader, writer = stream
    try:
        request = {"host": host, "port": port, "transport": transport, "via": via}
        writer.write(json.dumps(request).encode() + b"\n")
        async with asyncio.timeout(ANSWER_WAIT):
            line = await reader.readuntil(b"\n")
        answer = json.loads(line)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ValueError) as error:  # fmt: skip
        writer.transport.abort()
        raise Refused(f"the host did not answer ({type(error).__name__})") from None
    if not isinstance(answer, dict) or answer.get("ok") is not True:
        writer.transport.abort()
        reason = answer.get("reason") if isinstance(answer, dict) else None
        raise Refused(str(reason or "refused by the host"))
    return stream, str(answer.get("address", "?"))


async def _connect(socket: str, wait: float) -> Stream:
    loop = asyncio.get_running_loop()
    end = loop.time() + wait
    delay = 0.05
    while True:
        try:
            return await asyncio.open_unix_connection(socket, limit=max(CHUNK, MAX_LINE))
        except OSError as error:
            # INVARIANT: without the host process there is no way out: after `wait`
            # seconds the connection is refused, never sent anywhere else
            if loop.time() + delay >= end:
                raise Refused(f"mcp-lok on the host is not relaying ({error.strerror})") from None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


def frame(data: bytes) -> bytes:
    return FRAME.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The next datagram from a framed stream, or None at its end."""
    try:
        head = await reader.readexactly(FRAME.size)
        return await reader.readexactly(FRAME.unpack(head)[0])
    except asyncio.IncompleteReadError:
        return None


async def hand_over(
    path: str,
    client: socket.socket,
    request: dict[str, object],
    *,
    first: bytes = b"",
    on_open: bytes = b"",
    wait: float = HOST_WAIT,
) -> str:
    """Ask the host for `request`; when it agrees, send `on_open` to the client and pass
    the client (descriptor and unread bytes) with `first` to the host. The address the
    host reached; raises `Refused` with the host's reason otherwise."""
    loop = asyncio.get_running_loop()
    link = await connect_link(path, wait)
    try:
        await loop.sock_sendall(link, json.dumps(request).encode() + b"\n")
        try:
            async with asyncio.timeout(ANSWER_WAIT):
                answer = json.loads(await _read_line(link))
        except (OSError, TimeoutError, ValueError) as error:
            raise Refused(f"the host did not answer ({type(error).__name__})") from None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            reason = answer.get("reason") if isinstance(answer, dict) else None
            raise Refused(str(reason or "refused by the host"))
        if on_open:
            await loop.sock_sendall(client, on_open)
        # INVARIANT: the descriptor travels with its header in one message; the gate's own
        # copy is closed by the caller right after, so only the host holds the connection
        fds = array.array("i", [client.fileno()])
        link.sendmsg([FRAME_LENGTH.pack(len(first))], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        if first:
            await loop.sock_sendall(link, first)
        return str(answer.get("address", "?"))
    finally:
        link.close()


FRAME_LENGTH = struct.Struct("!I")


async def connect_link(path: str, wait: float) -> socket.socket:
    loop = asyncio.get_running_loop()
    end = loop.time() + wait
    delay = 0.05
    while True:
        link = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        link.setblocking(False)
        try:
            await loop.sock_connect(link, path)
            return link
        except OSError as error:
            link.close()
            # INVARIANT: without the host process there is no way out (fail closed)
            if loop.time() + delay >= end:
                raise Refused(f"mcp-lok on the host is not relaying ({error.strerror})") from None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


async def _read_line(link: socket.socket) -> bytes:
    """One answer line; the host sends nothing more until it has the descriptor."""
    line = await read_line(link, MAX_LINE)
    if line is None:
        raise OSError("the host closed the relay")
    return line
