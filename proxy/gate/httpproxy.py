"""The gate's HTTP proxy on 127.0.0.1:3128 (`HTTP_PROXY`, `HTTPS_PROXY`): `CONNECT host:port`
tunnels and plain `GET http://host/…` forwarding, to allowed destinations only, each
relayed to the host like any other connection. A tunnel's content (TLS) is not inspected:
the destination is what the allow-list decides.

A forwarded request is sent in origin form with `Connection: close`, so one client
connection carries requests to one destination only.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from .config import Egress
from .egress import relay_tcp
from .log import log
from .names import canonical, literal
from .splice import CHUNK, Connections

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
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        host, port = self._egress.proxy
        self._server = await asyncio.start_server(self._accept, host, port, limit=CHUNK)
        log.info("proxy: %s:%d relays allowed destinations only", host, port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._connections.serve(
            writer, self.label, lambda serial: self._handle(serial, reader, writer)
        )

    async def _handle(
        self, serial: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            async with asyncio.timeout(HEAD_WAIT):
                head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > HEAD_LIMIT:
                raise BadRequest("the request head is too long")
            host, port, tunnel, upstream = parse_head(head[:-4] + b"\r\n\r\n")
        except (BadRequest, asyncio.LimitOverrunError, asyncio.IncompleteReadError,
                TimeoutError, OSError) as error:  # fmt: skip
            await self._reply(writer, status(400, "Bad Request", str(error) or "bad request"))
            return
        problem = self._refusal(host, port)
        if problem:
            log.info("proxy #%d %s:%d: refused: %s", serial, host, port, problem)
            await self._reply(writer, status(403, "Forbidden", problem))
            return
        opened = b"HTTP/1.1 200 Connection established\r\n\r\n" if tunnel else b""
        refused = await relay_tcp(
            self._egress.socket, serial, "proxy", host, port, (reader, writer), upstream, opened
        )
        if refused is not None:
            await self._reply(writer, status(403, "Forbidden", refused))

    def _refusal(self, host: str, port: int) -> str | None:
        """What the gate refuses before asking the host. Any other request goes to the
        host, which decides and logs it (so `mcp-lok logs` shows every refusal)."""
        address = literal(host)
        if host == "localhost" or (address is not None and address.is_loopback):
            return "the namespace's own loopback is reached directly, not through the proxy"
        return None

    async def _reply(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        try:
            writer.write(data)
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        except OSError:
            pass
