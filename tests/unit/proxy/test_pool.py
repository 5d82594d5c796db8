"""`--session-mode per-session` in front of fake servers: each session starts a server of
its own, gets its own `initialize` through, and closing the session removes its server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mcp_lok.proxy import ProxyConfig, serve
from mcp_lok.proxy.errors import ProxyError
from mcp_lok.proxy.pool import Remove, Stream

from .conftest import ACCEPT_BOTH
from .fakes import FakeServer

pytestmark = pytest.mark.asyncio

INIT = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t"}}


async def test_every_session_gets_a_server_of_its_own_removed_with_it(tmp_path: Path) -> None:
    servers: list[FakeServer] = []
    removed: list[int] = []

    async def spawn() -> tuple[Stream, Remove]:
        server = FakeServer()
        servers.append(server)
        number = len(servers)

        async def remove() -> None:
            removed.append(number)
            await server.close()

        return await server.connect(), remove

    config = ProxyConfig(
        name="p", transport="stdio", session_mode="per-session", log_path=str(tmp_path / "l")
    )
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(serve(config, on_ready=ready.set_result, stop=stop, spawn=spawn))
    base = await asyncio.wait_for(ready, 5)
    async with aiohttp.ClientSession() as http:

        async def post(body: Any, session: str | None = None) -> Any:
            headers = {**ACCEPT_BOTH, **({"Mcp-Session-Id": session} if session else {})}
            return await http.post(f"{base}/mcp", json=body, headers=headers)

        sessions = []
        for n in range(2):
            body = {"jsonrpc": "2.0", "id": n, "method": "initialize", "params": INIT}
            sessions.append((await post(body)).headers["Mcp-Session-Id"])
        assert len(servers) == 2
        assert [s.methods() for s in servers] == [["initialize"], ["initialize"]]  # no cache
        for n, session in enumerate(sessions):
            params = {"name": "echo", "arguments": {"text": f"s{n}"}}
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
            answer = await (await post(call, session)).json()
            assert answer["result"]["content"][0]["text"] == f"s{n}"
            assert servers[n].tools() == ["echo"]
        closed = await http.delete(f"{base}/mcp", headers={"Mcp-Session-Id": sessions[0]})
        assert closed.status == 200
        assert removed == [1]
        health = await (await http.get(f"{base}/health")).json()
        assert health["detail"] == "per-session: 1 servers"
    stop.set()
    await asyncio.wait_for(task, 10)
    assert removed == [1, 2]  # shutting down removes the rest


async def test_a_server_per_session_needs_stdio_and_a_spawn() -> None:
    config = ProxyConfig(name="p", transport="stdio", session_mode="per-session")
    with pytest.raises(ProxyError):
        await serve(config, on_ready=print, stop=asyncio.Event())


async def test_a_session_whose_server_does_not_start_gets_503_and_nothing_stays(
    tmp_path: Path,
) -> None:
    async def spawn() -> tuple[Stream, Remove]:
        raise OSError("the engine said no")

    config = ProxyConfig(name="p", transport="stdio", session_mode="per-session")
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(serve(config, on_ready=ready.set_result, stop=stop, spawn=spawn))
    base = await asyncio.wait_for(ready, 5)
    async with aiohttp.ClientSession() as http:
        body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT}
        refused = await http.post(f"{base}/mcp", json=body, headers=ACCEPT_BOTH)
        assert refused.status == 503
        assert "did not start" in (await refused.json())["error"]["message"]
        assert (await (await http.get(f"{base}/health")).json())["sessions"] == 0
    stop.set()
    await asyncio.wait_for(task, 10)
