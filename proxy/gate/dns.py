"""The gate's resolver on 127.0.0.53 (UDP and TCP, port 53): it answers allowed names with
their own loopback address and every other name with NXDOMAIN, so DNS carries nothing out
of the namespace (no recursion, no forwarding, no exfiltration through lookups). Refused
names go to the host's log in bounded batches (`report.py`).

Only the wire format's small subset that stub resolvers send is read: one question, no
compression in it. Anything else gets FORMERR or is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import cast

from .log import log
from .tasks import Tasks

PORT = 53
TTL = 300
A, AAAA, IN = 1, 28, 1
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP = 0, 1, 2, 3, 4
HEADER = struct.Struct("!HHHHHH")
TCP_IDLE = 10.0
MAX_TCP_QUERIES = 64
# name -> its address (None: refused); may start the name's listeners first
Lookup = Callable[[str], Awaitable[str | None]]
Refused = Callable[[str], None]  # told each name refused (`report.RefusalReport.note`)


@dataclass(frozen=True, slots=True)
class Query:
    id: int
    flags: int
    name: str
    qtype: int
    qclass: int
    question: bytes  # as sent, echoed in the answer


def parse_query(data: bytes) -> Query | None:
    """The one question of a standard query, or None when `data` is not one."""
    if len(data) < HEADER.size:
        return None
    ident, flags, qdcount, _, _, _ = HEADER.unpack_from(data)
    if flags & 0x8000 or (flags >> 11) & 0xF != 0 or qdcount != 1:
        return None
    labels: list[str] = []
    at = HEADER.size
    while True:
        if at >= len(data):
            return None
        size = data[at]
        at += 1
        if size == 0:
            break
        if size > 63 or at + size > len(data):
            return None  # a compression pointer or a truncated label
        try:
            labels.append(data[at : at + size].decode("ascii").lower())
        except UnicodeDecodeError:
            return None
        at += size
    if at + 4 > len(data):
        return None
    qtype, qclass = struct.unpack_from("!HH", data, at)
    return Query(ident, flags, ".".join(labels), qtype, qclass, data[HEADER.size : at + 4])


def response(query: Query, rcode: int, addresses: Sequence[str] = ()) -> bytes:
    flags = 0x8000 | 0x0400 | (query.flags & 0x0100) | 0x0080 | rcode  # QR AA RD RA
    records = b""
    for text in addresses:
        packed = ipaddress.ip_address(text).packed
        kind = A if len(packed) == 4 else AAAA
        records += struct.pack("!HHHIH", 0xC00C, kind, IN, TTL, len(packed)) + packed
    return HEADER.pack(query.id, flags, 1, len(addresses), 0, 0) + query.question + records


def error(data: bytes, rcode: int) -> bytes | None:
    """A header-only error answer to an unreadable query, when it has a header at all."""
    if len(data) < HEADER.size:
        return None
    ident, flags = struct.unpack_from("!HH", data)
    if flags & 0x8000:
        return None  # never answer an answer
    return HEADER.pack(ident, 0x8000 | (flags & 0x0100) | rcode, 0, 0, 0, 0)


async def answer(data: bytes, lookup: Lookup, refused: Refused | None = None) -> bytes | None:
    query = parse_query(data)
    if query is None:
        return error(data, FORMERR)
    if query.qclass != IN:
        return response(query, NOTIMP)
    if query.name == "localhost":
        own = {A: ["127.0.0.1"], AAAA: ["::1"]}.get(query.qtype, [])
        return response(query, NOERROR, own)
    address = await lookup(query.name)
    if address is None:
        # INVARIANT: a name no rule allows is answered from here, never forwarded
        if refused is not None:
            refused(query.name)
        return response(query, NXDOMAIN)
    # allowed names have an IPv4 loopback address only; other types get no records
    return response(query, NOERROR, [address] if query.qtype == A else [])


class DnsUdp(asyncio.DatagramProtocol):
    def __init__(self, lookup: Lookup, refused: Refused | None = None) -> None:
        self._lookup, self._refused = lookup, refused
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks = Tasks("dns")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(self._tasks) >= 256 or self._tasks.closed:
            return  # a flood (the client retries), or the gate is stopping
        self._tasks.spawn(self._answer(data, addr), name="answer")

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await answer(data, self._lookup, self._refused)
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        await self._tasks.close()


class DnsServer:
    """DNS over UDP and TCP on one loopback address."""

    label = "dns"

    def __init__(
        self, address: str, lookup: Lookup, port: int = PORT, refused: Refused | None = None
    ) -> None:
        self._address, self._lookup, self._port = address, lookup, port
        self._refused = refused
        self._udp: DnsUdp | None = None
        self._tcp: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._udp = DnsUdp(self._lookup, self._refused)
        await loop.create_datagram_endpoint(
            lambda: self._udp or DnsUdp(self._lookup, self._refused),
            local_addr=(self._address, self._port),
        )
        self._tcp = await asyncio.start_server(self._tcp_client, self._address, self._port)
        log.info("dns: %s:%d answers allowed names only", self._address, self._port)

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(MAX_TCP_QUERIES):
                async with asyncio.timeout(TCP_IDLE):
                    size = struct.unpack("!H", await reader.readexactly(2))[0]
                    data = await reader.readexactly(size)
                reply = await answer(data, self._lookup, self._refused)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        if self._udp is not None:
            await self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
