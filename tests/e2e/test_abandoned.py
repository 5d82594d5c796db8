"""Feature area: MCP protocol — clients that never end their sessions
(features/abandoned.feature), on real Docker and Podman.

Raw HTTP clients (urllib) that open a Streamable HTTP session, call a tool and walk away
without DELETE, as the conformance suite's client and the Inspector CLI do; session
containers are counted by the engine, by the label mcp-lok puts on them
(`mcp-lok-name=NAME`) and the name a session's container gets (`<server>-s<hex>`).
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import time
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from .conftest import World, lok_list, lok_start, mcp_lok
from .test_sessions import INITIALIZE, PROTOCOL_TOOLS, TEST_SERVER, health_status, raw_post

scenarios("abandoned.feature")

pytestmark = pytest.mark.timeout(180)  # a safety net: every wait below has its own bound

SESSION_CONTAINER = re.compile(r"-s[0-9a-f]{8}$")


@given(parsers.parse('`mcp-lok start` runs the test server over stdio with "{options}"'))
def start_with(world: World, lok_servers: list[str], options: str) -> None:
    lok_start(world, lok_servers, TEST_SERVER, *PROTOCOL_TOOLS, *options.split())


def call(world: World, session: str, id: int, tool: str, **arguments: Any) -> tuple[int, Any]:
    params = {"name": tool, "arguments": arguments}
    body = {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}
    status, _, answer = raw_post(world, json.dumps(body).encode(), {"Mcp-Session-Id": session})
    return status, answer


def open_session(world: World) -> tuple[int, dict[str, str]]:
    """`initialize` and `notifications/initialized`; the status and the answer's headers."""
    status, headers, _ = raw_post(world, json.dumps(INITIALIZE).encode())
    if status != 200:
        return status, headers
    note = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()
    assert raw_post(world, note, {"Mcp-Session-Id": headers["Mcp-Session-Id"]})[0] == 202
    return status, headers


@when(
    parsers.parse(
        "{count:d} raw clients each open a session and call `echo`, one after another, "
        "none sending DELETE"
    )
)
def abandon(world: World, count: int) -> None:
    world["answers"], world["sessions"] = [], []
    for n in range(count):
        status, headers = open_session(world)
        assert status == 200, (n, status, headers)
        session = headers["Mcp-Session-Id"]
        world["sessions"].append(session)
        world["answers"].append(call(world, session, 1, "echo", text=f"client {n}"))


@then("all 3 were answered, and the first client's next request gets 404")
def served_then_gone(world: World) -> None:
    texts = [answer["result"]["content"][0]["text"] for _, answer in world["answers"]]
    assert texts == ["client 0", "client 1", "client 2"], world["answers"]
    assert call(world, world["sessions"][0], 2, "echo", text="again")[0] == 404


@when(parsers.parse("the 2 open sessions each wait on a `sleep {seconds:d}`"))
def both_busy(world: World, seconds: int) -> None:
    pool = concurrent.futures.ThreadPoolExecutor(2)
    world["sleeps"] = [
        pool.submit(call, world, session, 3, "sleep", seconds=seconds)
        for session in world["sessions"][1:]
    ]
    pool.shutdown(wait=False)
    time.sleep(1.0)  # both calls are at the server
    assert not any(sleep.done() for sleep in world["sleeps"])


@then("a new client is refused with 503 and a Retry-After")
def refused(world: World) -> None:
    status, headers = open_session(world)
    assert status == 503, (status, headers)
    assert int(headers["Retry-After"]) > 0, headers


@then(
    parsers.parse(
        'the proxy\'s /health answers 200 "degraded", and `mcp-lok list` shows the reason'
    )
)
def degraded(world: World) -> None:
    status, about = health_status(world)
    assert (status, about["status"]) == (200, "degraded"), about
    assert "busy" in about["reason"], about
    row = lok_list()[world["name"]]
    assert (row["status"], row["note"]) == ("degraded", about["reason"]), row


@when("the sleeps are over")
def sleeps_over(world: World) -> None:
    done, late = concurrent.futures.wait(world["sleeps"], timeout=30)
    assert not late, f"{len(late)} sleeps still waiting"
    for future in done:
        assert future.result()[0] == 200, future.result()


@then("a new client is served")
def served(world: World) -> None:
    assert open_session(world)[0] == 200


# --- a server per session -------------------------------------------------------------------


def session_containers(world: World) -> list[str]:
    """The names of the server's session containers the engine holds, running or not."""
    label = {"label": f"mcp-lok-name={world['name']}"}
    found = world["engine"].api.containers(all=True, filters=label)
    names = [str((c.get("Names") or [""])[0]).lstrip("/") for c in found]
    return [name for name in names if SESSION_CONTAINER.search(name)]


@then(parsers.parse("the engine holds {count:d} session containers for the server"))
def holds(world: World, count: int) -> None:
    assert len(session_containers(world)) == count, session_containers(world)


@then(
    parsers.parse("the engine holds no session container for the server within {seconds:d} seconds")
)
def holds_none(world: World, seconds: int) -> None:
    for _ in range(seconds * 4):
        if not session_containers(world):
            return
        time.sleep(0.25)
    raise AssertionError(f"still there after {seconds} s: {session_containers(world)}")


@when("`mcp-lok stop` stops the server")
def stop(world: World) -> None:
    assert len(session_containers(world)) == 2, session_containers(world)
    result = mcp_lok("stop", world["name"])
    assert result.returncode == 0, result.stderr
