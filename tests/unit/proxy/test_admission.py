"""Sessions at their limit: the least recently used idle session makes room (its client
gets 404), a new client is refused (503, `Retry-After`) only when all are busy, and
`/health` says `degraded` while that happens; in per-session mode, a session's server
goes with it however it ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from mcp_lok.proxy import ProxyConfig, serve
from mcp_lok.proxy import pool as pool_module
from mcp_lok.proxy.admission import RETRY_AFTER, Admission, idle_victim
from mcp_lok.proxy.pool import Remove, Stream
from mcp_lok.proxy.session import Kind, Session

from .conftest import ACCEPT_BOTH, Proxy
from .fakes import FakeServer

pytestmark = pytest.mark.asyncio

INIT = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t"}}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 7, "method": "tools/list"}


def _init(id: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": "initialize", "params": INIT}


async def _health(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    response = await http.get(f"{url}/health")
    return response.status, await response.json()


# --- which session makes room ------------------------------------------------------------


async def test_the_least_recently_used_idle_session_is_the_victim() -> None:
    old, new, busy = Session(Kind.STREAMABLE), Session(Kind.STREAMABLE), Session(Kind.STREAMABLE)
    old.last_seen, new.last_seen, busy.last_seen = 2.0, 3.0, 1.0
    busy.expect(b"1")  # a request in flight
    assert idle_victim([new, busy, old]) is old
    streaming = Session(Kind.SSE)
    streaming.streaming = True
    assert idle_victim([busy, streaming]) is None


async def test_a_session_is_idle_from_its_last_answer_not_from_its_last_request() -> None:
    """A server slower to answer than the idle timeout (one still starting, in per-session
    mode) must not leave its session to the sweeper the moment the answer is out."""
    session = Session(Kind.STREAMABLE)
    for end in (lambda: session.deliver(b"{}", b"1"), lambda: session.forget(b"1")):
        session.touch()
        asked = session.last_seen
        assert session.expect(b"1") is not None
        await asyncio.sleep(0.02)  # the server takes its time
        end()
        assert not session.busy
        assert session.last_seen > asked
    session.listen(b"2")
    asked = session.last_seen
    await asyncio.sleep(0.02)
    session.unlisten(b"2")
    assert (session.busy, session.last_seen > asked) == (False, True)


async def test_admission_closes_until_there_is_room_then_refuses_and_says_so() -> None:
    sessions = {s.id: s for s in (Session(Kind.STREAMABLE), Session(Kind.STREAMABLE))}
    admission = Admission(2)

    async def close(session: Session) -> None:
        del sessions[session.id]

    assert admission.refusing(sessions.values(), len(sessions)) is None
    assert await admission.make_room(sessions, lambda: len(sessions), close)
    assert len(sessions) == 1
    for session in sessions.values():
        session.streaming = True
    sessions.update({(s := Session(Kind.SSE)).id: s})
    s.streaming = True
    full = admission.refusing(sessions.values(), len(sessions))
    assert full == "all 2 sessions are busy: a new one would be refused"
    assert not await admission.make_room(sessions, lambda: len(sessions), close)
    assert admission.refusing([], 0) == (
        "1 new sessions refused in the last 60 s: all 2 sessions were busy"
    )


# --- one shared server -------------------------------------------------------------------


@pytest.mark.parametrize("proxy", [{"max_sessions": 2}], indirect=True)
async def test_a_new_client_closes_the_least_recently_used_idle_session(proxy: Proxy) -> None:
    first = await proxy.initialize()
    second = await proxy.initialize()
    await proxy.call(first, 1, "echo", text="recent")  # `second` is now the least recent
    third = await proxy.initialize()
    assert (await proxy.post(TOOLS_LIST, second)).status == 404  # as the transport says
    for session in (first, third):
        assert (await proxy.call(session, 2, "echo", text="on"))["result"]
    status, about = await _health(proxy.http, proxy.url)
    assert (status, about["status"], about["sessions"]) == (200, "ok", 2)


@pytest.mark.parametrize("proxy", [{"max_sessions": 2}], indirect=True)
async def test_when_every_session_is_busy_a_new_client_is_refused_and_health_degraded(
    proxy: Proxy,
) -> None:
    sessions = [await proxy.initialize(), await proxy.initialize()]
    slow = [asyncio.ensure_future(proxy.call(s, 1, "slow")) for s in sessions]
    async with asyncio.timeout(5):
        await proxy.server.until(lambda server: server.tools().count("slow") == 2)
    status, about = await _health(proxy.http, proxy.url)
    assert (status, about["status"]) == (200, "degraded")
    assert about["reason"] == "all 2 sessions are busy: a new one would be refused"
    refused = await proxy.post(_init())
    assert refused.status == 503
    assert refused.headers["Retry-After"] == str(RETRY_AFTER)
    assert "all are busy" in (await refused.json())["error"]["message"]
    legacy = await proxy.http.get(f"{proxy.url}/sse")
    assert (legacy.status, legacy.headers["Retry-After"]) == (503, str(RETRY_AFTER))
    proxy.server.release.set()
    await asyncio.wait_for(asyncio.gather(*slow), 5)
    assert (await proxy.post(_init())).status == 200  # idle again: one made room
    status, about = await _health(proxy.http, proxy.url)
    assert (status, about["status"]) == (200, "degraded")  # refusals are recent
    assert about["reason"].startswith("2 new sessions refused in the last 60 s")


@pytest.mark.parametrize("proxy", [{"max_sessions": 1}], indirect=True)
async def test_a_session_with_an_open_stream_is_busy(proxy: Proxy) -> None:
    session = await proxy.initialize()
    listen = {"Accept": "text/event-stream", "Mcp-Session-Id": session}
    stream = await proxy.http.get(f"{proxy.url}/mcp", headers=listen)
    assert stream.status == 200
    assert (await proxy.post(_init())).status == 503
    stream.close()
    for _ in range(100):  # the proxy sees the stream end within a few tries
        if (await proxy.post(_init())).status == 200:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the stream's end did not make its session idle")
    assert (await proxy.post(TOOLS_LIST, session)).status == 404


# --- a server per session ----------------------------------------------------------------


class Servers:
    """Fake servers started by `spawn`, and which of them were removed."""

    def __init__(self) -> None:
        self.started: list[FakeServer] = []
        self.removed: list[int] = []

    async def spawn(self) -> tuple[Stream, Remove]:
        server = FakeServer()
        self.started.append(server)
        number = len(self.started)

        async def remove() -> None:
            self.removed.append(number)
            await server.close()

        return await server.connect(), remove

    @property
    def running(self) -> int:
        return len(self.started) - len(self.removed)


@pytest_asyncio.fixture
async def per_session(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, aiohttp.ClientSession, Servers]]:
    servers = Servers()
    overrides = dict(getattr(request, "param", {}))
    if "vanished_after" in overrides:  # read when the sweeper starts
        monkeypatch.setattr(pool_module, "VANISHED_AFTER", overrides.pop("vanished_after"))
    config = ProxyConfig(
        name="p",
        transport="stdio",
        session_mode="per-session",
        log_path=str(tmp_path / "log"),
        max_sessions=2,
        **overrides,
    )
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    running = serve(config, on_ready=ready.set_result, stop=stop, spawn=servers.spawn)
    task = asyncio.ensure_future(running)
    base = await asyncio.wait_for(ready, 5)
    async with aiohttp.ClientSession(headers=ACCEPT_BOTH) as http:
        yield base, http, servers
    stop.set()
    await asyncio.wait_for(task, 10)
    assert servers.running == 0  # stopping removes every server left


async def _open(http: aiohttp.ClientSession, base: str) -> aiohttp.ClientResponse:
    return await http.post(f"{base}/mcp", json=_init())


async def test_per_session_an_idle_sessions_server_makes_room_and_busy_ones_refuse(
    per_session: tuple[str, aiohttp.ClientSession, Servers],
) -> None:
    base, http, servers = per_session
    first = (await _open(http, base)).headers["Mcp-Session-Id"]
    second = (await _open(http, base)).headers["Mcp-Session-Id"]
    third = (await _open(http, base)).headers["Mcp-Session-Id"]
    assert (servers.removed, servers.running) == ([1], 2)  # the first's server went
    gone = await http.post(f"{base}/mcp", json=TOOLS_LIST, headers={"Mcp-Session-Id": first})
    assert gone.status == 404
    listening = [await _listen(http, base, s) for s in (second, third)]  # both busy now
    refused = await _open(http, base)
    assert (refused.status, refused.headers["Retry-After"]) == (503, str(RETRY_AFTER))
    assert servers.running == 2  # no third container
    status, about = await _health(http, base)
    assert (status, about["status"]) == (200, "degraded")
    for stream in listening:
        stream.close()


@pytest.mark.parametrize("per_session", [{"session_idle_timeout": 0.4}], indirect=True)
async def test_per_session_servers_of_abandoned_sessions_go_after_the_idle_timeout(
    per_session: tuple[str, aiohttp.ClientSession, Servers],
) -> None:
    base, http, servers = per_session
    for _ in range(2):
        assert (await _open(http, base)).status == 200  # and never deleted
    await _until(lambda: servers.running == 0)
    assert servers.removed == [1, 2]


@pytest.mark.parametrize("per_session", [{"vanished_after": 0.3}], indirect=True)
async def test_per_session_a_server_goes_soon_after_its_clients_stream_ended(
    per_session: tuple[str, aiohttp.ClientSession, Servers],
) -> None:
    base, http, servers = per_session
    session = (await _open(http, base)).headers["Mcp-Session-Id"]
    stream = await _listen(http, base, session)
    await asyncio.sleep(0.5)
    assert servers.running == 1  # its stream is open: busy, however long
    stream.close()  # the client vanished without DELETE
    await _until(lambda: servers.running == 0)


async def _listen(http: aiohttp.ClientSession, base: str, session: str) -> Any:
    headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session}
    stream = await http.get(f"{base}/mcp", headers=headers)
    assert stream.status == 200
    return stream


async def _until(done: Any, tries: int = 100) -> None:
    """Wait until `done()`, looking every 50 ms, at most `tries` times."""
    for _ in range(tries):
        if done():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not done in time")
