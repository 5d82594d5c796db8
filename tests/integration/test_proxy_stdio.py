"""The stdio proxy on the real engines, Docker and Podman: `mcp-server-time` created from
the compiled plan exactly, attached through the engine socket before it starts, served,
and driven by the official MCP Python SDK client through `/mcp` and `/sse`.

A missing engine or image skips locally and fails in CI (`CI` set).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import docker
import pytest
import pytest_asyncio
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from mcp_lok.policy import Engine, Target, compile_plan
from mcp_lok.policy.host import FixedHost
from mcp_lok.proxy import ProxyConfig, attach, serve
from mcp_lok.proxy.framing import Demuxer, Stream
from tests.e2e.engines import unavailable as _unavailable

SOCKETS = {"docker": "/var/run/docker.sock", "podman": "/run/podman/podman.sock"}
IMAGE = "mcp-lok/mcp-server-time:latest"
BASE_IMAGE = "mcp-lok/base:latest"

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.e2e,
    pytest.mark.transports,
    pytest.mark.timeout(180),
]
ENGINES = [pytest.param(name, marks=getattr(pytest.mark, name)) for name in SOCKETS]


@dataclass
class EngineUnderTest:
    name: str
    socket: str
    api: Any  # docker.APIClient
    created: list[str]

    def create(self, image: str, args: tuple[str, ...] = ()) -> str:
        """Create the server container from the compiled plan's payload, unchanged."""
        target = Target(image=image, name=f"it-{uuid.uuid4().hex[:10]}",
                        engine=Engine(self.name), args=args)  # fmt: skip
        plan = compile_plan("stdio", target, host=FixedHost()).to_dict()
        for entry in plan["files"]:  # Podman's seccomp profile is a file
            path = Path(entry["path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(entry["content"])
            path.chmod(int(entry["mode"], 8))
        created = self.api.create_container_from_config(
            plan["container"], name=plan["container_name"]
        )
        self.created.append(created["Id"])
        return str(created["Id"])


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[EngineUnderTest]:
    name: str = request.param
    socket = SOCKETS[name]
    if not os.path.exists(socket):
        _unavailable(f"{name} is not running ({socket} does not exist)")
    api = docker.APIClient(base_url=f"unix://{socket}", version="1.41", timeout=60)
    try:
        api.version()
        api.inspect_image(IMAGE)
    except docker.errors.ImageNotFound:
        _unavailable(f"{IMAGE} is missing on {name}; run `make images`")
    except Exception as error:  # any failure to answer means the engine is not usable
        _unavailable(f"{name} does not answer on {socket}: {error}")
    under_test = EngineUnderTest(name, socket, api, [])
    try:
        yield under_test
    finally:
        for container in under_test.created:  # only what this test created, by id
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_container(container, force=True)
        api.close()


@dataclass
class Served:
    url: str
    container: str
    gone: asyncio.Event  # set when the proxy reports the server's stream ended


@pytest_asyncio.fixture
async def served(engine: EngineUnderTest, tmp_path: Path) -> AsyncIterator[Served]:
    """The brief's order: create, attach, start, serve."""
    container = engine.create(IMAGE)
    stream = await attach(engine.socket, container)
    await asyncio.to_thread(engine.api.start, container)
    config = ProxyConfig(
        name="time", transport="stdio", log_path=str(tmp_path / "server.log"), request_timeout=30
    )
    async with serving(config, stream=stream) as (url, gone):
        yield Served(url, container, gone)


@contextlib.asynccontextmanager
async def serving(
    config: ProxyConfig, on_ready: Callable[[str], object] | None = None, **kwargs: Any
) -> AsyncIterator[tuple[str, asyncio.Event]]:
    """`serve` in a task; yields its URL and an event set if the server's stream ends."""
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    stop, gone = asyncio.Event(), asyncio.Event()

    def report(url: str) -> None:
        if on_ready is not None:
            on_ready(url)
        ready.set_result(url)

    task = asyncio.ensure_future(
        serve(config, on_ready=report, stop=stop, on_server_gone=lambda _: gone.set(), **kwargs)
    )
    try:
        done, _ = await asyncio.wait([ready, task], timeout=30, return_when="FIRST_COMPLETED")
        if task in done:
            task.result()  # raises what serve raised
        yield await ready, gone
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def _use_time_server(session: ClientSession, timezone: str) -> dict[str, Any]:
    init = await session.initialize()
    assert init.server_info.name == "mcp-time"
    tools = await session.list_tools()
    assert "get_current_time" in [tool.name for tool in tools.tools]
    result = await session.call_tool("get_current_time", {"timezone": timezone})
    assert not result.is_error, result
    answer = result.structured_content or json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert answer["timezone"] == timezone
    return dict(answer)


async def test_the_sdk_client_uses_the_server_through_streamable_http(served: Served) -> None:
    async with (
        streamable_http_client(f"{served.url}/mcp") as (read, write),
        ClientSession(read, write) as session,
    ):
        answer = await _use_time_server(session, "Europe/Paris")
    assert answer["datetime"].endswith(("+01:00", "+02:00"))


async def test_the_sdk_client_uses_the_server_through_legacy_sse(served: Served) -> None:
    async with (
        sse_client(f"{served.url}/sse") as (read, write),
        ClientSession(read, write) as session,
    ):
        await _use_time_server(session, "Europe/Paris")


async def test_concurrent_sdk_sessions_each_get_their_own_answers(served: Served) -> None:
    async def one(transport: str, timezone: str) -> list[str]:
        client = (
            streamable_http_client(f"{served.url}/mcp")
            if transport == "mcp"
            else sse_client(f"{served.url}/sse")
        )
        async with client as (read, write), ClientSession(read, write) as session:
            seen = [(await _use_time_server(session, timezone))["timezone"]]
            for _ in range(5):
                result = await session.call_tool("get_current_time", {"timezone": timezone})
                seen.append(result.structured_content["timezone"])  # type: ignore[index]
            return seen

    zones = {"Europe/Paris": "mcp", "Asia/Tokyo": "mcp", "America/New_York": "sse"}
    results = await asyncio.gather(*(one(t, zone) for zone, t in zones.items()))
    assert [set(r) for r in results] == [{zone} for zone in zones]


async def test_a_raw_client_gets_id_types_back_and_health_while_alive(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        headers = {"Accept": "application/json, text/event-stream"}
        init = {"jsonrpc": "2.0", "id": "init-1", "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "raw", "version": "0"}}}  # fmt: skip
        response = await http.post(f"{served.url}/mcp", json=init, headers=headers)
        assert (await response.json())["id"] == "init-1"
        headers["Mcp-Session-Id"] = response.headers["Mcp-Session-Id"]
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await http.post(f"{served.url}/mcp", json=note, headers=headers)).status == 202
        call = {"jsonrpc": "2.0", "id": 41, "method": "tools/list"}
        response = await http.post(f"{served.url}/mcp", json=call, headers=headers)
        assert (await response.json())["id"] == 41
        health = await http.get(f"{served.url}/health")
        assert health.status == 200


async def test_when_the_container_dies_health_turns_503_and_clients_get_errors(
    engine: EngineUnderTest, served: Served
) -> None:
    await asyncio.to_thread(engine.api.kill, served.container)
    await asyncio.wait_for(served.gone.wait(), 20)
    async with aiohttp.ClientSession() as http:
        health = await http.get(f"{served.url}/health")
        assert health.status == 503
        assert "ended" in (await health.json())["reason"]
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        response = await http.post(f"{served.url}/mcp", json=init,
                                   headers={"Accept": "application/json"})  # fmt: skip
        assert (await response.json())["error"]["code"] == -32000


async def test_serve_attaches_itself_and_the_launcher_starts_on_ready(
    engine: EngineUnderTest, tmp_path: Path
) -> None:
    """The launcher's order: create, serve (which attaches, binds, then `on_ready`), start."""
    container = engine.create(IMAGE)
    config = ProxyConfig(name="time", transport="stdio", engine_socket=engine.socket,
                         container_id=container, log_path=str(tmp_path / "log"))  # fmt: skip
    # on_ready runs in the loop, as the launcher's does; starting is a quick engine call
    async with (
        serving(config, on_ready=lambda url: engine.api.start(container)) as (url, _),
        streamable_http_client(f"{url}/mcp") as (read, write),
        ClientSession(read, write) as session,
    ):
        await _use_time_server(session, "UTC")


async def test_attaching_before_start_loses_no_early_output(engine: EngineUnderTest) -> None:
    """What the container writes the moment it starts reaches an attach made before."""
    script = "echo early-out; echo early-err >&2; read line; echo got-$line"
    container = engine.create(BASE_IMAGE, args=("sh", "-c", script))
    reader, writer = await attach(engine.socket, container)
    await asyncio.to_thread(engine.api.start, container)
    writer.write(b"ping\n")
    demuxer = Demuxer()
    seen = {Stream.STDOUT: b"", Stream.STDERR: b""}
    async with asyncio.timeout(30):
        while chunk := await reader.read(65536):
            for stream, payload in demuxer.feed(chunk):
                seen[stream] += payload
    writer.close()
    assert seen[Stream.STDOUT] == b"early-out\ngot-ping\n"
    assert seen[Stream.STDERR] == b"early-err\n"
