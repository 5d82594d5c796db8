"""The held GET stream through the forwarder (`proxy/getstream.py`, `proxy/forward.py`)
against a stand-in Streamable HTTP server on a Unix socket: it sends server messages on
its standalone GET stream the moment `notifications/initialized` arrives, and loses them
when no GET stream is open — the race a late client GET runs into."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from mcp_lok.proxy import getstream
from mcp_lok.proxy.forward import Forwarder

pytestmark = pytest.mark.timeout(60)

PORT = 8123
INITIALIZE = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
ABORT = b"abort"  # what makes the stand-in break its GET stream off
GREETINGS = 3  # messages the stand-in sends on the GET stream right after `initialized`


def event(n: int) -> bytes:
    return b'id: %d\r\nevent: message\r\ndata: {"jsonrpc":"2.0","method":"n/%d"}\r\n\r\n' % (n, n)


@dataclass
class StandIn:
    """A Streamable HTTP server's session handling, as much as these tests need."""

    offer_get: bool = True  # False: GET is answered 405
    end_after_greeting: bool = False  # the server ends its GET stream after the greetings
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    streams: dict[str, asyncio.Queue[bytes]] = field(default_factory=dict)
    gets: list[dict[str, str]] = field(default_factory=list)  # each GET's headers
    lost: int = 0  # messages sent while no GET stream was open
    closed: asyncio.Event = field(default_factory=asyncio.Event)  # a GET stream ended

    async def send(self, session: str, n: int) -> None:
        queue = self.streams.get(session)
        if queue is None:
            self.lost += 1
        else:
            await queue.put(event(n))


STAND_IN = web.AppKey("stand_in", StandIn)


async def _post(request: web.Request) -> web.Response:
    up = request.app[STAND_IN]
    body = await request.json()
    session = request.headers.get("Mcp-Session-Id")
    if session is None:
        created = f"s-{next(up.ids)}"
        answer = {"jsonrpc": "2.0", "id": body["id"], "result": {}}
        return web.json_response(answer, headers={"Mcp-Session-Id": created})
    if body.get("method") == "notifications/initialized":
        for n in range(1, GREETINGS + 1):
            await up.send(session, n)
        if up.end_after_greeting and session in up.streams:
            await up.streams[session].put(b"")
    return web.Response(status=202)


async def _get(request: web.Request) -> web.StreamResponse:
    up = request.app[STAND_IN]
    up.gets.append(dict(request.headers))
    session = request.headers.get("Mcp-Session-Id", "")
    if not up.offer_get:
        return web.Response(status=405)
    if session in up.streams or "Last-Event-ID" in request.headers:
        return web.Response(status=409)  # the SDK's answer to a second stream
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    up.streams[session] = queue
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Mcp-Session-Id": session}
    )
    try:
        await response.prepare(request)
        while chunk := await queue.get():
            if chunk == ABORT:
                assert request.transport is not None
                request.transport.abort()
                break
            await response.write(chunk)
    finally:
        del up.streams[session]
        up.closed.set()
    return response


async def _delete(request: web.Request) -> web.Response:
    return web.Response(status=200)


@pytest_asyncio.fixture
async def stand_in(sock_dir: str) -> AsyncIterator[StandIn]:
    up = StandIn()
    app = web.Application()
    app[STAND_IN] = up
    app.router.add_post("/mcp", _post)
    app.router.add_get("/mcp", _get)
    app.router.add_delete("/mcp", _delete)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    await web.UnixSite(runner, f"{sock_dir}/ingress.sock").start()
    try:
        yield up
    finally:
        for queue in list(up.streams.values()):
            queue.put_nowait(b"")
        await runner.cleanup()


@contextlib.asynccontextmanager
async def front(
    sock_dir: str, *, hold: bool = True, idle: float = 60.0, max_held: int | None = None
) -> AsyncIterator[str]:
    forwarder = Forwarder(f"{sock_dir}/ingress.sock", PORT, hold_get_stream=hold, idle_timeout=idle)
    if max_held is not None:
        assert forwarder.streams is not None
        forwarder.streams.registry.max_held = max_held
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forwarder.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/mcp"))
    finally:
        await forwarder.close()
        await server.close()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def initialize(http: aiohttp.ClientSession, url: str) -> str:
    """`initialize` and `notifications/initialized`, as a client sends them; the session."""
    async with http.post(url, json=INITIALIZE) as answer:
        assert answer.status == 200
        session = answer.headers["Mcp-Session-Id"]
    headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"}
    async with http.post(url, json=INITIALIZED, headers=headers) as answer:
        assert answer.status == 202
    return session


async def read_events(response: aiohttp.ClientResponse, count: int) -> bytes:
    data = b""
    async with asyncio.timeout(10):
        while data.count(b"\r\n\r\n") < count:
            chunk = await response.content.readany()
            assert chunk, data
            data += chunk
    return data


def get(
    http: aiohttp.ClientSession, url: str, session: str, **extra: str
) -> contextlib.AbstractAsyncContextManager[aiohttp.ClientResponse]:
    headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session, **extra}
    return http.get(url, headers=headers)


# --- the race, and how the hold closes it --------------------------------------------------


@pytest.mark.asyncio
async def test_without_the_hold_what_the_server_sends_before_a_late_get_is_lost(
    sock_dir: str, stand_in: StandIn, http: aiohttp.ClientSession
) -> None:
    async with front(sock_dir, hold=False) as url:
        await initialize(http, url)
    assert stand_in.lost == GREETINGS


@pytest.mark.asyncio
async def test_a_late_get_gets_the_held_events_in_order_then_the_live_stream(
    sock_dir: str, stand_in: StandIn, http: aiohttp.ClientSession
) -> None:
    async with front(sock_dir) as url:
        session = await initialize(http, url)
        assert stand_in.lost == 0
        await asyncio.sleep(0.2)  # the client takes its time
        async with get(http, url, session) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/event-stream"
            assert response.headers["Mcp-Session-Id"] == session
            held = await read_events(response, GREETINGS)
            assert held == b"".join(event(n) for n in range(1, GREETINGS + 1))
            await stand_in.send(session, 9)
            assert await read_events(response, 1) == event(9)  # live, and nothing twice
    # the forwarder's GET carried the client's session and protocol version, as its own would
    (opened,) = stand_in.gets
    assert opened["Mcp-Session-Id"] == session
    assert opened["MCP-Protocol-Version"] == "2025-06-18"
    assert opened["Accept"] == "text/event-stream"
    assert opened["Host"] == f"127.0.0.1:{PORT}"
    assert "Content-Type" not in opened


@pytest.mark.asyncio
async def test_a_client_that_leaves_its_stream_ends_it_and_its_next_get_goes_to_the_server(
    sock_dir: str, stand_in: StandIn, http: aiohttp.ClientSession
) -> None:
    async with front(sock_dir) as url:
        session = await initialize(http, url)
        async with get(http, url, session) as response:
            await read_events(response, GREETINGS)
        async with asyncio.timeout(10):
            await stand_in.closed.wait()
        async with get(http, url, session) as again:
            assert again.status == 200
            await stand_in.send(session, 7)
            assert await read_events(again, 1) == event(7)
    assert len(stand_in.gets) == 2


@pytest.mark.asyncio
async def test_a_stream_the_server_ended_gives_the_client_what_was_held_then_ends(
    sock_dir: str, stand_in: StandIn, http: aiohttp.ClientSession
) -> None:
    stand_in.end_after_greeting = True
    async with front(sock_dir) as url:
        session = await initialize(http, url)
        async with asyncio.timeout(10):
            await stand_in.closed.wait()
        async with get(http, url, session) as response:
            assert response.status == 200
            async with asyncio.timeout(10):
                body = await response.read()
    assert body == b"".join(event(n) for n in range(1, GREETINGS + 1))


@pytest.mark.asyncio
async def test_a_get_sent_alongside_initialized_gets_every_event_whichever_arrives_first(
    sock_dir: str, stand_in: StandIn, http: aiohttp.ClientSession
) -> None:
    # what the SDK client does: it starts its GET as it sends `notifications/initialized`
    greetings = b"".join(event(n) for n in range(1, GREETINGS + 1))
    async with front(sock_dir) as url:
        for _ in range(10):
            async with http.post(url, json=INITIALIZE) as answer:
                session = answer.headers["Mcp-Session-Id"]
            headers = {"Mcp-Session-Id": session}

            async def initialized(headers: dict[str, str] = headers) -> None:
                async with http.post(url, json=INITIALIZED, headers=headers) as answer:
                    assert answer.status == 202

            async def stream(session: str = session) -> bytes:
                async with get(http, url, session) as response:
                    assert response.status == 200
                    return await read_events(response, GREETINGS)

            _, received = await asyncio.gather(initialized(), stream())
            assert received == greetings
    assert stand_in.lost == 0


@pytest.mark.asyncio
async def test_a_stream_the_server_ends_after_the_client_took_it_ends_cleanly(
    sock_dir: str, stand_in: StandIn, http: aiohttp.ClientSession
) -> None:
    async with front(sock_dir) as url:
        session = await initialize(http, url)
        async with get(http, url, session) as response:
            await read_events(response, GREETINGS)
            await stand_in.send(session, 5)
            await stand_in.streams[session].put(b"")
            async with asyncio.timeout(10):
                assert await response.read() == event(5)


@pytest.mark.asyncio
async def test_a_stream_the_server_breaks_off_is_never_ended_cleanly_for_the_client(
    sock_dir: str, stand_in: StandIn, http: aiohttp.ClientSession
) -> None:
    async with front(sock_dir) as url:
        session = await initialize(http, url)
        async with get(http, url, session) as response:
            await read_events(response, GREETINGS)
            await stand_in.streams[session].put(ABORT)
            with pytest.raises(aiohttp.ClientPayloadError):
                async with asyncio.timeout(10):
                    await response.read()


# --- when nothing is held ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_server_without_a_get_stream_is_left_alone(
    sock_dir: str, stand_in: StandIn, http: aiohttp.ClientSession
) -> None:
    stand_in.offer_get = False
    async with front(sock_dir) as url:
        session = await initialize(http, url)
        async with get(http, url, session) as response:
            assert response.status == 405  # the server's own answer
    assert len(stand_in.gets) == 2


@pytest.mark.asyncio
async def test_a_client_whose_get_comes_first_keeps_it_and_nothing_is_held(
    sock_dir: str, stand_in: StandIn, http: aiohttp.ClientSession
) -> None:
    async with front(sock_dir) as url:
        async with http.post(url, json=INITIALIZE) as answer:
            session = answer.headers["Mcp-Session-Id"]
        async with get(http, url, session) as response:
            assert response.status == 200
            headers = {"Mcp-Session-Id": session}
            async with http.post(url, json=INITIALIZED, headers=headers) as answer:
                assert answer.status == 202
            assert await read_events(response, GREETINGS) == b"".join(
                event(n) for n in range(1, GREETINGS + 1)
            )
    assert len(stand_in.gets) == 1  # the client's own, never a second one


@pytest.mark.asyncio
async def test_a_get_resuming_with_last_event_id_goes_to_the_server(
    sock_dir: str, stand_in: StandIn, http: aiohttp.ClientSession
) -> None:
    async with front(sock_dir) as url:
        session = await initialize(http, url)
        async with get(http, url, session, **{"Last-Event-ID": "41"}) as response:
            assert response.status == 409  # the stand-in's answer: the server decided
        # and the held events still wait for the client's plain GET
        async with get(http, url, session) as response:
            assert await read_events(response, GREETINGS)
    assert stand_in.gets[1]["Last-Event-ID"] == "41"


# --- how held streams end ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_delete_ends_the_held_stream_and_drops_its_events(
    sock_dir: str, stand_in: StandIn, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_lok.proxy")
    async with front(sock_dir) as url:
        session = await initialize(http, url)
        await asyncio.sleep(0.1)  # the greetings reach the forwarder
        async with http.delete(url, headers={"Mcp-Session-Id": session}) as answer:
            assert answer.status == 200
        async with asyncio.timeout(10):
            await stand_in.closed.wait()
    assert f"dropped {GREETINGS} events held" in caplog.text
    assert "the client ended its session" in caplog.text


@pytest.mark.asyncio
async def test_an_idle_session_loses_its_held_stream(
    sock_dir: str,
    stand_in: StandIn,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(getstream, "SWEEP", 0.05)
    caplog.set_level(logging.INFO, logger="mcp_lok.proxy")
    async with front(sock_dir, idle=0.3) as url:
        await initialize(http, url)
        async with asyncio.timeout(10):
            await stand_in.closed.wait()
    assert "its session was idle" in caplog.text


@pytest.mark.asyncio
async def test_held_streams_are_bounded_the_least_recently_used_dropped(
    sock_dir: str,
    stand_in: StandIn,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_lok.proxy")
    async with front(sock_dir, max_held=1) as url:
        first = await initialize(http, url)
        assert first in stand_in.streams
        # one held stream at most: the next session's takes the first one's place
        second = await initialize(http, url)
        async with asyncio.timeout(10):
            await stand_in.closed.wait()
        assert first not in stand_in.streams
        assert second in stand_in.streams
    assert "too many streams are held" in caplog.text
