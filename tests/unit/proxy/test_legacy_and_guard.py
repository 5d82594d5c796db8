"""Legacy SSE (`/sse` + `/messages`), and the guard every request passes first: `Host`,
`Origin`, bearer token, body size."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from mcp_lok.proxy import sse

from .conftest import Proxy

pytestmark = pytest.mark.asyncio


class Stream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.parser = sse.Parser()
        self.events: list[sse.Event] = []

    async def next(self) -> sse.Event:
        while not self.events:
            chunk = await asyncio.wait_for(self.response.content.readany(), 5)
            assert chunk, "the stream ended"
            self.events += self.parser.feed(chunk)
        return self.events.pop(0)


async def _open(proxy: Proxy) -> tuple[Stream, str]:
    response = await proxy.http.get(f"{proxy.url}/sse", headers={"Accept": "text/event-stream"})
    assert response.status == 200
    assert response.content_type == "text/event-stream"
    stream = Stream(response)
    endpoint = await stream.next()
    assert endpoint.event == "endpoint"
    assert endpoint.data.startswith("/messages?session_id=")
    return stream, f"{proxy.url}{endpoint.data}"


async def _send(proxy: Proxy, endpoint: str, body: Any) -> int:
    response = await proxy.http.post(endpoint, json=body)
    return response.status


async def test_legacy_sse_answers_come_down_the_stream(proxy: Proxy) -> None:
    stream, endpoint = await _open(proxy)
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    assert await _send(proxy, endpoint, init) == 202
    answer = json.loads((await stream.next()).data)
    assert answer["id"] == 1
    assert answer["result"]["serverInfo"]["name"] == "fake"
    call = {"jsonrpc": "2.0", "id": "c", "method": "tools/call", "params": {"name": "echo"}}
    assert await _send(proxy, endpoint, call) == 202
    event = await stream.next()
    assert event.event == "message"
    assert json.loads(event.data)["id"] == "c"
    stream.response.close()


async def test_closing_the_stream_ends_the_legacy_session(proxy: Proxy) -> None:
    stream, endpoint = await _open(proxy)
    stream.response.close()
    for _ in range(200):
        if await _send(proxy, endpoint, {"jsonrpc": "2.0", "method": "x"}) == 404:
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the session outlived its stream")


async def test_messages_needs_a_known_legacy_session(proxy: Proxy) -> None:
    body = {"jsonrpc": "2.0", "method": "x"}
    assert await _send(proxy, f"{proxy.url}/messages", body) == 400
    assert await _send(proxy, f"{proxy.url}/messages?session_id=nope", body) == 404
    session = await proxy.initialize()  # a Streamable HTTP session is not a legacy one
    assert await _send(proxy, f"{proxy.url}/messages?session_id={session}", body) == 404


async def test_a_malformed_legacy_message_is_a_json_rpc_error(proxy: Proxy) -> None:
    stream, endpoint = await _open(proxy)
    response = await proxy.http.post(endpoint, data=b"{oops")
    assert response.status == 400
    assert (await response.json())["error"]["code"] == -32700
    stream.response.close()


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://localhost:1", "https://127.0.0.1"]
)
async def test_a_foreign_origin_is_refused_on_every_route(proxy: Proxy, origin: str) -> None:
    for method, path in [("POST", "/mcp"), ("GET", "/sse"), ("GET", "/health")]:
        headers = {"Origin": origin}
        response = await proxy.http.request(method, f"{proxy.url}{path}", headers=headers)
        assert response.status == 403, (method, path)


async def test_the_proxys_own_origin_is_allowed(proxy: Proxy) -> None:
    port = proxy.url.rsplit(":", 1)[1]
    for origin in (proxy.url, f"http://localhost:{port}"):
        response = await proxy.http.get(f"{proxy.url}/health", headers={"Origin": origin})
        assert response.status == 200


@pytest.mark.parametrize("proxy", [{"allowed_origins": ("https://app.example",)}], indirect=True)
async def test_configured_origins_are_allowed(proxy: Proxy) -> None:
    headers = {"Origin": "https://app.example"}
    assert (await proxy.http.get(f"{proxy.url}/health", headers=headers)).status == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1:1", "0.0.0.0"])
async def test_a_foreign_host_header_is_refused(proxy: Proxy, host: str) -> None:
    response = await proxy.http.get(f"{proxy.url}/health", headers={"Host": host})
    assert response.status == 421


async def test_localhost_names_the_proxy_too(proxy: Proxy) -> None:
    port = proxy.url.rsplit(":", 1)[1]
    headers = {"Host": f"localhost:{port}"}
    assert (await proxy.http.get(f"{proxy.url}/health", headers=headers)).status == 200


@pytest.mark.parametrize("proxy", [{"max_body_bytes": 1024}], indirect=True)
async def test_a_body_over_the_limit_is_refused(proxy: Proxy) -> None:
    big = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"x": "a" * 2000}}
    response = await proxy.post(big)
    assert response.status == 413

    async def chunks() -> Any:
        for _ in range(4):
            yield b" " * 512

    response = await proxy.http.post(
        f"{proxy.url}/mcp", data=chunks(), headers={"Accept": "application/json"}
    )
    assert response.status == 413


@pytest.mark.parametrize("proxy", [{"bearer_token": "s3cret"}], indirect=True)
async def test_a_bearer_token_guards_everything_but_health(proxy: Proxy) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    refused = await proxy.post(body)
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert (await proxy.post(body, Authorization="Bearer nope")).status == 401
    assert (await proxy.post(body, Authorization="Bearer s3cret")).status == 200
    assert (await proxy.http.get(f"{proxy.url}/health")).status == 200
