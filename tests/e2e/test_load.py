"""Feature area: transports — the proxy under load (features/load.feature), on real Docker
and Podman. Loopback only, every count and wait bounded, no timing asserted.

500 raw HTTP connections (one aiohttp connector, no pooling limit) each POST a stateless
`echo` with a text of their own, all in flight at once; 1,000 malformed requests of
several kinds arrive at the same time; 16 SDK sessions call `echo` meanwhile; and 100
more connections stall half-way through their headers or body the whole time. Memory is
the proxy process's resident set from /proc, before and after.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import random
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from mcp import ClientSession
from pytest_bdd import given, parsers, scenarios, then, when

from mcp_lok.launcher.state import Store

from .conftest import SdkClient, World, lok_start, proxy_auth, proxy_url, tool_text

scenarios("load.feature")

pytestmark = pytest.mark.timeout(300)

MIB = 1 << 20
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@given("`mcp-lok start` runs the test server over stdio with its protocol tools")
def start_test_server(world: World, lok_servers: list[str]) -> None:
    lok_start(world, lok_servers, "mcp-lok/http-test-server", "-e", "MCP_TEST_TOOLS=protocol")


def proxy_rss(world: World) -> int:
    state = Store().load(world["name"])
    assert state is not None
    assert state.proxy_pid, state
    status = Path(f"/proc/{state.proxy_pid}/status").read_text()
    [line] = [row for row in status.splitlines() if row.startswith("VmRSS:")]
    return int(line.split()[1]) * 1024


def malformed(n: int) -> tuple[bytes, dict[str, str]]:
    """The n-th malformed request: broken JSON, not JSON-RPC, bad ids, empty batches,
    binary noise, unknown sessions, a notification without a session."""
    kinds: list[tuple[bytes, dict[str, str]]] = [
        (b'{"jsonrpc": "2.0", "id": 1, "method": ', {}),
        (b"[]", {}),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "x"}', {}),
        (b'{"jsonrpc": "2.0", "id": {"nested": 1}, "method": "x"}', {}),
        (b'{"jsonrpc": "2.0", "id": 1.5, "method": "x"}', {}),
        (bytes(random.Random(n).getrandbits(8) for _ in range(64)), {}),
        (b'"just a string"', {}),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}', {"Mcp-Session-Id": f"nope-{n}"}),
        (b'{"jsonrpc": "2.0", "method": "notifications/initialized"}', {}),
        (b"\xef\xbb\xbf{}", {}),
    ]
    return kinds[n % len(kinds)]


async def flood(
    url: str, auth: dict[str, str], connections: int, bad: int, stalled_count: int
) -> tuple[dict[int, Any], list[Any]]:
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    # every request carries the bearer token: the malformed ones are refused for what
    # they are, not for lacking it
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=auth) as http:

        async def echo(n: int) -> Any:
            params = {"name": "echo", "arguments": {"text": f"conn-{n}"}}
            body = {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": params}
            async with http.post(url, json=body, headers=ACCEPT) as response:
                return response.status, await response.json(content_type=None)

        async def garbage(n: int) -> Any:
            data, headers = malformed(n)
            async with http.post(url, data=data, headers={**ACCEPT, **headers}) as response:
                return response.status, await response.read()

        stalled = await stall(url, stalled_count)
        try:
            good = [echo(n) for n in range(connections)]
            junk = [garbage(n) for n in range(bad)]
            results = await asyncio.gather(*good, *junk)
        finally:
            for _, writer in stalled:
                writer.close()
    return dict(enumerate(results[:connections])), list(results[connections:])


async def stall(url: str, count: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """`count` connections that send half a request's headers, or half a body, and stop:
    slow clients that must not hold up anyone else."""
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    opened = []
    for n in range(count):
        reader, writer = await asyncio.open_connection(host, int(port))
        if n % 2:
            writer.write(f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: ".encode())
        else:
            head = f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 64\r\n\r\n"
            writer.write(head.encode() + b'{"jsonrpc":')
        await writer.drain()
        opened.append((reader, writer))
    return opened


@when(
    parsers.parse(
        "{connections:d} connections each send a stateless `echo` of their own text at once, "
        "while {bad} malformed requests arrive and {sessions:d} SDK sessions call `echo` "
        "{times:d} times each ({stalled:d} more connections stalled)"
    )
)
def under_load(
    world: World,
    sdk_clients: list[SdkClient],
    connections: int,
    bad: str,
    sessions: int,
    times: int,
    stalled: int,
) -> None:
    world["rss_before"] = proxy_rss(world)
    clients = []
    for n in range(sessions):
        endpoint = "/sse" if n % 4 == 0 else "/mcp"
        client = SdkClient(proxy_url(world, endpoint), proxy_auth(world))
        sdk_clients.append(client)
        client.connect()
        clients.append(client)

    def calling(label: str) -> Any:
        async def call(session: ClientSession) -> list[str]:
            calls = [session.call_tool("echo", {"text": f"{label}-{i}"}) for i in range(times)]
            return [tool_text(result) for result in await asyncio.gather(*calls)]

        return call

    pending = {f"sdk-{n}": c.submit(calling(f"sdk-{n}"), 180) for n, c in enumerate(clients)}
    count = int(str(bad).replace(",", ""))
    url = proxy_url(world, "/mcp")
    world["good"], world["junk"] = asyncio.run(
        flood(url, proxy_auth(world), connections, count, stalled)
    )
    concurrent.futures.wait(pending.values(), timeout=190)
    world["sdk"] = {label: future.result(0) for label, future in pending.items()}
    world["times"] = times
    for client in clients:
        client.close()
    sdk_clients.clear()


@then("every connection and every SDK session got exactly its own texts back")
def own_texts(world: World) -> None:
    for n, (status, answer) in world["good"].items():
        assert status == 200, (n, status, answer)
        assert answer["id"] == n, (n, answer)
        assert answer["result"]["content"][0]["text"] == f"conn-{n}", (n, answer)
    for label, texts in world["sdk"].items():
        assert texts == [f"{label}-{i}" for i in range(world["times"])], (label, texts)


@then("every malformed request was refused with a 4xx and a JSON-RPC error")
def refused(world: World) -> None:
    assert len(world["junk"]) == 1000
    for status, body in world["junk"]:
        assert 400 <= status < 500, (status, body)
        error = json.loads(body)["error"]
        assert error["code"] in (-32700, -32600), error


@then(
    parsers.parse(
        "the proxy's memory grew by less than {limit:d} MiB and its /health answers 200 "
        "with no session left"
    )
)
def bounded(world: World, limit: int) -> None:
    grown = proxy_rss(world) - world["rss_before"]
    assert grown < limit * MIB, f"the proxy grew by {grown / MIB:.1f} MiB"
    url = proxy_url(world, "/mcp").removesuffix("/mcp") + "/health"

    async def health() -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return response.status, await response.json()

    status, about = asyncio.run(health())
    assert status == 200, about
    assert about["sessions"] == 0, about
