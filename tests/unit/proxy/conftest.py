"""A running proxy in front of the fake stdio server: `serve` exactly as the launcher calls
it, with the fake's end of a socketpair as the attached stream."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from mcp_lok.proxy import ProxyConfig, serve

from .fakes import FakeServer

ACCEPT_BOTH = {"Accept": "application/json, text/event-stream"}


@dataclass
class Proxy:
    url: str
    http: aiohttp.ClientSession
    server: FakeServer
    config: ProxyConfig
    stop: asyncio.Event
    task: asyncio.Future[None]
    gone: list[str]

    async def post(self, body: Any, session: str | None = None, **headers: str) -> Any:
        sent = {**ACCEPT_BOTH, **headers}
        if session is not None:
            sent["Mcp-Session-Id"] = session
        return await self.http.post(f"{self.url}/mcp", json=body, headers=sent)

    async def initialize(self, id: Any = 0) -> str:
        params = {
            "protocolVersion": "2025-06-18",
            "capabilities": {"sampling": {}, "roots": {}, "elicitation": {}},
            "clientInfo": {"name": "t"},
        }
        body = {"jsonrpc": "2.0", "id": id, "method": "initialize", "params": params}
        response = await self.post(body)
        assert response.status == 200, await response.text()
        session: str = response.headers["Mcp-Session-Id"]
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await self.post(note, session)).status == 202
        return session

    async def call(self, session: str, id: Any, tool: str, **arguments: Any) -> Any:
        params = {"name": tool, "arguments": arguments}
        body = {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}
        response = await self.post(body, session)
        assert response.status == 200, await response.text()
        return await response.json()


@pytest.fixture
def config(tmp_path: Path) -> ProxyConfig:
    return ProxyConfig(
        name="fake",
        transport="stdio",
        log_path=str(tmp_path / "server.log"),
        request_timeout=5.0,
        drain_timeout=2.0,
    )


@pytest_asyncio.fixture
async def proxy(config: ProxyConfig, request: pytest.FixtureRequest) -> AsyncIterator[Proxy]:
    overrides = getattr(request, "param", {})
    config = dataclasses.replace(config, **overrides)
    server = FakeServer()
    stream = await server.connect()
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    gone: list[str] = []
    running = serve(
        config, on_ready=ready.set_result, stop=stop, stream=stream, on_server_gone=gone.append
    )
    task = asyncio.ensure_future(running)
    url = await asyncio.wait_for(ready, 5)
    async with aiohttp.ClientSession() as http:
        yield Proxy(url, http, server, config, stop, task, gone)
        stop.set()
        await asyncio.wait_for(task, 10)
    await server.close()


@pytest.fixture
def sock_dir() -> Iterator[str]:
    """A short folder: a Unix socket path must fit in 107 bytes, pytest's tmp_path may not."""
    path = tempfile.mkdtemp(prefix="lok-", dir="/tmp")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
