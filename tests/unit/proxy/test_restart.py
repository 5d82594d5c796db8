"""A stdio server that dies and is started again: the proxy re-attaches, replays the
first client's handshake to the new process, and the sessions carry on; without a
restart the proxy reports the server gone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mcp_lok.proxy import ProxyConfig, serve
from mcp_lok.proxy.server import Stream

from .conftest import ACCEPT_BOTH
from .fakes import FakeServer

pytestmark = pytest.mark.asyncio


async def test_a_restarted_server_gets_the_handshake_and_the_session_carries_on(
    tmp_path: Path,
) -> None:
    first, second = FakeServer(), FakeServer()
    reasons: list[str] = []
    gone: list[str] = []

    async def restart(reason: str) -> Stream | None:
        reasons.append(reason)
        return await second.connect() if len(reasons) == 1 else None

    config = ProxyConfig(name="r", transport="stdio", log_path=str(tmp_path / "log"))
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(
        serve(
            config,
            on_ready=ready.set_result,
            stop=stop,
            stream=await first.connect(),
            on_server_gone=gone.append,
            restart=restart,
        )
    )
    url = await asyncio.wait_for(ready, 5) + "/mcp"
    async with aiohttp.ClientSession() as http:

        async def post(body: Any, session: str | None = None) -> Any:
            headers = {**ACCEPT_BOTH, **({"Mcp-Session-Id": session} if session else {})}
            return await http.post(url, json=body, headers=headers)

        init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t"}}
        answer = await post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
        session = answer.headers["Mcp-Session-Id"]
        await post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
        die = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "die"}}
        died = await (await post(die, session)).json()
        assert died["error"]["code"] == -32000  # reported at once, not after a timeout
        await second.until(lambda s: "notifications/initialized" in s.methods())
        assert second.methods() == ["initialize", "notifications/initialized"]
        assert second.received[0]["params"] == init  # the first client's own handshake
        call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "again"}}}  # fmt: skip
        again = await (await post(call, session)).json()
        assert again["result"]["content"][0]["text"] == "again"
        assert (await http.get(url.removesuffix("/mcp") + "/health")).status == 200
        assert gone == []
        await second.close()  # the second death is not restarted: reported gone
        for _ in range(100):
            if gone:
                break
            await asyncio.sleep(0.05)
        assert len(reasons) == 2
        assert len(gone) == 1
        assert (await http.get(url.removesuffix("/mcp") + "/health")).status == 503
    stop.set()
    await asyncio.wait_for(task, 10)
    await first.close()
