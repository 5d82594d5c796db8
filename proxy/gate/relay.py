"""The gate's half of the egress relay: one Unix-socket connection to the host per
accepted connection, opened with a one-line request that the host answers.

    gate → host   {"host": "api.github.com", "port": 443, "transport": "tcp", "via": "dns"}\\n
    host → gate   {"ok": true, "address": "140.82.121.6"}\\n  or  {"ok": false, "reason": "…"}\\n

After `ok`, a TCP connection is raw bytes both ways; a UDP flow is datagrams, each framed
by a two-byte big-endian length. The host decides; the gate never reaches the outside
itself. No host process listening means no egress (fail closed).
"""

from __future__ import annotations

import asyncio
import json
import struct

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
