"""Feature area: MCP protocol (features/mcp_server.feature), on real Docker and Podman.

The official MCP Python SDK's `stdio_client` spawns the installed `mcp-lok` console script
with no command (its stdin is a pipe, so it serves MCP) and drives it only through its
tools. Every server a scenario names is registered in `lok_servers` before it is asked
for, so conftest removes it by name whatever happens; every SDK session is closed.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.types import CallToolResult
from pytest_bdd import given, parsers, scenarios, then, when

from .conftest import MCP_LOK, SdkClient, World, image_required, tool_text
from .engines import EngineUnderTest, unique_name

scenarios("mcp_server.feature")

pytestmark = pytest.mark.timeout(300)  # a safety net: every exchange below has its own bound

LAUNCH_TIMEOUT = 120.0  # seconds `run_server` may take (images checked, gate, proxy ready)


class LokClient(SdkClient):
    """An SDK session with `mcp-lok` itself, spawned over stdio with no command."""

    def __init__(self) -> None:
        super().__init__("stdio:mcp-lok")

    def transport(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return stdio_client(StdioServerParameters(command=MCP_LOK, args=[]))


def call(world: World, tool: str, arguments: dict[str, Any], timeout: float = 30.0) -> Any:
    client: LokClient = world["lok"]
    result: CallToolResult = client.run(
        lambda session: session.call_tool(tool, arguments), timeout=timeout
    )
    return result


def succeeded(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, tool_text(result)
    assert isinstance(result.structured_content, dict), result
    # the text carries the same facts as structuredContent, as JSON after the summary
    assert json.loads(result.content[-1].text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


def servers(world: World) -> dict[str, dict[str, Any]]:
    listed = succeeded(call(world, "list_servers", {"include_stopped": True}))
    return {row["name"]: row for row in listed["servers"]}


@given("an SDK client spawned `mcp-lok` with no command, over stdio")
def spawned(world: World, sdk_clients: list[SdkClient]) -> None:
    client = LokClient()
    sdk_clients.append(client)
    world["lok_initialized"] = client.connect()
    world["lok"] = client


@then(
    parsers.parse(
        'mcp-lok answers `initialize` as "{server}" and lists exactly the tools "{names}"'
    )
)
def lok_tools(world: World, server: str, names: str) -> None:
    assert world["lok_initialized"].server_info.name == server, world["lok_initialized"]
    client: LokClient = world["lok"]
    listed = client.run(lambda session: session.list_tools())
    assert sorted(tool.name for tool in listed.tools) == names.split(", "), listed


def run_server(world: World, lok_servers: list[str], image: str, **arguments: Any) -> None:
    engine: EngineUnderTest = world["engine"]
    image_required(engine, image)
    name = unique_name("e2e-mcp")
    lok_servers.append(name)  # before asking: a half-done launch is cleaned up too
    asked = {"image": image, "name": name, "engine": engine.name, **arguments}
    world["name"] = name
    world["ran"] = call(world, "run_server", asked, timeout=LAUNCH_TIMEOUT)
    world["ran_data"] = succeeded(world["ran"])
    assert world["ran_data"]["name"] == name, world["ran_data"]
    assert world["ran_data"]["engine"] == engine.name, world["ran_data"]


@when(parsers.parse('the client calls `run_server` for "{image}" under the "{profile}" profile'))
def run_profile(world: World, lok_servers: list[str], image: str, profile: str) -> None:
    run_server(world, lok_servers, image, profile=profile)
    assert world["ran_data"]["started"] is True, world["ran_data"]
    # for proxy_url and proxy_auth: the run tool's result carries the token it requires
    world["started"] = {k: world["ran_data"][k] for k in ("url", "sse_url", "token")}
    assert len(world["started"]["token"]) >= 40, world["ran_data"]


@when(
    parsers.parse(
        'the client calls `run_server` for "{image}" under the "{profile}" profile as a dry run'
    )
)
def run_dry(world: World, lok_servers: list[str], image: str, profile: str) -> None:
    run_server(world, lok_servers, image, profile=profile, dry_run=True)
    assert world["ran_data"]["started"] is False, world["ran_data"]
    assert world["ran_data"]["url"] is None, world["ran_data"]


@when(
    parsers.parse('the client calls `run_server` for "{image}" under the inline profile {profile}')
)
def run_inline(world: World, lok_servers: list[str], image: str, profile: str) -> None:
    world["inline"] = json.loads(profile)
    run_server(world, lok_servers, image, profile_json=world["inline"])
    assert world["ran_data"]["started"] is True, world["ran_data"]


@then("its result states nothing beyond the built-in `stdio` profile")
def nothing_beyond(world: World) -> None:
    exposure = world["ran_data"]["exposure"]
    assert exposure["beyond_stdio"] == [], exposure
    assert exposure["score"] == exposure["stdio_score"], exposure
    assert "nothing beyond the built-in `stdio` profile" in tool_text(world["ran"])


@then(parsers.parse('its result states it grants "{grant}" beyond the built-in `stdio` profile'))
def grants(world: World, grant: str) -> None:
    exposure = world["ran_data"]["exposure"]
    assert any(grant in row["description"] for row in exposure["beyond_stdio"]), exposure
    assert exposure["score"] > exposure["stdio_score"], exposure
    text = tool_text(world["ran"])
    assert "beyond `stdio` it grants:" in text, text
    assert grant in text.split("beyond `stdio` it grants:", 1)[1], text


@then(parsers.parse('`list_servers` shows it "{status}" at the URL `run_server` returned'))
def listed_running(world: World, status: str) -> None:
    row = servers(world)[world["name"]]
    assert row["status"] == status, row
    assert row["url"] == world["ran_data"]["url"], (row, world["ran_data"])
    assert row["url"].startswith("http://127.0.0.1:"), row


@then(parsers.parse('`list_servers` shows it "{status}" at no URL'))
def listed_stopped(world: World, status: str) -> None:
    row = servers(world)[world["name"]]
    assert (row["status"], row["url"]) == (status, None), row


@then("`list_servers` no longer shows it")
def not_listed(world: World) -> None:
    assert world["name"] not in servers(world)


@then(parsers.parse("`server_logs` answers with at most {lines:d} lines of its proxy's log"))
def logs(world: World, lines: int) -> None:
    result = call(world, "server_logs", {"name": world["name"], "lines": lines})
    found = succeeded(result)
    assert found["name"] == world["name"], found
    assert isinstance(found["proxy_log"], list), found
    assert len(found["proxy_log"]) <= lines, found
    assert found["server_log"] == [], found  # a stdio server's stderr is in the proxy's log
    assert tool_text(result).startswith(f"== proxy log of `{world['name']}` =="), result


@when("the client calls `audit_servers` for it")
def audit(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    asked = {"names": [world["name"]], "engine": engine.name}
    world["audit"] = call(world, "audit_servers", asked, timeout=60)
    world["audit_data"] = succeeded(world["audit"])  # drift too is a result, not `isError`
    assert world["audit_data"]["engines"] == [engine.name], world["audit_data"]


def audited_server(world: World) -> dict[str, Any]:
    (server,) = world["audit_data"]["servers"]
    assert (server["name"], server["recorded"], server["compared"]) == (world["name"], True, True)
    return dict(server)


@then("the audit answers that it matches its plan, scored as `run_server` stated")
def audit_clean(world: World) -> None:
    server = audited_server(world)
    assert world["audit_data"]["drifted"] == [], server
    assert server["drifted"] is False, server
    assert [c["drift"] for c in server["containers"]] == [[]], server  # a stdio server: no gate
    checks = [k for c in server["containers"] for k in c["checks"]]
    assert len(checks) >= 30, checks
    assert [k for k in checks if k["status"] == "fail"] == [], checks
    assert server["score"] == world["ran_data"]["exposure"]["score"], (server, world["ran_data"])
    text = tool_text(world["audit"])
    assert text.startswith(f"audit passed: no drift (1 server on {server['engine']})"), text
    assert f"{world['name']} on {server['engine']}: matches its plan; exposure" in text, text


@when("the engine updates its container's memory limit to 256 MiB behind mcp-lok's back")
def tamper(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    engine.update_memory(str(engine.inspect(f"mcp-lok-{world['name']}")["Id"]), 256 * 1024 * 1024)


@then(
    parsers.parse(
        'the audit answers, as a result and not an error, that "{field}" drifted '
        "from {before:d} to {after:d}"
    )
)
def audit_drift(world: World, field: str, before: int, after: int) -> None:
    server = audited_server(world)
    assert world["audit_data"]["drifted"] == [world["name"]], server
    (drift,) = [d for c in server["containers"] for d in c["drift"]]
    assert (drift["field"], drift["expected"], drift["found"]) == (field, before, after), drift
    text = tool_text(world["audit"])
    assert text.startswith(f"audit failed: drifted from their plan: {world['name']}"), text
    assert f"✗ drift `{field}` is " in text, text  # the person reading it sees the field too


@when("the client calls `stop_server` for it")
def stop(world: World) -> None:
    assert succeeded(call(world, "stop_server", {"name": world["name"]}))["stopped"] is True


@when("the client calls `remove_server` for it")
def remove(world: World) -> None:
    assert succeeded(call(world, "remove_server", {"name": world["name"]}))["removed"] is True


@when("the client calls `remove_server` for it with `force`")
def remove_forced(world: World) -> None:
    removed = succeeded(call(world, "remove_server", {"name": world["name"], "force": True}))
    assert removed["removed"] is True, removed


@then("the engine holds no container labelled with its name")
def no_containers(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    label = {"label": f"mcp-lok-name={world['name']}"}
    assert engine.api.containers(all=True, filters=label) == []


@then("`list_servers` names the inline profile's file, which holds that profile")
def inline_kept(world: World) -> None:
    row = servers(world)[world["name"]]
    path = Path(row["profile"])
    assert path.name == "profile.json", row
    assert path.parent.name == world["name"], row
    assert row["profile"] == world["ran_data"]["profile"], (row, world["ran_data"])
    assert json.loads(path.read_text()) == world["inline"]
    world["inline_path"] = path


@then("the inline profile's file is gone")
def inline_gone(world: World) -> None:
    assert not world["inline_path"].exists()


@when("the client calls these tools:")
def call_all(world: World, lok_servers: list[str], datatable: list[list[str]]) -> None:
    header, *rows = datatable
    assert header == ["tool", "arguments", "error says"], header
    engine: EngineUnderTest = world["engine"]
    world["answers"] = []
    for tool, arguments, says in rows:
        asked = json.loads(arguments)
        if tool in ("run_server", "audit_servers"):
            asked.setdefault("engine", engine.name)
            if "name" not in asked:  # a unique name, removed afterwards should it ever start
                asked["name"] = unique_name("e2e-mcp")
                lok_servers.append(asked["name"])
        world["answers"].append((tool, says, call(world, tool, asked, timeout=60)))


@then("each answered with `isError` and its error text")
def all_errors(world: World) -> None:
    assert world["answers"], "no tool was called"
    for tool, says, result in world["answers"]:
        assert result.is_error, (tool, result)
        assert says in tool_text(result), (tool, says, tool_text(result))


@then("mcp-lok still answers `list_servers`")
def still_serving(world: World) -> None:
    assert isinstance(servers(world), dict)
