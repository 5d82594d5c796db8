"""Feature area: MCP protocol — many sessions on one stdio server (features/sessions.feature),
on real Docker and Podman.

The server is mcp-lok's own test server image over stdio with `MCP_TEST_TOOLS=protocol`:
tools that ask the client (sampling, elicitation, roots), report progress, sleep until
cancelled, and count cancellations. Each SDK client answers the server's requests with its
own name, so an answer routed to the wrong session shows. Raw HTTP (urllib) for what the
SDK cannot send. Every server is removed by name (`lok_servers`), every SDK session closed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import mcp.types as types
import pytest
from mcp import ClientSession
from pytest_bdd import given, parsers, scenarios, then, when

from .conftest import SdkClient, World, lok_list, lok_start, proxy_auth, proxy_url, tool_text

scenarios("sessions.feature")

pytestmark = pytest.mark.timeout(180)  # a safety net: every wait below has its own bound

TEST_SERVER = "mcp-lok/http-test-server"
PROTOCOL_TOOLS = ("-e", "MCP_TEST_TOOLS=protocol")
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@given("`mcp-lok start` runs the test server over stdio with its protocol tools")
def start_test_server(world: World, lok_servers: list[str]) -> None:
    lok_start(world, lok_servers, TEST_SERVER, *PROTOCOL_TOOLS)


@given("`mcp-lok start` runs the test server over stdio, which requires a token by default")
def start_with_token(world: World, lok_servers: list[str]) -> None:
    lok_start(world, lok_servers, TEST_SERVER, *PROTOCOL_TOOLS)  # no token option at all
    token = world["started"].get("token")
    assert isinstance(token, str), world["started"]
    assert len(token) >= 40, token
    world["token"] = token


# --- SDK clients that answer the server's requests as themselves ---------------------------


def answering_as(label: str) -> dict[str, Any]:
    """ClientSession callbacks whose every answer names `label`."""

    async def sampling(context: Any, params: types.CreateMessageRequestParams) -> Any:
        text = types.TextContent(type="text", text=f"llm of {label}")
        return types.CreateMessageResult(role="assistant", content=text, model=label)

    async def elicitation(context: Any, params: types.ElicitRequestParams) -> Any:
        return types.ElicitResult(action="accept", content={"answer": f"user of {label}"})

    async def roots(context: Any) -> Any:
        return types.ListRootsResult(roots=[types.Root(uri=f"file:///home/{label}")])

    return {
        "sampling_callback": sampling,
        "elicitation_callback": elicitation,
        "list_roots_callback": roots,
    }


def connect_as(
    world: World, sdk_clients: list[SdkClient], label: str, endpoint: str, **extra: Any
) -> SdkClient:
    extra.setdefault("headers", proxy_auth(world))
    client = SdkClient(proxy_url(world, endpoint), **extra, **answering_as(label))
    sdk_clients.append(client)
    assert client.connect().server_info.name == "mcp-lok-test-server"
    world.setdefault("clients", {})[label] = client
    return client


@when(
    parsers.parse(
        'SDK clients "{first}" on {first_endpoint} and "{second}" on {second_endpoint} connect, '
        "each answering the server's requests as itself"
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
    connect_as(world, sdk_clients, first, first_endpoint)
    connect_as(world, sdk_clients, second, second_endpoint)
    world["endpoints"] = {first: first_endpoint, second: second_endpoint}


@when(parsers.parse('"{label}" drops its connection and connects again on {endpoint}'))
def reconnect(world: World, sdk_clients: list[SdkClient], label: str, endpoint: str) -> None:
    old: SdkClient = world["clients"][label]
    assert tool_text(old.run(lambda s: s.call_tool("echo", {"text": "before"}))) == "before"
    old.close()
    sdk_clients.remove(old)  # closed already
    connect_as(world, sdk_clients, label, endpoint)


def all_at_once(world: World, exchange: Any, timeout: float = 60) -> dict[str, Any]:
    """Run `exchange(label)(session)` on every client at the same time; their results."""
    clients: dict[str, SdkClient] = world["clients"]
    pending = {label: c.submit(exchange(label), timeout) for label, c in clients.items()}
    _, late = concurrent.futures.wait(pending.values(), timeout=timeout + 5)
    assert not late, f"{len(late)} clients got no answer within {timeout} s"
    return {label: future.result() for label, future in pending.items()}


def asking(times: int) -> Any:
    def ask_as(label: str) -> Any:
        async def ask(session: ClientSession) -> list[str]:
            calls = []
            for n in range(times):
                calls += [
                    session.call_tool("ask_llm", {"prompt": f"{label} {n}"}),
                    session.call_tool("ask_user", {"question": f"{label} {n}?"}),
                    session.call_tool("roots", {}),
                ]
            return [tool_text(result) for result in await asyncio.gather(*calls)]

        return ask

    return ask_as


def answers_of(label: str) -> list[str]:
    return [f"llm of {label}", f"user of {label}", f"file:///home/{label}"]


@then(
    parsers.parse(
        "one client at a time, `ask_llm`, `ask_user` and `roots` answer each client with its "
        "own name, {times:d} times each"
    )
)
def own_answers(world: World, times: int) -> None:
    for label, client in world["clients"].items():
        answers = client.run(asking(times)(label))
        assert answers == answers_of(label) * times, (label, answers)


@then(
    parsers.parse(
        "at once, every `ask_llm`, `ask_user` and `roots` call of both clients is answered by "
        "one of them, {times:d} times each"
    )
)
def answered_by_one_of_them(world: World, times: int) -> None:
    labels = list(world["clients"])
    for label, answers in all_at_once(world, asking(times)).items():
        assert len(answers) == 3 * times, (label, answers)
        for kind, answer in zip(answers_of(label) * times, answers, strict=True):
            allowed = {kind.replace(label, other) for other in labels}
            assert answer in allowed, (label, answer, allowed)


@when(parsers.parse('"{label}" connects on {endpoint} answering none of the server\'s requests'))
def connect_mute(world: World, sdk_clients: list[SdkClient], label: str, endpoint: str) -> None:
    client = SdkClient(proxy_url(world, endpoint), proxy_auth(world))
    sdk_clients.append(client)
    assert client.connect().server_info.name == "mcp-lok-test-server"
    world["mute"] = client


@then("carol's `roots` and `ask_llm` are answered by alice or bob, never refused")
def mute_answered(world: World) -> None:
    client: SdkClient = world["mute"]
    roots = tool_text(client.run(lambda s: s.call_tool("roots", {})))
    llm = tool_text(client.run(lambda s: s.call_tool("ask_llm", {"prompt": "carol"})))
    assert roots in {"file:///home/alice", "file:///home/bob"}, roots
    assert llm in {"llm of alice", "llm of bob"}, llm


@then(
    parsers.parse(
        "`count {steps:d}` reports exactly its own {same:d} progress steps to each client"
    )
)
def own_progress(world: World, steps: int, same: int) -> None:
    def counting(label: str) -> Any:
        async def count(session: ClientSession) -> tuple[str, list[tuple[float, Any, Any]]]:
            seen: list[tuple[float, Any, Any]] = []

            async def progress(done: float, total: float | None, message: str | None) -> None:
                seen.append((done, total, message))

            result = await session.call_tool("count", {"steps": steps}, progress_callback=progress)
            return tool_text(result), seen

        return count

    for label, (text, seen) in all_at_once(world, counting).items():
        assert text == f"counted {steps}", (label, text)
        assert seen == [(n, steps, f"step {n}") for n in range(1, same + 1)], (label, seen)


@when(parsers.parse('"{label}" gives up on a `sleep {seconds:d}` after {after:d} second'))
def give_up(world: World, label: str, seconds: int, after: int) -> None:
    client: SdkClient = world["clients"][label]

    async def sleep(session: ClientSession) -> str:
        try:
            await session.call_tool("sleep", {"seconds": seconds}, read_timeout_seconds=after)
        except Exception as error:  # the SDK's timeout: it sends notifications/cancelled
            return type(error).__name__
        return "answered"

    assert client.run(sleep, timeout=after + 20) != "answered"


@then(parsers.parse("the server counted {count:d} cancelled sleep, and both clients carry on"))
def counted_cancel(world: World, count: int) -> None:
    clients: dict[str, SdkClient] = world["clients"]
    deadline = time.monotonic() + 15
    while True:  # the cancellation is a notification: it lands shortly after the timeout
        seen = tool_text(next(iter(clients.values())).run(lambda s: s.call_tool("cancelled", {})))
        if seen == str(count) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert seen == str(count)
    for label, client in clients.items():
        echoed = client.run(lambda s, label=label: s.call_tool("echo", {"text": label}))
        assert tool_text(echoed) == label


# --- raw HTTP ------------------------------------------------------------------------------


def raw_post(
    world: World, body: bytes, headers: dict[str, str] | None = None, auth: bool = True
) -> tuple[int, dict[str, str], Any]:
    """POST `body` to the proxy's /mcp (with its bearer token unless `auth` is false);
    status, headers and the JSON answer (or None)."""
    request = urllib.request.Request(
        proxy_url(world, "/mcp"),
        data=body,
        method="POST",
        headers={**JSON_HEADERS, **(proxy_auth(world) if auth else {}), **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            data = answer.read()
            return int(answer.status), dict(answer.headers), json.loads(data) if data else None
    except urllib.error.HTTPError as refused:
        data = refused.read()
        refused.close()
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        return int(refused.code), dict(refused.headers), parsed


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-e2e", "version": "0"},
    },
}


@then("a method no one knows reaches the server, and its error comes back with the client's id")
def unknown_method(world: World) -> None:
    status, headers, _ = raw_post(world, json.dumps(INITIALIZE).encode())
    assert status == 200, status
    session = {"Mcp-Session-Id": headers["Mcp-Session-Id"]}
    body = {"jsonrpc": "2.0", "id": "mine-7", "method": "vendor/unknown", "params": {"x": 1}}
    status, _, answer = raw_post(world, json.dumps(body).encode(), session)
    assert status == 200, (status, answer)
    assert answer["id"] == "mine-7", answer
    assert answer["error"]["code"] == -32601, answer  # the server's own "method not found"


MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


@then(
    parsers.parse(
        'a raw `server/discover` without a session is answered by the server with "{version}"'
    )
)
def discover(world: World, version: str) -> None:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "server/discover",
        "params": {"_meta": MODERN_META},
    }
    status, headers, answer = raw_post(
        world, json.dumps(body).encode(), {"MCP-Protocol-Version": version}
    )
    assert status == 200, (status, answer)
    assert "Mcp-Session-Id" not in headers, headers
    assert version in answer["result"]["supportedVersions"], answer
    assert (
        answer["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"]
        == "mcp-lok-test-server"
    )


@then(parsers.parse('a raw stateless `tools/call echo` is answered "{text}" with no session named'))
def stateless_call(world: World, text: str) -> None:
    params = {"name": "echo", "arguments": {"text": text}, "_meta": MODERN_META}
    body = {"jsonrpc": "2.0", "id": "s-1", "method": "tools/call", "params": params}
    status, headers, answer = raw_post(
        world, json.dumps(body).encode(), {"MCP-Protocol-Version": "2026-07-28"}
    )
    assert status == 200, (status, answer)
    assert "Mcp-Session-Id" not in headers, headers
    assert answer["id"] == "s-1", answer
    assert answer["result"]["content"][0]["text"] == text, answer


# --- a server that dies ---------------------------------------------------------------------


@when(
    parsers.parse(
        "both clients wait on a `sleep {seconds:d}` and the engine kills the server's container"
    )
)
def kill_while_waiting(world: World, seconds: int) -> None:
    clients: dict[str, SdkClient] = world["clients"]

    def sleeping(label: str) -> Any:
        async def sleep(session: ClientSession) -> str:
            try:
                result = await session.call_tool("sleep", {"seconds": seconds})
            except Exception as error:
                return f"error: {error}"
            return f"answered: {tool_text(result)}"

        return sleep

    pending = {label: c.submit(sleeping(label), seconds + 30) for label, c in clients.items()}
    deadline = time.monotonic() + 15
    while lok_list()[world["name"]]["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # both calls are at the server (the SDK sent them before `submit` returned)
    world["engine"].api.kill(world["container"])
    world["killed_at"] = time.monotonic()
    world["pending"] = pending


@then(
    parsers.parse("both clients get an error naming the stopped server within {seconds:d} seconds")
)
def errors_at_once(world: World, seconds: int) -> None:
    pending: dict[str, concurrent.futures.Future[str]] = world["pending"]
    _done, late = concurrent.futures.wait(pending.values(), timeout=seconds)
    assert not late, f"{len(late)} clients still waiting {seconds} s after the kill"
    for label, future in pending.items():
        assert "server has stopped" in future.result(), (label, future.result())


@then("the proxy's /health answers 503 with the reason")
def health_503(world: World) -> None:
    url = proxy_url(world, "/mcp").removesuffix("/mcp") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            status, about = int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        status, about = int(refused.code), json.loads(refused.read())
    assert status == 503, (status, about)
    assert "stopped" in about["reason"] or "ended" in about["reason"], about


# --- hostile requests -----------------------------------------------------------------------


def raw_case(world: World, case: str) -> int:
    token = {"Authorization": f"Bearer {world['token']}"}
    init = json.dumps(INITIALIZE).encode()
    port = int(proxy_url(world, "/mcp").removesuffix("/mcp").rsplit(":", 1)[1])
    cases: dict[str, tuple[bytes, dict[str, str]]] = {
        "initialize without a token": (init, {}),
        "initialize with a wrong token": (init, {"Authorization": "Bearer " + "x" * 43}),
        "initialize with the token, foreign Host": (
            init,
            {**token, "Host": f"evil.example:{port}"},
        ),
        "initialize with the token, foreign Origin": (
            init,
            {**token, "Origin": "http://evil.example"},
        ),
        "a 5 MiB body with the token": (b"[" + b" " * (5 << 20) + b"]", token),
        "malformed JSON with the token": (b'{"jsonrpc": "2.0", "id": 1, "method": ', token),
        "an unknown MCP-Protocol-Version": (init, {**token, "MCP-Protocol-Version": "1999-01-01"}),
    }
    body, headers = cases[case]
    if case.startswith("a 5 MiB"):
        return post_large(port, body, headers)
    status, _, answer = raw_post(world, body, headers, auth=False)  # as the case says
    if case.startswith("malformed"):
        assert answer["error"]["code"] == -32700, answer  # a JSON-RPC parse error
    return status


def post_large(port: int, body: bytes, headers: dict[str, str]) -> int:
    """The proxy answers 413 from the headers and may close before the body is sent."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("POST", "/mcp")
        for name, value in {**JSON_HEADERS, **headers, "Content-Length": str(len(body))}.items():
            connection.putheader(name, value)
        connection.endheaders()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.send(body)
        return connection.getresponse().status
    finally:
        connection.close()


@then("raw requests to /mcp are answered:")
def raw_requests(world: World, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    assert header == ["request", "status"], header
    got = {case.strip(): raw_case(world, case.strip()) for case, _ in rows}
    assert got == {case.strip(): int(status) for case, status in rows}


@then(parsers.parse("an SDK client with the token on {endpoint} gets `echo` answered"))
def token_client(world: World, sdk_clients: list[SdkClient], endpoint: str) -> None:
    headers = {"Authorization": f"Bearer {world['token']}"}
    client = connect_as(world, sdk_clients, f"holder-{endpoint[1:]}", endpoint, headers=headers)
    assert tool_text(client.run(lambda s: s.call_tool("echo", {"text": "let in"}))) == "let in"


# --- restarts -------------------------------------------------------------------------------


@given(
    parsers.parse(
        '`mcp-lok start` runs the test server over stdio with its protocol tools and "{options}"'
    )
)
def start_with_options(world: World, lok_servers: list[str], options: str) -> None:
    lok_start(world, lok_servers, TEST_SERVER, *PROTOCOL_TOOLS, *options.split())


@when("the engine kills the server's container")
def kill_container(world: World) -> None:
    engine = world["engine"]
    deadline = time.monotonic() + 30
    while not engine.api.inspect_container(world["container"])["State"]["Running"]:
        assert time.monotonic() < deadline, "the server's container is not running"
        time.sleep(0.2)
    engine.api.kill(world["container"])


def health_status(world: World) -> tuple[int, dict[str, Any]]:
    url = proxy_url(world, "/mcp").removesuffix("/mcp") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return int(refused.code), json.loads(refused.read())


def health_becomes(world: World, status: int, seconds: int) -> dict[str, Any]:
    """Poll /health until it answers `status` (the kill is seen first: a 503 comes before
    the 200 of a restart, but may be too short to catch, so only the end is asserted)."""
    deadline = time.monotonic() + seconds
    while True:
        seen, about = health_status(world)
        if seen == status:
            return about
        assert time.monotonic() < deadline, (seen, about)
        time.sleep(0.25)


@then(parsers.parse("the proxy's /health answers 200 again within {seconds:d} seconds"))
def health_again(world: World, seconds: int) -> None:
    time.sleep(1.0)  # the proxy sees the stream end within this; /health must then recover
    health_becomes(world, 200, seconds)
    engine = world["engine"]
    state = engine.api.inspect_container(world["container"])["State"]
    assert state["Running"], state


@then(
    parsers.parse("the proxy's /health answers 503 within {seconds:d} seconds, the restart spent")
)
def health_spent(world: World, seconds: int) -> None:
    about = health_becomes(world, 503, seconds)
    assert "stopped" in about["reason"] or "ended" in about["reason"], about
    time.sleep(2.0)  # a restart would have come by now (its delay is 0.5 s)
    assert health_status(world)[0] == 503


# --- a server per session -------------------------------------------------------------------


def running_containers(world: World) -> list[dict[str, Any]]:
    label = {"label": f"mcp-lok-name={world['name']}"}
    return list(world["engine"].api.containers(filters=label))


@then(
    parsers.parse(
        "the engine runs {count:d} containers for the server, and `whoami` names a different "
        "one to each client"
    )
)
def containers_each(world: World, count: int) -> None:
    assert len(running_containers(world)) == count
    hosts = {
        label: json.loads(tool_text(client.run(lambda s: s.call_tool("whoami", {}))))["hostname"]
        for label, client in world["clients"].items()
    }
    assert len(set(hosts.values())) == len(hosts), hosts


@then(
    parsers.parse(
        "at once, `ask_llm`, `ask_user` and `roots` answer each client with its own name, "
        "{times:d} times each"
    )
)
def own_answers_at_once(world: World, times: int) -> None:
    for label, answers in all_at_once(world, asking(times)).items():
        assert answers == answers_of(label) * times, (label, answers)


@when(parsers.parse('"{label}" disconnects'))
def disconnects(world: World, sdk_clients: list[SdkClient], label: str) -> None:
    client: SdkClient = world["clients"].pop(label)
    client.close()
    sdk_clients.remove(client)


@then(
    parsers.parse(
        "the engine runs {count:d} container for the server within {seconds:d} seconds, "
        '"{label}" carries on'
    )
)
def containers_left(world: World, count: int, seconds: int, label: str) -> None:
    deadline = time.monotonic() + seconds
    while len(running_containers(world)) != count:
        assert time.monotonic() < deadline, running_containers(world)
        time.sleep(0.25)
    client: SdkClient = world["clients"][label]
    assert tool_text(client.run(lambda s: s.call_tool("echo", {"text": "still"}))) == "still"


# --- resumption -----------------------------------------------------------------------------


async def read_events(stream: Any, count: int) -> list[Any]:
    from mcp_lok.proxy import sse

    parser, events = sse.Parser(), []
    async with asyncio.timeout(30):
        while len(events) < count:
            chunk = await stream.content.readany()
            assert chunk, "the stream ended"
            events += parser.feed(chunk)
    return events


async def resumption(url: str, auth: dict[str, str]) -> tuple[list[Any], list[Any]]:
    import aiohttp

    async with aiohttp.ClientSession(headers=auth) as http:
        answer = await http.post(url, json=INITIALIZE, headers=JSON_HEADERS)
        session = {"Mcp-Session-Id": answer.headers["Mcp-Session-Id"]}
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        await http.post(url, json=note, headers={**JSON_HEADERS, **session})
        listen = {"Accept": "text/event-stream", **session}
        stream = await http.get(url, headers=listen)
        assert stream.status == 200
        params = {"name": "count", "arguments": {"steps": 3}, "_meta": {"progressToken": "p"}}
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
        json_only = {"Content-Type": "application/json", "Accept": "application/json", **session}
        done = await (await http.post(url, json=call, headers=json_only)).json()
        assert done["result"]["content"][0]["text"] == "counted 3", done
        sent = await read_events(stream, 3)
        stream.close()
        async with asyncio.timeout(10):
            while True:  # the proxy sees the old stream go, then lets the client resume
                again = await http.get(url, headers={**listen, "Last-Event-ID": sent[0].id})
                if again.status != 409:
                    break
                again.close()
                await asyncio.sleep(0.1)
        assert again.status == 200
        replayed = await read_events(again, 2)
        again.close()
        return sent, replayed


@when("a raw client's `count 3` sends its progress down the session's GET stream")
def count_down_stream(world: World) -> None:
    world["sent"], world["replayed"] = asyncio.run(
        resumption(proxy_url(world, "/mcp"), proxy_auth(world))
    )
    progress = [json.loads(event.data)["params"]["progress"] for event in world["sent"]]
    assert progress == [1, 2, 3], world["sent"]


@when("the client reconnects the stream with the Last-Event-ID of the first progress event")
def reconnected() -> None:
    """Done with the step before, in the same client (one event loop)."""


@then("the resumed stream carries the 2nd and 3rd progress events again, with the same ids")
def replayed(world: World) -> None:
    sent, again = world["sent"], world["replayed"]
    assert [(e.id, e.data) for e in again] == [(e.id, e.data) for e in sent[1:]]


# --- the 1.x SDK client ---------------------------------------------------------------------

SDK1 = Path(__file__).resolve().parents[2] / "target" / "sdk1"


@pytest.fixture(scope="session")
def sdk1_python() -> str:
    """The 1.x client's interpreter: a venv of its own under target/ (the project's venv
    has the 2.x line), made once from PyPI by pip."""
    python = SDK1 / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(SDK1)], check=True, timeout=120)
        install = [str(python), "-m", "pip", "install", "--quiet", "mcp>=1.20,<2"]
        subprocess.run(install, check=True, timeout=600)
    return str(python)


@when(
    parsers.parse(
        "the official 1.x SDK client calls `echo` and `ask_llm` through the proxy's {endpoint}"
    )
)
def sdk1_calls(world: World, sdk1_python: str, endpoint: str) -> None:
    script = Path(__file__).with_name("sdk1_client.py")
    token = world["started"]["token"]
    run = subprocess.run(
        [sdk1_python, str(script), proxy_url(world, endpoint)],
        env={**os.environ, "MCP_LOK_TEST_TOKEN": token},
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    world["sdk1"] = json.loads(run.stdout)


@then(parsers.parse('it was served by "{server}", and its own sampling answered `ask_llm`'))
def sdk1_served(world: World, server: str) -> None:
    got = world["sdk1"]
    assert got["server"] == server, got
    assert {"echo", "ask_llm", "roots"} <= set(got["tools"]), got
    assert got["echo"] == "from 1.x", got
    assert got["ask_llm"] == "llm of sdk1", got


@then(parsers.parse('`mcp-lok list` reports it "{status}" with its URL'))
def listed(world: World, status: str) -> None:
    row = lok_list()[world["name"]]
    assert row["status"] == status, row
    assert row["url"] == world["started"]["url"], row
