"""`serve` and `run`: configuration checked first, attach before `on_ready`, a busy port
reported, draining on stop, nothing left behind, the HTTP transports routed to the
forwarder behind the guard, and `run`'s signals (first drains, second forces)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from mcp_lok.proxy import AttachError, ProxyConfig, ProxyError, serve
from mcp_lok.proxy.server import url

from .conftest import ACCEPT_BOTH, Proxy
from .fakes import FakeEngine, FakeServer

pytestmark = pytest.mark.asyncio


def _never(url: str) -> None:
    raise AssertionError("on_ready must not be called")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (ProxyConfig(name="x", transport="grpc"), "unknown transport"),
        (ProxyConfig(name="x", transport="stdio"), "engine_socket"),
        (ProxyConfig(name="x", transport="sse"), "ingress_socket"),
    ],
)
async def test_a_config_that_cannot_work_is_refused_before_anything_runs(
    config: ProxyConfig, message: str
) -> None:
    with pytest.raises(ProxyError, match=message):
        await serve(config, on_ready=_never, stop=asyncio.Event())


async def test_attach_failure_comes_before_on_ready(tmp_path: Path) -> None:
    engine = FakeEngine(str(tmp_path / "e.sock"), FakeServer(), status=b"404 Not Found")
    await engine.start()
    config = ProxyConfig(name="x", transport="stdio", engine_socket=engine.path, container_id="c")
    with pytest.raises(AttachError):
        await serve(config, on_ready=_never, stop=asyncio.Event())
    await engine.close()


async def test_a_busy_port_is_a_proxy_error_with_a_hint(proxy: Proxy) -> None:
    port = int(proxy.url.rsplit(":", 1)[1])
    server = FakeServer()
    config = ProxyConfig(name="x", transport="stdio", port=port)
    with pytest.raises(ProxyError, match="cannot listen") as caught:
        await serve(config, on_ready=_never, stop=asyncio.Event(), stream=await server.connect())
    assert caught.value.hint
    await server.close()


async def test_serve_reports_a_loopback_url_and_leaves_no_task_behind(proxy: Proxy) -> None:
    assert proxy.url.startswith("http://127.0.0.1:")
    await proxy.initialize()
    proxy.stop.set()
    await asyncio.wait_for(proxy.task, 5)
    left = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("proxy:")]
    assert left == []


async def test_stop_lets_a_request_in_flight_finish(proxy: Proxy) -> None:
    session = await proxy.initialize()
    call = asyncio.ensure_future(proxy.call(session, 1, "slow", text="done"))
    await asyncio.sleep(0.1)
    proxy.stop.set()
    await asyncio.sleep(0.2)
    assert not call.done()
    proxy.server.release.set()
    answer = await asyncio.wait_for(call, 5)
    assert answer["result"]["content"][0]["text"] == "done"
    await asyncio.wait_for(proxy.task, 5)


async def test_stop_ends_open_streams(proxy: Proxy) -> None:
    session = await proxy.initialize()
    stream = await proxy.http.get(
        f"{proxy.url}/mcp", headers={"Accept": "text/event-stream", "Mcp-Session-Id": session}
    )
    legacy = await proxy.http.get(f"{proxy.url}/sse")
    proxy.stop.set()
    await asyncio.wait_for(proxy.task, 5)
    assert await asyncio.wait_for(stream.content.read(), 5) == b""
    assert (await asyncio.wait_for(legacy.content.read(), 5)).startswith(b"event: endpoint")


async def test_urls_bracket_ipv6() -> None:
    assert url("127.0.0.1", 80) == "http://127.0.0.1:80"
    assert url("::1", 80) == "http://[::1]:80"


# -- the HTTP transports: everything but /health goes to the forwarder ---------------------


@pytest_asyncio.fixture
async def gate(tmp_path: Path) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A server behind a gate socket (the gate's relay is not needed to test routing)."""
    seen: list[dict[str, Any]] = []

    async def anything(request: web.Request) -> web.Response:
        seen.append({"path": request.path_qs, "headers": dict(request.headers)})
        return web.json_response({"echo": request.path_qs}, headers={"Mcp-Session-Id": "up"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app)
    await runner.setup()
    path = str(tmp_path / "ingress.sock")
    await web.UnixSite(runner, path).start()
    yield path, seen
    await runner.cleanup()


@pytest.mark.parametrize("transport", ["sse", "streamable-http"])
async def test_http_transports_are_forwarded_behind_the_guard(
    gate: tuple[str, list[dict[str, Any]]], transport: str
) -> None:
    path, seen = gate
    config = ProxyConfig(
        name="h", transport=transport, ingress_socket=path, target_port=9000, bearer_token="t"
    )
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(serve(config, on_ready=ready.set_result, stop=stop))
    base = await asyncio.wait_for(ready, 5)
    auth = {"Authorization": "Bearer t"}
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{base}/mcp?x=1", json={}, headers={**ACCEPT_BOTH, **auth})
        assert await response.json() == {"echo": "/mcp?x=1"}
        assert response.headers["Mcp-Session-Id"] == "up"
        assert seen[-1]["headers"]["Host"] == "127.0.0.1:9000"
        assert "Authorization" not in seen[-1]["headers"]  # the proxy's token stays here
        refused = await http.get(f"{base}/sse", headers={"Origin": "http://evil", **auth})
        assert refused.status == 403
        assert (await http.get(f"{base}/sse")).status == 401
        assert len(seen) == 1
        health = await http.get(f"{base}/health")
        assert health.status == 200
        assert (await health.json())["transport"] == transport
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_http_health_is_503_when_the_gate_is_missing(tmp_path: Path) -> None:
    config = ProxyConfig(name="h", transport="sse", ingress_socket=str(tmp_path / "none.sock"))
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(serve(config, on_ready=ready.set_result, stop=stop))
    base = await asyncio.wait_for(ready, 5)
    async with aiohttp.ClientSession() as http:
        health = await http.get(f"{base}/health")
        assert health.status == 503
        assert "none.sock" in (await health.json())["reason"]
    stop.set()
    await asyncio.wait_for(task, 5)


# -- run(): a process of its own, with signals ---------------------------------------------

RUN = """
import sys
from mcp_lok.proxy import ProxyConfig, run
config = ProxyConfig(name="r", transport="stdio", engine_socket=sys.argv[1],
                     container_id="c0ffee", drain_timeout=float(sys.argv[2]))
sys.exit(run(config, lambda url: print(url, flush=True)))
"""


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[FakeEngine]:
    fake = FakeEngine(str(tmp_path / "engine.sock"), FakeServer())
    await fake.start()
    yield fake
    await fake.close()


async def _spawn(engine: FakeEngine, drain: float = 30.0) -> tuple[Any, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUN, engine.path, str(drain),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 15)
    assert line.startswith(b"http://127.0.0.1:"), await process.stderr.read()  # type: ignore[union-attr]
    return process, line.decode().strip()


async def test_run_stops_cleanly_on_sigterm(engine: FakeEngine) -> None:
    process, base = await _spawn(engine)
    async with aiohttp.ClientSession() as http:
        assert (await http.get(f"{base}/health")).status == 200
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_run_drains_on_the_first_signal_and_forces_on_the_second(
    engine: FakeEngine,
) -> None:
    process, base = await _spawn(engine)
    async with aiohttp.ClientSession() as http:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        response = await http.post(f"{base}/mcp", json=init, headers=ACCEPT_BOTH)
        headers = {**ACCEPT_BOTH, "Mcp-Session-Id": response.headers["Mcp-Session-Id"]}
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "slow"}}
        slow = asyncio.ensure_future(http.post(f"{base}/mcp", json=call, headers=headers))
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGINT)
        await asyncio.sleep(0.5)
        assert process.returncode is None  # still draining: the slow call is in flight
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 130
        slow.cancel()


async def test_run_returns_1_when_the_proxy_cannot_run(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUN, str(tmp_path / "none.sock"), "1",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 1
    assert b"cannot reach the engine" in err
