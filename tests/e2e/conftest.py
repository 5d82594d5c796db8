"""Shared steps for the BDD end-to-end suite (feature files in `features/`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import re
import subprocess
import sys
import threading
import zoneinfo
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import docker
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import CallToolResult, InitializeResult
from pytest_bdd import given, parsers, then, when

from .engines import PROBE_IMAGE, EngineUnderTest, connect, parse_probe, unavailable, unique_name

PROBE = (Path(__file__).parent / "probe.py").read_text()
MCP_LOK = str(Path(sys.executable).parent / "mcp-lok")
T = TypeVar("T")


class World(dict[str, Any]):
    """What one scenario has seen so far."""


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def engines() -> Iterator[dict[str, EngineUnderTest]]:
    opened: dict[str, EngineUnderTest] = {}
    yield opened
    for engine in opened.values():
        engine.cleanup()


def mcp_lok(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MCP_LOK, *args], capture_output=True, text=True, timeout=60, check=False)


@given(parsers.parse("the {name} engine"))
def the_engine(world: World, engines: dict[str, EngineUnderTest], name: str) -> None:
    engines[name] = connect(name)
    world["engine"] = engines[name]


@given(parsers.parse('the policy source "{source}"'))
def policy_source(world: World, source: str) -> None:
    world["source"] = source


@given(parsers.parse('a host folder "{name}" holding "{file}"'))
def host_folder_with_file(world: World, tmp_path: Path, name: str, file: str) -> None:
    folder = tmp_path / name
    (folder / "hidden").mkdir(parents=True)
    (folder / "hidden" / "secret.txt").write_text("do not show")
    (folder / file).write_text("hello from the host")
    folder.chmod(0o755)
    world.setdefault("folders", {})[name] = folder


@given(parsers.parse('a host folder "{name}"'))
def host_folder(world: World, tmp_path: Path, name: str) -> None:
    folder = tmp_path / name
    folder.mkdir()
    folder.chmod(0o777)  # the server runs as 65534 and must be able to write here
    world.setdefault("folders", {})[name] = folder


@given("a policy file:")
def policy_file(world: World, tmp_path: Path, docstring: str) -> None:
    text = docstring.format(**{k: str(v) for k, v in world.get("folders", {}).items()})
    path = tmp_path / "policy.lok"
    path.write_text(text + "\n")
    world["source"] = str(path)


@when("I compile it with `mcp-lok policy compile` for the probe image")
def compile_for_probe(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    paths = ["/data", "/data/hello.txt", "/data/hidden", "/out"]
    name = unique_name()
    result = mcp_lok(
        "policy",
        "compile",
        world["source"],
        "--image",
        PROBE_IMAGE,
        "--engine",
        engine.name,
        "--name",
        name,
        "--",
        "python3",
        "-c",
        PROBE,
        *paths,
    )
    assert result.returncode == 0, result.stderr
    world["plan"] = json.loads(result.stdout)


@when("the engine creates and runs the container from the printed payload unchanged")
def create_and_run(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    plan = world["plan"]
    engine.write_files(plan["files"])
    container = engine.create(plan["container"], plan["container_name"])
    code, out, err = engine.run_to_end(container)
    assert code == 0, f"probe exited {code}: {err}"
    world["container"] = container
    world["probe"] = parse_probe(out)


@when(parsers.parse("I run `mcp-lok policy validate` on it"))
def validate_it(world: World) -> None:
    world["result"] = mcp_lok("policy", "validate", world["source"])


@then(parsers.parse("the exit code is {code:d}"))
def exit_code(world: World, code: int) -> None:
    result = world["result"]
    assert result.returncode == code, result.stderr


@then(parsers.parse('stderr says "{text}"'))
def stderr_says(world: World, text: str) -> None:
    assert text in world["result"].stderr, world["result"].stderr


@then(parsers.parse('stderr names the diagnostic "{code}" twice'))
def names_twice(world: World, code: str) -> None:
    assert world["result"].stderr.count(f"error[{code}]") == 2, world["result"].stderr


@then("stderr reports these errors, in this order:")
def reports_in_order(world: World, datatable: list[list[str]]) -> None:
    """The table's errors and no other, in its order: each one's line, code and a part of
    its help (an empty cell: any help, or none)."""
    stderr: str = world["result"].stderr
    found = []
    for block in stderr.strip().split("\n\n"):  # one diagnostic each
        head, *rest = block.splitlines()
        if where := re.match(r"\S+?:(\d+):\d+: error\[([^\]]+)\]", head):
            help = next((r for r in rest if r.startswith("  = help: ")), "")
            found.append((where[1], where[2], help))
    assert [(line, code) for line, code, _ in found] == [
        (line, code) for line, code, _ in datatable[1:]
    ], stderr
    for (_, _, help), (_, _, part) in zip(found, datatable[1:], strict=True):
        assert part in help, (part, help)


# --- servers started by `mcp-lok start`, driven by the official MCP Python SDK client ---------
# for the transports and protocol features

EXCHANGE_TIMEOUT = 30.0  # seconds any one MCP exchange (connect+initialize, a call) may take


def image_required(engine: EngineUnderTest, image: str) -> None:
    """The image a scenario starts must be built on the engine (fails in CI, skips locally)."""
    try:
        engine.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        unavailable(f"{image} is missing on {engine.name}; run `make images`")


def lok_list() -> dict[str, dict[str, Any]]:
    """`mcp-lok list --all --format json`, by name."""
    result = mcp_lok("list", "--all", "--format", "json")
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


@pytest.fixture
def lok_servers(engines: dict[str, EngineUnderTest]) -> Iterator[list[str]]:
    """Names of the servers a scenario started with `mcp-lok start`. Each is removed
    afterwards by its name with `mcp-lok rm --force`; should that fail (e.g. the start itself
    failed half-way), whatever the engine still holds under that name's label goes too."""
    names: list[str] = []
    yield names
    for name in names:
        if mcp_lok("rm", "--force", name).returncode == 0:
            continue
        for engine in engines.values():
            label = {"label": f"mcp-lok-name={name}"}
            for found in engine.api.containers(all=True, filters=label):
                with contextlib.suppress(docker.errors.APIError):
                    engine.api.remove_container(found["Id"], force=True)


def lok_start(world: World, lok_servers: list[str], image: str, *options: str) -> None:
    """The real product path: `mcp-lok start --format json`, the installed console script."""
    engine: EngineUnderTest = world["engine"]
    image_required(engine, image)
    name = unique_name("e2e")
    lok_servers.append(name)  # before starting: a half-done start is cleaned up too
    result = mcp_lok(
        "start", "--format", "json", "--engine", engine.name, "--name", name, *options, image
    )
    assert result.returncode == 0, result.stderr
    started = json.loads(result.stdout)
    assert started["name"] == name, started
    # private by default: the proxy requires the bearer token it printed
    assert started["auth"] is ("--no-auth" not in options), started
    assert (started["token"] is not None) is started["auth"], started
    world["name"] = name
    world["started"] = started
    world["container"] = lok_list()[name]["container"]  # the server's container, in the engine


@given(parsers.parse('`mcp-lok start` runs "{image}" under the "{profile}" profile'))
def lok_start_profile(world: World, lok_servers: list[str], image: str, profile: str) -> None:
    lok_start(world, lok_servers, image, "--permission-profile", profile)


@given(parsers.parse('`mcp-lok start` runs "{image}" with the "{transport}" transport'))
def lok_start_transport(world: World, lok_servers: list[str], image: str, transport: str) -> None:
    lok_start(world, lok_servers, image, "--transport", transport)


def proxy_url(world: World, endpoint: str) -> str:
    """The client URL `mcp-lok start` printed for `endpoint` (`/mcp` or `/sse`)."""
    url = str(world["started"]["url" if endpoint == "/mcp" else "sse_url"])
    assert url.startswith("http://127.0.0.1:"), url
    assert url.endswith(endpoint), (url, endpoint)
    return url


def proxy_auth(world: World) -> dict[str, str]:
    """The header every request to the proxy carries: the bearer token `mcp-lok start`
    printed (the proxy requires one unless started with `--no-auth`)."""
    token = world["started"].get("token")
    return {"Authorization": f"Bearer {token}"} if token else {}


class SdkClient:
    """One session of the official MCP Python SDK client (Streamable HTTP for a `/mcp` URL,
    legacy SSE for `/sse`), held open across steps on its own event-loop thread, so the SDK's
    context managers are entered and left in one task. Every exchange is bounded."""

    def __init__(
        self, url: str, headers: dict[str, str] | None = None, **session_options: Any
    ) -> None:
        self.url = url
        self.headers = headers  # extra HTTP headers on every request (e.g. a bearer token)
        self.session_options = session_options  # ClientSession callbacks (sampling, roots, …)
        self.session: ClientSession | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._stop = asyncio.Event()
        self._held: concurrent.futures.Future[None] | None = None

    def connect(self, timeout: float = EXCHANGE_TIMEOUT) -> InitializeResult:
        """Open the transport and the session, and send `initialize`; its result."""
        ready: concurrent.futures.Future[InitializeResult] = concurrent.futures.Future()
        self._held = asyncio.run_coroutine_threadsafe(self._hold(ready), self._loop)
        try:
            return ready.result(timeout)
        except concurrent.futures.TimeoutError:
            raise AssertionError(f"{self.url}: no `initialize` answer in {timeout} s") from None

    def transport(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """The SDK's transport to the server (a subclass may use stdio instead)."""
        if self.url.endswith("/sse"):
            return sse_client(self.url, headers=self.headers)
        http = create_mcp_http_client(headers=self.headers) if self.headers else None
        return streamable_http_client(self.url, http_client=http)

    async def _hold(self, ready: concurrent.futures.Future[InitializeResult]) -> None:
        try:
            async with (
                self.transport() as streams,
                ClientSession(*streams[:2], **self.session_options) as session,
            ):
                initialized = await session.initialize()
                self.session = session
                ready.set_result(initialized)
                await self._stop.wait()
        except BaseException as error:
            if not ready.done():
                ready.set_exception(error)
            raise

    def submit(
        self,
        exchange: Callable[[ClientSession], Awaitable[T]],
        timeout: float = EXCHANGE_TIMEOUT,
    ) -> concurrent.futures.Future[T]:
        """Start `exchange(session)` on the client's loop, bounded by `timeout`."""
        session = self.session
        assert session is not None, f"{self.url}: not connected"

        async def bounded() -> T:
            return await asyncio.wait_for(exchange(session), timeout)

        return asyncio.run_coroutine_threadsafe(bounded(), self._loop)

    def run(
        self,
        exchange: Callable[[ClientSession], Awaitable[T]],
        timeout: float = EXCHANGE_TIMEOUT,
    ) -> T:
        return self.submit(exchange, timeout).result(timeout + 5)

    def close(self) -> None:
        """End the session (bounded); a session whose server died may end with an error."""
        if self._held is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            try:
                self._held.result(10)
            except Exception:
                self._held.cancel()
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(
                    self._loop.shutdown_asyncgens(), self._loop
                ).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()


@pytest.fixture
def sdk_clients() -> Iterator[list[SdkClient]]:
    """SDK client sessions a scenario opened; all closed afterwards."""
    opened: list[SdkClient] = []
    yield opened
    for client in opened:
        client.close()


def sdk_connect(world: World, sdk_clients: list[SdkClient], endpoint: str) -> SdkClient:
    client = SdkClient(proxy_url(world, endpoint), proxy_auth(world))
    sdk_clients.append(client)
    world["initialized"] = client.connect()
    world["client"] = client
    return client


@when(parsers.parse("an SDK client connects to the proxy's {endpoint}"))
def sdk_connects(world: World, sdk_clients: list[SdkClient], endpoint: str) -> None:
    sdk_connect(world, sdk_clients, endpoint)


@then(parsers.parse('`initialize` answers as "{server}"'))
def initialize_answers(world: World, server: str) -> None:
    initialized: InitializeResult = world["initialized"]
    assert initialized.server_info.name == server, initialized
    # the version the server and the SDK agreed on, in MCP's date form
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", initialized.protocol_version), initialized
    assert initialized.capabilities.tools is not None, initialized.capabilities


@then(parsers.parse('`tools/list` lists exactly "{names}"'))
def tools_listed(world: World, names: str) -> None:
    client: SdkClient = world["client"]
    listed = client.run(lambda session: session.list_tools())
    assert sorted(tool.name for tool in listed.tools) == sorted(names.split(", ")), listed


def sdk_call(world: World, tool: str, arguments: str) -> CallToolResult:
    client: SdkClient = world["client"]
    args = json.loads(arguments)
    result = client.run(lambda session: session.call_tool(tool, args))
    assert not result.is_error, result
    return result


def tool_text(result: CallToolResult) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


def tool_json(result: CallToolResult) -> dict[str, Any]:
    """A tool's JSON answer: its structured content, or else its text parsed."""
    if result.structured_content is not None:
        return dict(result.structured_content)
    return dict(json.loads(tool_text(result)))


@then(parsers.re(r'`tools/call (?P<tool>\w+) (?P<arguments>\{.*\})` answers "(?P<text>[^"]*)"$'))
def tool_answers_text(world: World, tool: str, arguments: str, text: str) -> None:
    assert tool_text(sdk_call(world, tool, arguments)) == text


def assert_time_in(answer: dict[str, Any], zone: str) -> None:
    """`answer` is mcp-server-time's answer for `zone`: the zone, and the current time there."""
    assert answer["timezone"] == zone, answer
    told = datetime.fromisoformat(answer["datetime"])
    now = datetime.now(UTC)
    assert abs(told - now) < timedelta(minutes=5), (answer, now)
    assert told.utcoffset() is not None, answer
    with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError):  # no tz database on this host
        assert told.utcoffset() == now.astimezone(zoneinfo.ZoneInfo(zone)).utcoffset(), answer


@then(
    parsers.re(
        r"`tools/call get_current_time (?P<arguments>\{.*\})` answers the current time in "
        r'"(?P<zone>[^"]+)"$'
    )
)
def tool_answers_time(world: World, arguments: str, zone: str) -> None:
    assert_time_in(tool_json(sdk_call(world, "get_current_time", arguments)), zone)
