"""Feature area: MCP protocol (features/protocol.feature), on real Docker and Podman.

`mcp-server-time`, the real third-party server from PyPI, is started with `mcp-lok start`
(the installed console script) under the `stdio` profile and driven only through the URLs
it prints, by the official MCP Python SDK client. Every server is removed by name afterwards
(`lok_servers` in conftest); every SDK session is closed (`sdk_clients`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable

import pytest
from mcp import ClientSession
from mcp.types import CallToolResult
from pytest_bdd import parsers, scenarios, then, when

from .conftest import SdkClient, World, assert_time_in, proxy_auth, proxy_url, tool_json

scenarios("protocol.feature")

pytestmark = pytest.mark.timeout(180)  # a safety net: every wait below has its own bound


@when(
    parsers.parse("these SDK clients connect and ask for the time at once, {times:d} times each:")
)
def ask_at_once(
    world: World, sdk_clients: list[SdkClient], times: int, datatable: list[list[str]]
) -> None:
    header, *rows = datatable
    assert header == ["client", "endpoint", "timezone"], header
    wanted = {label: (endpoint, zone) for label, endpoint, zone in rows}
    clients: dict[str, SdkClient] = {}
    for label, (endpoint, _) in wanted.items():
        clients[label] = SdkClient(proxy_url(world, endpoint), proxy_auth(world))
        sdk_clients.append(clients[label])
        assert clients[label].connect().server_info.name == "mcp-time"

    def asking(zone: str) -> Callable[[ClientSession], Awaitable[list[CallToolResult]]]:
        async def ask(session: ClientSession) -> list[CallToolResult]:
            calls = [
                session.call_tool("get_current_time", {"timezone": zone}) for _ in range(times)
            ]
            return list(await asyncio.gather(*calls))

        return ask

    # every client's calls are in flight together, each client's on its own session
    pending = {label: clients[label].submit(asking(zone)) for label, (_, zone) in wanted.items()}
    _, late = concurrent.futures.wait(pending.values(), timeout=60)
    assert not late, f"{len(late)} clients got no answers within 60 s"
    world["asked"] = {label: zone for label, (_, zone) in wanted.items()}
    world["answers"] = {label: future.result() for label, future in pending.items()}


@then(
    parsers.parse("every client got {times:d} answers, each the current time in its own timezone")
)
def own_answers(world: World, times: int) -> None:
    for label, zone in world["asked"].items():
        answers = world["answers"][label]
        assert len(answers) == times, (label, answers)
        for answer in answers:
            assert not answer.is_error, (label, answer)
            assert_time_in(tool_json(answer), zone)
