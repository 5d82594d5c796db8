"""Steps for the verbs users expect (features/lifecycle.feature, features/cli.feature):
`restart`, `inspect`, `logs` and `start`'s client snippet, on real engines.

pytest-bdd finds a step only among the fixtures of the module whose scenarios run, so
`test_lifecycle.py` and `test_cli.py` import these. Every wait is bounded.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from pytest_bdd import parsers, then, when

from .conftest import MCP_LOK, SdkClient, World, assert_time_in, mcp_lok, tool_json

FOLLOW_WAIT = 15.0  # seconds `logs --follow` has to print a line, or to end


def printed(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """The URL and the token `start` or `restart` printed for a person (stdout: the name,
    the URLs, `bearer token: …`)."""
    lines = result.stdout.splitlines()
    token = next(line.split(": ", 1)[1] for line in lines if line.startswith("bearer token: "))
    return lines[1], token


@then("stderr holds the client config `run` prints, with its URL and token")
def snippet_printed(world: World) -> None:
    result = world["result"]
    url, token = printed(result)
    snippet = result.stderr.partition("client config:\n")[2]
    assert snippet, result.stderr
    entry = json.loads(snippet)["mcpServers"][world["name"]]
    assert entry == {"type": "http", "url": url, "headers": {"Authorization": f"Bearer {token}"}}
    world["printed"] = (url, token)


@when("I restart it")
def restart_it(world: World) -> None:
    world["result"] = mcp_lok("restart", world["name"])


@then("it is served again on the same URL with the same token")
def same_url_and_token(world: World) -> None:
    result = world["result"]
    assert printed(result) == world["printed"], (result.stdout, world["printed"])
    assert "client config:" in result.stderr


@then("an SDK client sending that token gets the current time through it")
def sdk_through_restarted(world: World, sdk_clients: list[SdkClient]) -> None:
    url, token = world["printed"]
    client = SdkClient(url, {"Authorization": f"Bearer {token}"})
    sdk_clients.append(client)
    client.connect()
    result = client.run(lambda session: session.call_tool("get_current_time", {"timezone": "UTC"}))
    assert not result.is_error, result
    assert_time_in(tool_json(result), "UTC")


@then(parsers.parse("`mcp-lok inspect` says it was started again {count:d} time"))
def started_again(world: World, count: int) -> None:
    found = inspected(world)
    assert found["restart"]["restarts"] == count, found
    assert found["status"] == "running", found


def inspected(world: World, *options: str) -> dict[str, Any]:
    result = mcp_lok("inspect", world["name"], "--format", "json", *options)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@then("`mcp-lok inspect` names its URL, engine, container, policy and plan, but no token")
def inspect_names(world: World) -> None:
    engine = world["engine"]
    found = inspected(world)
    started = world["started"]
    assert (found["url"], found["sse_url"]) == (started["url"], started["sse_url"]), found
    assert found["engine"] == engine.name, found
    container = engine.api.inspect_container(found["container"]["id"])
    assert container["Name"].lstrip("/") == found["container"]["name"] == f"mcp-lok-{world['name']}"
    assert len(found["policy_digest"]) == 64, found
    assert found["profile"] == "stdio", found
    plan = json.loads(open(found["plan"]).read())  # noqa: SIM115 (read once)
    assert plan["plan"]["policy_digest"] == found["policy_digest"], plan.keys()
    assert found["port"] == int(started["url"].rsplit(":", 1)[1].split("/")[0]), found
    assert found["restart"] == {"policy": "no", "restarts": 0}, found
    assert found["auth"] is True
    assert "token" not in found
    assert started["token"] not in json.dumps(found)


@then("`mcp-lok inspect --show-token` prints the token `start` printed")
def inspect_token(world: World) -> None:
    assert inspected(world, "--show-token")["token"] == world["started"]["token"]
    human = mcp_lok("inspect", world["name"], "--show-token")
    assert f"token:     {world['started']['token']}" in human.stdout.splitlines()


def log_lines(world: World, *options: str, verbose: bool = False) -> list[str]:
    result = subprocess.run(
        [MCP_LOK, *(["-v"] if verbose else []), "logs", world["name"], *options],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@then("`mcp-lok logs` shows the session opened, each line once")
def session_opened(world: World) -> None:
    deadline = time.monotonic() + 10
    lines = log_lines(world)
    while not any("opened (streamable-http)" in line for line in lines):
        assert time.monotonic() < deadline, lines
        time.sleep(0.2)
        lines = log_lines(world)
    # each line opens with its time: a line printed twice would be the same line twice
    assert len(lines) == len(set(lines)), lines
    assert all(" request: " not in line for line in lines), lines
    world["log"] = lines


@then("requests are shown only by `mcp-lok -v logs`")
def requests_verbose(world: World) -> None:
    lines = log_lines(world, verbose=True)
    requests = [line for line in lines if " request: " in line]
    assert any(line.endswith("request: POST /mcp 200") for line in requests), lines
    assert len(lines) == len(set(lines)), lines


@then("`mcp-lok logs --tail 1` prints the last line only")
def tail_one(world: World) -> None:
    lines = log_lines(world, "--tail", "1")
    assert len(lines) == 1, lines
    assert lines[0] in log_lines(world)[-1:], lines


@then("`mcp-lok logs --since 1h` prints every line, and with a time to come none")
def since(world: World) -> None:
    every = log_lines(world)
    assert log_lines(world, "--since", "1h") == every
    assert log_lines(world, "--since", "2999-01-01T00:00:00Z") == []


@then(
    "`mcp-lok logs --follow` prints a session opened meanwhile, and ends when the server is removed"
)
def follow(world: World, sdk_clients: list[SdkClient]) -> None:
    before = {line for line in log_lines(world) if "opened" in line}
    follower = subprocess.Popen(
        [MCP_LOK, "logs", "--follow", world["name"]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # it prints what is there, then follows
        another = SdkClient(
            world["started"]["url"], {"Authorization": f"Bearer {world['started']['token']}"}
        )
        sdk_clients.append(another)
        another.connect()  # a second session: the proxy logs it opened
        deadline = time.monotonic() + FOLLOW_WAIT
        while len([line for line in log_lines(world) if "opened" in line]) <= len(before):
            assert time.monotonic() < deadline, log_lines(world)
            time.sleep(0.2)
        time.sleep(2 * 0.2)  # two of the follower's looks at the log
        removed = mcp_lok("rm", "--force", world["name"])
        assert removed.returncode == 0, removed.stderr
        out, err = follower.communicate(timeout=FOLLOW_WAIT)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait(5)
    assert follower.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == len(set(lines)), out
    opened = {line for line in lines if "proxy: session" in line and "opened" in line}
    assert len(opened - before) == 1, out  # the session opened while it followed
