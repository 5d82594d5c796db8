"""The host half of ingress (`proxy/forward.py`) against a stand-in server: an aiohttp app
on a Unix socket plays the gate + server, a tiny front app routes everything to the
`Forwarder`, and a plain aiohttp client plays the MCP client."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from mcp_lok.proxy import forward
from mcp_lok.proxy.forward import Forwarder

pytestmark = pytest.mark.timeout(60)

PORT = 8123  # the server's port inside its namespace: only Host shows it


@dataclass
class Upstream:
    """What the stand-in server saw and the switches the tests flip."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    client_gone: asyncio.Event = field(default_factory=asyncio.Event)
    seen: list[dict[str, object]] = field(default_factory=list)
    failing: bool = False  # `/` answers 500 instead of 404


UP = web.AppKey("up", Upstream)


async def _root(request: web.Request) -> web.Response:
    return web.Response(status=500 if request.app[UP].failing else 404)


async def _echo(request: web.Request) -> web.Response:
    up: Upstream = request.app[UP]
    digest, size = hashlib.sha256(), 0
    async for chunk in request.content.iter_any():
        digest.update(chunk)
        size += len(chunk)
    seen = {
        "method": request.method,
        "raw_path": request.raw_path,
        "headers": list(request.headers.items()),
        "size": size,
        "sha256": digest.hexdigest(),
    }
    up.seen.append(seen)
    return web.json_response(seen, status=202, headers={"Mcp-Session-Id": "abc123"})


async def _sse(request: web.Request) -> web.StreamResponse:
    up: Upstream = request.app[UP]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Mcp-Session-Id": "s-1"}
    )
    await response.prepare(request)
    await response.write(b"event: message\ndata: one\n\n")
    await up.release.wait()
    await response.write(b"event: message\ndata: two\n\n")
    return response


async def _sse_forever(request: web.Request) -> web.StreamResponse:
    up: Upstream = request.app[UP]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    try:
        await response.write(b"data: hello\n\n")
        while True:
            await asyncio.sleep(0.05)
            await response.write(b": keep-alive\n\n")
    except (ConnectionError, asyncio.CancelledError):
        up.client_gone.set()
    return response


async def _sse_quiet(request: web.Request) -> web.StreamResponse:
    up: Upstream = request.app[UP]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"data: hello\n\n")
    try:
        await asyncio.sleep(3600)  # nothing more to say; no keep-alives either
    except asyncio.CancelledError:  # the runner cancels us when the connection drops
        up.client_gone.set()
        raise
    return response


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPTemporaryRedirect("/elsewhere")


async def _gzip(request: web.Request) -> web.Response:
    return web.Response(
        body=gzip.compress(b"squeezed"),
        headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
    )


async def _cookie(request: web.Request) -> web.Response:
    response = web.json_response({"cookie": request.headers.get("Cookie")})
    response.headers.add("Set-Cookie", "a=1; Path=/")
    response.headers.add("Set-Cookie", "b=2; Path=/")
    return response


async def _broken(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": "1000"})
    await response.prepare(request)
    await response.write(b"x" * 10)
    await asyncio.sleep(0.05)
    assert request.transport is not None
    request.transport.abort()
    return response


def write_file(path: str) -> None:
    with open(path, "w") as fh:
        fh.write("x")


@pytest_asyncio.fixture
async def upstream(sock_dir: str) -> AsyncIterator[Upstream]:
    up = Upstream()
    app = web.Application()
    app[UP] = up
    app.router.add_route("*", "/echo{tail:.*}", _echo)
    app.router.add_get("/", _root)
    app.router.add_get("/sse", _sse)
    app.router.add_get("/sse-forever", _sse_forever)
    app.router.add_get("/sse-quiet", _sse_quiet)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/gzip", _gzip)
    app.router.add_get("/cookie", _cookie)
    app.router.add_get("/broken", _broken)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    await web.UnixSite(runner, f"{sock_dir}/ingress.sock").start()
    try:
        yield up
    finally:
        up.release.set()
        await runner.cleanup()


@contextlib.asynccontextmanager
async def front(
    socket_path: str, drop_headers: tuple[str, ...] = (), max_body_bytes: int | None = None
) -> AsyncIterator[tuple[str, Forwarder]]:
    forwarder = Forwarder(
        socket_path, PORT, drop_headers=drop_headers, max_body_bytes=max_body_bytes
    )
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forwarder.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), forwarder
    finally:
        await forwarder.close()
        await server.close()


@pytest_asyncio.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


# --- requests go out as they came in -----------------------------------------------------


@pytest.mark.asyncio
async def test_a_request_goes_upstream_unchanged_but_for_host_and_hop_by_hop_headers(
    sock_dir: str, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Mcp-Session-Id": "abc123",
        "Mcp-Protocol-Version": "2025-06-18",
        "Connection": "keep-alive, X-Private-Hop",
        "X-Private-Hop": "1",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Proxy-Authorization": "Basic eDp5",
        "Host": "attacker.example:9999",
    }
    async with front(f"{sock_dir}/ingress.sock") as (url, _):
        response = await client.post(f"{url}/echo/a%2Fb?x=1&y=%20z&x=2", data=body, headers=headers)
        assert response.status == 202
        assert response.headers["Mcp-Session-Id"] == "abc123"
        seen = await response.json()
    assert seen["method"] == "POST"
    assert seen["raw_path"] == "/echo/a%2Fb?x=1&y=%20z&x=2"
    assert seen["size"] == len(body)
    assert seen["sha256"] == hashlib.sha256(body).hexdigest()
    got = CIMultiDict((k, v) for k, v in seen["headers"])
    assert got.getall("Host") == [f"127.0.0.1:{PORT}"]
    for name in ("Content-Type", "Accept", "Mcp-Session-Id", "Mcp-Protocol-Version"):
        assert got[name] == headers[name]
    for name in ("X-Private-Hop", "Keep-Alive", "TE", "Proxy-Authorization"):
        assert name not in got
    assert got["Content-Length"] == str(len(body))
    assert "User-Agent" in got  # the client's own, not one aiohttp made up


@pytest.mark.asyncio
async def test_a_large_chunked_body_streams_through(
    sock_dir: str, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    blob = bytes(range(256)) * 4 * 1024 * 5  # 5 MiB

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(blob), 65536):
            yield blob[i : i + 65536]

    async with front(f"{sock_dir}/ingress.sock") as (url, _):
        response = await client.put(f"{url}/echo", data=chunks())
        seen = await response.json()
    assert seen["size"] == len(blob)
    assert seen["sha256"] == hashlib.sha256(blob).hexdigest()


@pytest.mark.asyncio
async def test_dropped_headers_never_reach_the_server(
    sock_dir: str, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    async with front(f"{sock_dir}/ingress.sock", drop_headers=("Authorization",)) as (url, _):
        response = await client.get(f"{url}/echo", headers={"Authorization": "Bearer proxy"})
        seen = await response.json()
    assert "Authorization" not in CIMultiDict((k, v) for k, v in seen["headers"])


@pytest.mark.asyncio
async def test_a_body_over_the_limit_is_refused_sized_or_streamed(
    sock_dir: str, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 1024

    async with front(f"{sock_dir}/ingress.sock", max_body_bytes=32 * 1024) as (url, _):
        sized = await client.post(f"{url}/echo", data=b"x" * (40 * 1024))
        assert sized.status == 413
        assert (await sized.json())["error"] == "request too large"
        streamed = await client.post(f"{url}/echo", data=chunks())
        assert streamed.status == 413
        fits = await client.post(f"{url}/echo", data=b"x" * (32 * 1024))
        assert fits.status == 202
    assert [seen["size"] for seen in upstream.seen] == [32 * 1024]


# --- answers come back as they are sent --------------------------------------------------


@pytest.mark.asyncio
async def test_sse_events_arrive_one_by_one_with_the_session_header(
    sock_dir: str, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    async with (
        front(f"{sock_dir}/ingress.sock") as (url, _),
        client.get(f"{url}/sse") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.headers["Mcp-Session-Id"] == "s-1"
        # the second event is held back upstream: the first must arrive on its own
        first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5)
        assert first == b"event: message\ndata: one\n\n"
        upstream.release.set()
        rest = await asyncio.wait_for(response.content.read(), 5)
    assert rest == b"event: message\ndata: two\n\n"


@pytest.mark.asyncio
async def test_a_client_that_leaves_an_sse_stream_ends_it_upstream(
    sock_dir: str, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    async with front(f"{sock_dir}/ingress.sock") as (url, _):
        response = await client.get(f"{url}/sse-forever")
        assert await response.content.readuntil(b"\n\n") == b"data: hello\n\n"
        response.close()
        await asyncio.wait_for(upstream.client_gone.wait(), 5)


@pytest.mark.asyncio
async def test_a_client_that_leaves_a_quiet_stream_ends_it_upstream(
    sock_dir: str, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    async with front(f"{sock_dir}/ingress.sock") as (url, _):
        response = await client.get(f"{url}/sse-quiet")
        assert await response.content.readuntil(b"\n\n") == b"data: hello\n\n"
        response.close()
        await asyncio.wait_for(upstream.client_gone.wait(), forward.CLIENT_CHECK + 3)


@pytest.mark.asyncio
async def test_redirects_cookies_and_encodings_pass_through_untouched(
    sock_dir: str, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    async with front(f"{sock_dir}/ingress.sock") as (url, _):
        redirect = await client.get(f"{url}/redirect", allow_redirects=False)
        assert redirect.status == 307
        assert redirect.headers["Location"] == "/elsewhere"
        squeezed = await client.get(f"{url}/gzip")
        assert squeezed.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(await squeezed.read()) == b"squeezed"
        first = await client.get(f"{url}/cookie")
        assert first.headers.getall("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
        client.cookie_jar.clear()
        second = await client.get(f"{url}/cookie")
        # the forwarder keeps no cookie jar: nothing one client got reaches another
        assert (await second.json()) == {"cookie": None}


# --- failures -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_no_gate_means_a_short_json_502(sock_dir: str, client: aiohttp.ClientSession) -> None:
    async with front(f"{sock_dir}/missing.sock") as (url, forwarder):
        response = await client.post(f"{url}/mcp", data=b"{}")
        assert response.status == 502
        body = await response.json()
        ok, reason = await forwarder.healthy()
    assert body["error"] == "bad gateway"
    assert "did not answer" in body["message"]
    assert not ok
    assert "missing.sock" in reason


@pytest.mark.asyncio
async def test_a_server_that_breaks_off_leaves_the_client_an_incomplete_body(
    sock_dir: str, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    async with front(f"{sock_dir}/ingress.sock") as (url, _):
        response = await client.get(f"{url}/broken")
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


@pytest.mark.asyncio
async def test_healthy_says_whether_the_server_answers(sock_dir: str, upstream: Upstream) -> None:
    forwarder = Forwarder(f"{sock_dir}/ingress.sock", PORT)
    try:
        assert await forwarder.healthy() == (True, "the server answered HTTP 404")
        upstream.failing = True
        assert await forwarder.healthy() == (False, "the server answered HTTP 500")
    finally:
        await forwarder.close()


@pytest.mark.asyncio
async def test_healthy_gives_up_on_a_gate_whose_server_never_answers(
    sock_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forward, "HEALTH_TIMEOUT", 0.3)
    path = f"{sock_dir}/silent.sock"
    silent = socket.socket(socket.AF_UNIX)
    silent.bind(path)
    silent.listen()  # accepts like a gate whose server is still starting, never answers
    forwarder = Forwarder(path, PORT)
    try:
        started = time.monotonic()
        ok, reason = await forwarder.healthy()
        assert time.monotonic() - started < 2
    finally:
        silent.close()
    assert not ok
    assert reason == "the server did not answer through the gate: timed out"


@pytest.mark.asyncio
async def test_healthy_refuses_a_path_that_is_not_a_socket(sock_dir: str) -> None:
    path = f"{sock_dir}/file"
    write_file(path)
    ok, reason = await Forwarder(path, PORT).healthy()
    assert not ok
    assert "is not a socket" in reason


# --- the header rules, without sockets --------------------------------------------------


def test_request_headers_drop_what_connection_names_and_set_host() -> None:
    headers = CIMultiDict(
        [
            ("Host", "evil:1"),
            ("Connection", "Upgrade, X-A"),
            ("Upgrade", "websocket"),
            ("X-A", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Expect", "100-continue"),
            ("Accept", "a"),
            ("Accept", "b"),
            ("Cookie", "c=1"),
        ]
    )
    out = forward.forwarded_request_headers(headers, 9000, drop=["COOKIE"])
    assert list(out.items()) == [("Accept", "a"), ("Accept", "b"), ("Host", "127.0.0.1:9000")]


def test_response_headers_keep_the_session_and_drop_hop_by_hop() -> None:
    headers = CIMultiDict(
        [
            ("Mcp-Session-Id", "s"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "close"),
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-cache"),
        ]
    )
    assert list(forward.forwarded_response_headers(headers).items()) == [
        ("Mcp-Session-Id", "s"),
        ("Content-Type", "text/event-stream"),
        ("Cache-Control", "no-cache"),
    ]
