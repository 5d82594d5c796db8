"""The gate's HTTP proxy on 127.0.0.1:3128 (`HTTP_PROXY`, `HTTPS_PROXY`): `CONNECT host:port`
tunnels and plain `GET http://host/…` forwarding, to allowed destinations only, each
relayed to the host like any other connection. A tunnel's content (TLS) is not inspected:
the destination is what the allow-list decides.

A forwarded request is sent in origin form with `Connection: close`, so one client
connection carries requests to one destination only.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from urllib.parse import urlsplit

from .egress import relay_tcp
from .gate_config import Egress
from .hosts import LOCALHOST, LOOPBACK, canonical, is_name, literal, never_dialled
from .log import log
from .sockets import accept_forever, listen_tcp, readable, reset
from .splice import Connections
from .tasks import Tasks

HEAD_LIMIT = 16 * 1024
HEAD_WAIT = 30.0
HOP_HEADERS = {b"proxy-connection", b"proxy-authorization", b"connection", b"keep-alive"}


class BadRequest(ValueError):
    pass


def parse_head(head: bytes) -> tuple[str, int, bool, bytes]:
    """(host, port, is CONNECT, the head to send upstream) of a proxy request head."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadRequest("not an HTTP/1 request line")
    method, target, version = parts
    if method == b"CONNECT":
        host, _, port = target.decode("ascii", "replace").rpartition(":")
        if not host or not port.isdigit():
            raise BadRequest("CONNECT needs host:port")
        return canonical(host), int(port), True, b""
    url = urlsplit(target.decode("ascii", "replace"))
    if url.scheme != "http" or not url.hostname:
        raise BadRequest("a proxied request needs an absolute http:// URL")
    try:
        number = url.port or 80
    except ValueError:
        raise BadRequest("bad port") from None
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    kept = [
        line
        for line in lines[1:]
        if line and line.split(b":", 1)[0].strip().lower() not in HOP_HEADERS
    ]
    upstream = b"\r\n".join(
        [b" ".join([method, path.encode(), version]), *kept, b"Connection: close", b"", b""]
    )
    return canonical(url.hostname), number, False, upstream


def status(code: int, reason: str, detail: str) -> bytes:
    body = f"mcp-lok gate: {detail}\n".encode()
    head = (
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class HttpProxy:
    label = "proxy"

    def __init__(self, egress: Egress, connections: Connections) -> None:
        self._egress, self._connections = egress, connections
        self._tasks = Tasks("proxy")

    async def start(self) -> None:
        host, port = self._egress.proxy
        listener = listen_tcp(host, port)
        self._tasks.spawn(accept_forever(listener, self._accept, self._connections), name="accept")
        log.info("proxy: %s:%d relays allowed destinations only", host, port)

    async def close(self) -> None:
        await self._tasks.close()

    async def _accept(self, conn: socket.socket) -> None:
        await self._connections.serve(
            lambda: reset(conn), self.label, lambda serial: self._handle(serial, conn)
        )

    async def _handle(self, serial: int, conn: socket.socket) -> None:
        try:
            async with asyncio.timeout(HEAD_WAIT):
                head = await read_head(conn)
            host, port, tunnel, upstream = parse_head(head)
        except (BadRequest, TimeoutError, OSError) as error:
            await _reply(conn, status(400, "Bad Request", str(error) or "bad request"))
            return
        problem = self._refusal(host, port)
        if problem:
            log.info("proxy #%d %s:%d: refused: %s", serial, host, port, problem)
            await _reply(conn, status(403, "Forbidden", problem))
            return

        async def refused(reason: str) -> None:
            await _reply(conn, status(403, "Forbidden", reason), close=False)

        opened = b"HTTP/1.1 200 Connection established\r\n\r\n" if tunnel else b""
        await relay_tcp(
            self._egress.socket, serial, "proxy", host, port, conn, upstream, opened, refused
        )

    def _refusal(self, host: str, port: int) -> str | None:
        """What the gate refuses before asking the host. Any other request goes to the
        host, which decides and logs it (so `mcp-lok logs` shows every refusal)."""
        # INVARIANT: the gate never relays a loopback or unspecified destination, however
        # spelt (`[::1]`, `::ffff:127.0.0.1`, `0.0.0.0`, `[::]`), nor a host that is neither
        # a name nor an address (`2130706433`, `0x7f.1`, `0`, which resolvers read as
        # addresses): in a rule, loopback is the namespace's own, reached directly
        address = literal(host)
        if address is None and not is_name(host):
            return f"`{host[:80]}` is not a host name"
        never = (
            LOOPBACK if host == LOCALHOST else None if address is None else never_dialled(address)
        )
        if never == LOOPBACK:
            return "the namespace's own loopback is reached directly, not through the proxy"
        if never is not None:
            return f"{never} is never a destination"
        return None


async def read_head(conn: socket.socket) -> bytes:
    """The request head, read exactly: every byte after it stays unread in the socket, to
    go to the destination with the connection itself."""
    while True:
        await readable(conn)
        peeked = conn.recv(HEAD_LIMIT, socket.MSG_PEEK)
        if not peeked:
            raise BadRequest("the client closed before its request head ended")
        end = peeked.find(b"\r\n\r\n")
        if end >= 0:
            return _take(conn, end + 4)
        if len(peeked) >= HEAD_LIMIT:
            raise BadRequest("the request head is too long")


def _take(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:  # all of it is buffered already: the peek saw it
        data += conn.recv(size - len(data))
    return data


async def _reply(conn: socket.socket, data: bytes, *, close: bool = True) -> None:
    with contextlib.suppress(OSError):
        await asyncio.get_running_loop().sock_sendall(conn, data)
        conn.shutdown(socket.SHUT_WR)
    if close:
        conn.close()
