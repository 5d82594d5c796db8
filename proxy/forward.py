"""The host half of ingress: a reverse proxy from the host's HTTP server to an MCP server
that speaks HTTP itself, reached only through its gate's Unix socket.

Each request goes out as it came in — method, path, query, streamed body, end-to-end
headers — with `Host` set to the server's own loopback address, and the answer streams
back chunk by chunk, so SSE events reach the client as the server sends them. Origin,
Host and token checks, size limits and routing are `proxy/server.py`'s job; the gate
(`proxy/gate/`) splices the socket to the server's port. For a Streamable HTTP server the
forwarder also follows each session far enough to hold its standalone GET stream until the
client opens it (`proxy/getstream.py`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .getstream import StandaloneStreams
from .held import PEEK_BYTES, is_initialized
from .tasks import Tasks

log = logging.getLogger(__name__)

# Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection, not to the message.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Not forwarded upstream: `Host` is rewritten, and aiohttp answers `Expect` itself.
REQUEST_DROP = frozenset({"host", "expect"})

CONNECT_TIMEOUT = 10.0  # pool wait + connecting to the gate's socket
HEALTH_TIMEOUT = 3.0  # a health probe's whole exchange
SERVER_ERROR = 500  # an answer from this status up says the server is failing: not healthy
CLIENT_CHECK = 1.0  # how often a quiet stream checks that its client is still there
MAX_CONNECTIONS = 128  # each is one gate connection and one server connection
SESSION_HEADER = "Mcp-Session-Id"


def forwarded_request_headers(
    headers: Mapping[str, str] | CIMultiDictProxy[str], port: int, drop: Iterable[str] = ()
) -> CIMultiDict[str]:
    """The headers sent upstream: end-to-end ones only, with `Host` for the server."""
    out = CIMultiDict(_end_to_end(headers, REQUEST_DROP | {d.lower() for d in drop}))
    # INVARIANT: the server sees its own loopback Host, never the client's; SDK servers
    # check Host against localhost to resist DNS rebinding.
    out["Host"] = f"127.0.0.1:{port}"
    return out


def forwarded_response_headers(
    headers: Mapping[str, str] | CIMultiDictProxy[str],
) -> CIMultiDict[str]:
    """The headers sent back to the client: end-to-end ones, `Mcp-Session-Id` included."""
    return CIMultiDict(_end_to_end(headers, frozenset()))


def _end_to_end(
    headers: Mapping[str, str] | CIMultiDictProxy[str], drop: frozenset[str]
) -> list[tuple[str, str]]:
    items = list(headers.items())
    # headers that `Connection` names are hop-by-hop too
    named = {
        token.strip().lower()
        for key, value in items
        if key.lower() == "connection"
        for token in value.split(",")
    }
    skip = HOP_BY_HOP | named | drop
    return [(key, value) for key, value in items if key.lower() not in skip]


def bad_gateway(message: str) -> web.Response:
    return web.json_response({"error": "bad gateway", "message": message}, status=502)


def too_large(limit: int) -> web.Response:
    message = f"the request body is larger than {limit} bytes"
    # the rest of the body is not read: this connection cannot carry another request
    return web.json_response(
        {"error": "request too large", "message": message},
        status=413,
        headers={"Connection": "close"},
    )


class BodyTooLarge(Exception):
    """A streamed request body went past the limit; the upload is abandoned."""


async def _counted(content: aiohttp.StreamReader, limit: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in content.iter_any():
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLarge
        yield chunk


class Forwarder:
    """Forwards requests to the server listening on `port` behind the gate's socket."""

    def __init__(
        self,
        socket_path: str,
        port: int,
        *,
        drop_headers: Iterable[str] = (),
        max_body_bytes: int | None = None,
        hold_get_stream: bool = False,
        idle_timeout: float = 3600.0,
    ) -> None:
        """`drop_headers`: request headers the host proxy consumed and the server must not
        see (e.g. `Authorization` when it carries the proxy's own bearer token).
        `max_body_bytes`: the largest request body passed on; a streamed body is counted
        as it goes, so a chunked upload cannot slip past the limit.
        `hold_get_stream` (a Streamable HTTP server): open each session's GET stream as it
        is initialized and hold what the server sends on it until the client opens its own;
        held streams of sessions idle for `idle_timeout` seconds are dropped."""
        self._socket_path = socket_path
        self._port = port
        self._drop = frozenset(h.lower() for h in drop_headers)
        self._max_body = max_body_bytes
        self._base = URL.build(scheme="http", host="127.0.0.1", port=port)
        self._session: aiohttp.ClientSession | None = None
        self._tasks = Tasks("forwarder")
        self._streams = (
            StandaloneStreams(self._send, self._tasks, idle_timeout) if hold_get_stream else None
        )

    @property
    def streams(self) -> StandaloneStreams | None:
        """The sessions' held GET streams (a Streamable HTTP server), or None."""
        return self._streams

    async def _send(
        self, method: str, url: URL, headers: CIMultiDict[str]
    ) -> aiohttp.ClientResponse:
        return await self._client().request(method, url, headers=headers, allow_redirects=False)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = _session(self._socket_path, force_close=False)
        return self._session

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # the path and query exactly as the client encoded them
        url = URL.build(
            scheme="http",
            host="127.0.0.1",
            port=self._port,
            path=request.rel_url.raw_path,
            query_string=request.rel_url.raw_query_string,
            encoded=True,
        )
        headers = forwarded_request_headers(request.headers, self._port, self._drop)
        session_id = request.headers.get(SESSION_HEADER) if self._streams else None
        if self._streams is not None and session_id is not None:
            self._streams.touch(session_id)
            if request.method == "GET" and "Last-Event-ID" not in request.headers:
                held = await self._streams.serve(request, session_id)
                if held is not None:
                    return held
        limit = self._max_body
        if limit is not None and (request.content_length or 0) > limit:
            return too_large(limit)
        body: Any = None
        if request.body_exists:
            body = request.content if limit is None else _counted(request.content, limit)
            if session_id is not None and request.method == "POST":
                body = await self._initialized(request, session_id, url, headers, body)
        try:
            upstream = await self._client().request(
                request.method, url, headers=headers, data=body, allow_redirects=False
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            if limit is not None and _caused_by(error, BodyTooLarge):
                return too_large(limit)
            log.warning(
                "%s %s: no answer through the gate: %s", request.method, request.path, error
            )
            return bad_gateway(f"the server did not answer: {_reason(error)}")
        if self._streams is not None:
            self._follow(request.method, session_id, upstream)
        try:
            return await self._relay(request, upstream)
        finally:
            # a fully read connection goes back to the pool; a half-read one is closed
            upstream.release()

    async def _initialized(
        self,
        request: web.Request,
        session_id: str,
        url: URL,
        headers: CIMultiDict[str],
        body: Any,
    ) -> Any:
        """The body to send on. A small POST of a new session is read whole: when it is
        the client's `notifications/initialized`, the session's GET stream is opened first,
        so the server has it before it can send anything there."""
        streams = self._streams
        size = request.content_length
        if streams is None or not streams.wants_initialized(session_id):
            return body
        if size is None or size > PEEK_BYTES:
            return body
        raw = await request.read()
        if is_initialized(raw):
            await streams.open(session_id, url, headers)
        return raw

    def _follow(
        self, method: str, session_id: str | None, upstream: aiohttp.ClientResponse
    ) -> None:
        """What the server's answer says about sessions: a new one, or one that ended."""
        assert self._streams is not None
        if session_id is None:
            created = upstream.headers.get(SESSION_HEADER)
            if method == "POST" and created and 200 <= upstream.status < 300:
                self._streams.learn(created)
        elif method == "DELETE":
            self._streams.end(session_id, "the client ended its session")
        elif upstream.status == 404:
            self._streams.end(session_id, "the server no longer knows the session")

    async def _relay(
        self, request: web.Request, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(forwarded_response_headers(upstream.headers))
        try:
            await response.prepare(request)
        except ConnectionError:
            upstream.close()
            return response
        while True:
            try:
                chunk = await _next_chunk(request, upstream)
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                log.warning("%s %s: the server broke off: %s", request.method, request.path, error)
                # INVARIANT: a cut-off body is never ended cleanly; dropping the client's
                # connection tells it the response is incomplete
                if request.transport is not None:
                    request.transport.abort()
                return response
            if chunk is None:
                log.info("%s %s: the client left a quiet stream", request.method, request.path)
                upstream.close()  # so the server sees the stream end too
                return response
            if not chunk:
                break
            try:
                await response.write(chunk)
            except ConnectionError:
                log.info("%s %s: the client left mid-response", request.method, request.path)
                upstream.close()  # so the server sees the stream end too
                return response
        return response  # aiohttp ends the body, and copes if the client has gone

    async def healthy(self) -> tuple[bool, str]:
        """Whether the server answers HTTP through the gate now: any status counts but a
        server error (5xx), which is the server's own answer that it is failing."""
        try:
            mode = os.stat(self._socket_path).st_mode
        except OSError as error:
            return False, f"gate socket {self._socket_path}: {_reason(error)}"
        if not stat.S_ISSOCK(mode):
            return False, f"gate socket {self._socket_path} is not a socket"
        headers = {"Host": f"127.0.0.1:{self._port}", "Connection": "close"}
        timeout = aiohttp.ClientTimeout(total=HEALTH_TIMEOUT)
        try:
            async with (
                _session(self._socket_path, force_close=True) as session,
                session.get(self._base, headers=headers, timeout=timeout) as response,
            ):
                ok = response.status < SERVER_ERROR
                return ok, f"the server answered HTTP {response.status}"
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            return False, f"the server did not answer through the gate: {_reason(error)}"

    async def close(self) -> None:
        if self._streams is not None:
            await self._streams.close()
        await self._tasks.close()
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _next_chunk(request: web.Request, upstream: aiohttp.ClientResponse) -> bytes | None:
    """Whatever the server has sent, as soon as it arrives: each SSE event is written (and
    so flushed) on its own, never held back for more. `b""` at the end of the body; None
    when the client has gone while the server was quiet."""
    while True:
        try:
            async with asyncio.timeout(CLIENT_CHECK) as waited:
                return await upstream.content.readany()
        except TimeoutError:
            if not waited.expired():
                raise
        # a quiet stream notices a departed client only by looking: without this, an idle
        # SSE stream would hold its gate and server connections forever
        if request.transport is None or request.transport.is_closing():
            return None


def _session(socket_path: str, *, force_close: bool) -> aiohttp.ClientSession:
    connector = aiohttp.UnixConnector(
        path=socket_path, force_close=force_close, limit=MAX_CONNECTIONS
    )
    return aiohttp.ClientSession(
        connector=connector,
        # connect covers waiting for a pooled connection and reaching the gate; nothing
        # bounds the answer: a tool call may run for minutes, an SSE stream for hours
        timeout=aiohttp.ClientTimeout(
            total=None, connect=CONNECT_TIMEOUT, sock_connect=CONNECT_TIMEOUT, sock_read=None
        ),
        # INVARIANT: no state crosses clients: no cookie jar, no environment proxies
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        # bytes pass untouched: no decompression, no headers the client did not send
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
    )


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    """Whether `kind` is in the chain: aiohttp wraps what a body's iterator raises."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) or type(error).__name__
