"""Feature area: MCP protocol — one shared server routes like a server of each client's own
(features/routing.feature), on real Docker and Podman.

The server is mcp-lok's own test server image over stdio with `MCP_TEST_TOOLS=protocol`:
besides the protocol tools, it takes resource subscriptions and a log level from its one
client (the proxy), notifies accordingly (`touch`, `log`), and says what it was told
(`server_state`). Each SDK client keeps every notification it gets, so a notification
routed to a session that did not ask for it shows. A negative (bob did not get alice's
log message) is read after a message both must get: each session's stream keeps order.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from typing import Any

import pytest
from mcp import ClientSession
from pytest_bdd import given, parsers, scenarios, then, when

from .conftest import SdkClient, World, lok_start, mcp_lok, proxy_auth, proxy_url, tool_text
from .test_sessions import INITIALIZE, PROTOCOL_TOOLS, TEST_SERVER, raw_post

scenarios("routing.feature")

pytestmark = pytest.mark.timeout(180)  # a safety net: every wait below has its own bound

WAIT = 10.0  # seconds a notification may take to arrive
PER_CLIENT = "answered `tools/list` differently to two client sessions"  # the warning


class Heard:
    """The notifications one client got, as (method, params), in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    async def handler(self, message: Any) -> None:
        method = getattr(message, "method", None)
        params = getattr(message, "params", None)
        if isinstance(method, str) and params is not None:
            dumped = params.model_dump(mode="json", exclude_none=True)
            with self._lock:
                self.items.append((method, dumped))

    def of(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [params for m, params in self.items if m == method]

    def logged(self) -> list[str]:
        return [str(params.get("data")) for params in self.of("notifications/message")]

    def updates(self) -> list[str]:
        return [params["uri"] for params in self.of("notifications/resources/updated")]


def eventually(check: Any, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


@given("`mcp-lok start` runs the shared test server over stdio with its protocol tools")
def start_shared(world: World, lok_servers: list[str]) -> None:
    lok_start(world, lok_servers, TEST_SERVER, *PROTOCOL_TOOLS)  # shared is the default


@when(
    parsers.parse(
        'SDK clients "{first}" on {first_endpoint} and "{second}" on {second_endpoint} connect, '
        "each keeping the notifications it gets"
    )
)
def clients_connect(
    world: World,
    sdk_clients: list[SdkClient],
    first: str,
    first_endpoint: str,
    second: str,
    second_endpoint: str,
) -> None:
    world["clients"], world["heard"] = {}, {}
    for label, endpoint in ((first, first_endpoint), (second, second_endpoint)):
        heard = Heard()
        client = SdkClient(
            proxy_url(world, endpoint), proxy_auth(world), message_handler=heard.handler
        )
        sdk_clients.append(client)
        assert client.connect().server_info.name == "mcp-lok-test-server"
        world["clients"][label], world["heard"][label] = client, heard


def client(world: World, label: str) -> SdkClient:
    found: SdkClient = world["clients"][label]
    return found


def call(world: World, label: str, tool: str, **arguments: Any) -> str:
    result = client(world, label).run(lambda s: s.call_tool(tool, arguments))
    assert not result.is_error, result
    return tool_text(result)


@when(
    parsers.parse(
        'both subscribe to "{uri}", "{first}" asks for log level "{first_level}" and '
        '"{second}" for "{second_level}"'
    )
)
def subscribe_and_set(
    world: World, uri: str, first: str, first_level: str, second: str, second_level: str
) -> None:
    for label in world["clients"]:
        client(world, label).run(lambda s: s.subscribe_resource(uri))
    for label, level in ((first, first_level), (second, second_level)):
        client(world, label).run(lambda s, level=level: s.set_logging_level(level))


def server_state(world: World) -> dict[str, Any]:
    label = next(iter(world["clients"]))
    result = client(world, label).run(lambda s: s.call_tool("server_state", {}))
    assert result.structured_content is not None, result
    return dict(result.structured_content)


@then(parsers.parse('the server is subscribed to "{uri}" at level "{level}"'))
def subscribed_at(world: World, uri: str, level: str) -> None:
    assert server_state(world) == {"subscribed": [uri], "level": level}


@then(
    parsers.parse(
        'within {seconds:d} seconds the server is subscribed to "{uri}" at level "{level}"'
    )
)
def subscribed_at_soon(world: World, seconds: int, uri: str, level: str) -> None:
    want = {"subscribed": [uri], "level": level}
    eventually(lambda: server_state(world) == want, f"server state {want}", seconds)


@then(parsers.parse('the server is subscribed to nothing at level "{level}"'))
def subscribed_to_nothing(world: World, level: str) -> None:
    assert server_state(world) == {"subscribed": [], "level": level}


def sync(world: World, text: str) -> None:
    """An `error` log every session asked for: once each has it, what came before has too."""
    first = next(iter(world["clients"]))
    assert call(world, first, "log", level_name="error", text=text) == "sent"
    for label, heard in world["heard"].items():
        eventually(lambda heard=heard: text in heard.logged(), f"{label} hears {text!r}")


@then(
    parsers.parse(
        'an update of "{uri}" reaches alice and bob; an `info` log reaches alice only, an '
        "`error` log both"
    )
)
def both_then_by_level(world: World, uri: str) -> None:
    assert call(world, "bob", "touch", uri=uri) == "updated"
    assert call(world, "alice", "log", level_name="info", text="for alice") == "sent"
    sync(world, "for both")
    alice, bob = world["heard"]["alice"], world["heard"]["bob"]
    assert alice.updates() == bob.updates() == [uri]
    assert alice.logged() == ["for alice", "for both"]
    assert bob.logged() == ["for both"]


@when(parsers.parse('"{label}" unsubscribes from "{uri}"'))
def unsubscribes(world: World, label: str, uri: str) -> None:
    client(world, label).run(lambda s: s.unsubscribe_resource(uri))


@then(parsers.parse('an update of "{uri}" reaches bob only'))
def bob_only(world: World, uri: str) -> None:
    assert call(world, "alice", "touch", uri=uri) == "updated"
    sync(world, "after the update")
    assert world["heard"]["alice"].updates() == [uri]  # the first one only
    assert world["heard"]["bob"].updates() == [uri, uri]


@when(parsers.parse('"{label}" disconnects'))
def disconnects(world: World, sdk_clients: list[SdkClient], label: str) -> None:
    gone = world["clients"].pop(label)
    world["heard"].pop(label)
    gone.close()
    sdk_clients.remove(gone)


# --- a server that behaves per client -------------------------------------------------------


def list_both(world: World) -> dict[str, list[str]]:
    async def names(session: ClientSession) -> list[str]:
        return sorted(tool.name for tool in (await session.list_tools()).tools)

    return {label: client(world, label).run(names) for label in world["clients"]}


@when("both list the tools")
def both_list(world: World) -> None:
    listed = list_both(world)
    assert listed["alice"] == listed["bob"], listed


def proxy_log(world: World) -> str:
    result = mcp_lok("logs", world["name"])
    assert result.returncode == 0, result.stderr
    return result.stdout


@then("the proxy's log says nothing of a server that behaves per client")
def no_warning(world: World) -> None:
    assert PER_CLIENT not in proxy_log(world)


@when("the server adds a tool without a list change, and both list the tools, twice")
def grow_and_list(world: World) -> None:
    for n in (1, 2):
        assert call(world, "alice", "grow") == f"grown_{n}"
        listed = list_both(world)
        assert f"grown_{n}" in listed["bob"], listed


@then(
    "the proxy's log says once that the server behaves per client, naming "
    "`--session-mode per-session`"
)
def warned_once(world: World) -> None:
    eventually(lambda: PER_CLIENT in proxy_log(world), "the warning in the proxy's log")
    lines = [line for line in proxy_log(world).splitlines() if PER_CLIENT in line]
    [warning] = lines  # once, and one line per event in the log
    assert " proxy warning: " in warning, warning
    assert f"{world['name']}: the server {PER_CLIENT}" in warning, warning
    assert "--session-mode per-session" in warning, warning


# --- a cancelled request's HTTP answer ------------------------------------------------------


@when(
    parsers.parse(
        "a raw client's `sleep {seconds:d}` is cancelled by its client after {after:d} second"
    )
)
def cancel_sleep(world: World, seconds: int, after: int) -> None:
    status, headers, _ = raw_post(world, json.dumps(INITIALIZE).encode())
    assert status == 200, status
    session = {"Mcp-Session-Id": headers["Mcp-Session-Id"]}
    params = {"name": "sleep", "arguments": {"seconds": seconds}}
    sleep = {"jsonrpc": "2.0", "id": "nap", "method": "tools/call", "params": params}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(raw_post, world, json.dumps(sleep).encode(), session)
        time.sleep(after)
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled",
                  "params": {"requestId": "nap", "reason": "changed my mind"}}  # fmt: skip
        cancelled_at = time.monotonic()
        assert raw_post(world, json.dumps(cancel).encode(), session)[0] == 202
        world["cancelled"] = waiting.result(timeout=seconds)
        world["answered_after"] = time.monotonic() - cancelled_at


@then(
    parsers.parse(
        "its POST is answered at once with error {code:d}, not MCP's -32002 (resource not found)"
    )
)
def cancelled_code(world: World, code: int) -> None:
    status, _, answer = world["cancelled"]
    assert status == 200, (status, answer)
    assert answer["id"] == "nap", answer
    assert answer["error"]["code"] == code != -32002, answer
    assert world["answered_after"] < 5, world["answered_after"]
