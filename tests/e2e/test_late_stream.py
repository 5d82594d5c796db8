"""Feature area: transports — a client that opens its GET stream late
(features/late_stream.feature), on real Docker and Podman.

The server is mcp-lok's own test server speaking Streamable HTTP behind its gate, with
`MCP_TEST_ON_INITIALIZED=roots`: the moment a client sends `notifications/initialized` it
asks that client for its roots on the standalone GET stream. The client is the official MCP
Python SDK's, whose HTTP client sends every GET a second late — what a slow client does, and
what loses the server's request without a proxy that holds it. Every server is removed by
name (`lok_servers`), every SDK session closed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import mcp.types as types
import pytest
from mcp.client.streamable_http import streamable_http_client
from pytest_bdd import given, parsers, scenarios, then, when

from .conftest import (
    EXCHANGE_TIMEOUT,
    SdkClient,
    World,
    lok_start,
    proxy_auth,
    proxy_url,
    tool_text,
)

scenarios("late_stream.feature")

pytestmark = pytest.mark.timeout(300)  # a safety net: every wait below has its own bound

TEST_SERVER = "mcp-lok/http-test-server"
LATE = 1.0  # seconds each GET waits before it goes out
ASKED_WITHIN = 15.0  # seconds a client waits for the server's `roots/list`


class LateGet(httpx2.AsyncBaseTransport):
    """Sends every GET `LATE` seconds late, everything else at once."""

    def __init__(self) -> None:
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET":
            await anyio.sleep(LATE)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class LateClient(SdkClient):
    """An SDK client session over Streamable HTTP whose GET stream opens `LATE` seconds
    after `notifications/initialized`, answering `roots/list` with its own root."""

    def __init__(self, url: str, headers: dict[str, str], root: str) -> None:
        self.root = root
        self.asked = 0
        self.was_asked = threading.Event()
        super().__init__(url, headers, list_roots_callback=self._roots)

    async def _roots(self, context: Any) -> types.ListRootsResult:
        self.asked += 1
        self.was_asked.set()
        return types.ListRootsResult(roots=[types.Root(uri=self.root)])

    @contextlib.asynccontextmanager
    async def _late(self) -> AsyncIterator[Any]:
        timeout = httpx2.Timeout(EXCHANGE_TIMEOUT, read=300.0)
        async with (
            httpx2.AsyncClient(headers=self.headers, timeout=timeout, transport=LateGet()) as http,
            streamable_http_client(self.url, http_client=http) as streams,
        ):
            yield streams

    def transport(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._late()


@given(
    "`mcp-lok start` runs the test server over Streamable HTTP, asking each client for its "
    "roots as it initializes"
)
def start_asking(world: World, lok_servers: list[str]) -> None:
    options = ("--transport", "streamable-http", "-e", "MCP_TEST_ON_INITIALIZED=roots")
    lok_start(world, lok_servers, TEST_SERVER, *options)


@when(
    parsers.parse(
        "{count:d} SDK clients connect to the proxy's /mcp one after another, each opening "
        "its GET stream a second late"
    )
)
def late_clients(world: World, count: int) -> None:
    world["late"], world["count"] = [], count
    for n in range(count):
        client = LateClient(proxy_url(world, "/mcp"), proxy_auth(world), f"file:///late/{n}")
        try:
            client.connect()
            asked = client.was_asked.wait(ASKED_WITHIN)
            assert asked, f"client {n} was never asked for its roots in {ASKED_WITHIN} s"
            world["late"].append((client.root, client.asked, server_got(client)))
        finally:
            client.close()


def server_got(client: LateClient) -> str:
    """What the server recorded as the client's answer (`first_roots`), once it has one."""
    deadline = time.monotonic() + EXCHANGE_TIMEOUT
    while True:
        answer = tool_text(client.run(lambda s: s.call_tool("first_roots", {})))
        if answer != "asked" or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


@then("each client was asked for its roots once, and the server got each one's answer")
def each_answered(world: World) -> None:
    assert len(world["late"]) == world["count"], world["late"]
    for root, asked, got in world["late"]:
        assert asked == 1, (root, asked)
        assert got == root, (root, got)
