"""Feature area: server lifecycle (features/lifecycle.feature), on real Docker and Podman.

Every server a scenario starts is named uniquely and removed afterwards by that name: first
with `mcp-lok rm --force`, then, should that have failed, through the engine by the
`mcp-lok-name` label. Engine state is always checked through the engine's own API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from .conftest import MCP_LOK, World, mcp_lok
from .engines import HARDENED_FIELDS, SOCKETS, EngineUnderTest, unavailable, unique_name

# pytest-bdd makes every step a fixture of the module that defines it: the steps of
# `restart`, `inspect` and `logs`, and of servers that fail, imported here, where the
# scenarios run
from .lifecycle_failures import *  # noqa: F403
from .verbs_steps import *  # noqa: F403

scenarios("lifecycle.feature")

RUNTIME = Path("/run/mcp-lok")
# `MCP_LOK_CYCLES=N` caps the start/rm cycle scenario (e.g. for a quick local run)
CYCLES_CAP = int(os.environ.get("MCP_LOK_CYCLES", "0")) or None
CYCLE_WORKERS = 5


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def servers(engines: dict[str, EngineUnderTest]) -> Iterator[list[str]]:
    """Names of the servers a scenario started; all removed afterwards, by name."""
    names: list[str] = []
    yield names
    for name in names:
        if (RUNTIME / name).exists():
            mcp_lok("rm", "--force", name)
        for engine in engines.values():
            remove_by_label(engine, name)


def remove_by_label(engine: EngineUnderTest, name: str) -> None:
    for found in containers_of(engine, name):
        with contextlib.suppress(Exception):
            engine.api.remove_container(found["Id"], force=True)
    for found in networks_of(engine, name):
        with contextlib.suppress(Exception):
            engine.api.remove_network(found["Id"])


def containers_of(engine: EngineUnderTest, name: str) -> list[dict[str, Any]]:
    by_label = engine.api.containers(all=True, filters={"label": f"mcp-lok-name={name}"})
    by_name = engine.api.containers(all=True, filters={"name": f"mcp-lok-{name}"})
    return list({c["Id"]: c for c in [*by_label, *by_name]}.values())


def networks_of(engine: EngineUnderTest, name: str) -> list[dict[str, Any]]:
    found = [
        n
        for n in engine.api.networks()
        if n["Name"] == f"mcp-lok-{name}" or (n.get("Labels") or {}).get("mcp-lok-name") == name
    ]
    return list({n["Id"]: n for n in found}.values())


def require_image(engine: EngineUnderTest, image: str) -> None:
    try:
        engine.api.inspect_image(image)
    except Exception:
        unavailable(f"{image} is missing on {engine.name}; run `make images`")


def state_of(name: str) -> dict[str, Any]:
    return dict(json.loads((RUNTIME / name / "state.json").read_text()))


def listed(*args: str) -> list[dict[str, Any]]:
    result = mcp_lok("list", "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


# --- starting ------------------------------------------------------------------------------


def start(world: World, servers: list[str], image: str, *args: str) -> None:
    engine: EngineUnderTest = world["engine"]
    if image != "mcp-lok/no-such-image":
        require_image(engine, image)
    name = world.get("name") or unique_name("life")
    if name not in servers:
        servers.append(name)
    world["name"] = name
    engine_arg = world.get("engine_url", engine.name)
    world["result"] = mcp_lok("start", "--engine", engine_arg, "--name", name, *args, image)


@when(parsers.parse('I start "{image}" with the "{profile}" profile'))
def start_with_profile(world: World, servers: list[str], image: str, profile: str) -> None:
    start(world, servers, image, "--permission-profile", profile)


@when(parsers.parse('I start "{image}" again with the same name'))
def start_again(world: World, servers: list[str], image: str) -> None:
    assert world["result"].returncode == 0, world["result"].stderr
    start(world, servers, image)


@given("a port that is already in use")
def busy_port(world: World) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    world["busy"] = holder
    world["port"] = holder.getsockname()[1]


@when(parsers.parse('I start "{image}" on that port'))
def start_on_port(world: World, servers: list[str], image: str) -> None:
    start(world, servers, image, "--port", str(world["port"]))
    world["busy"].close()


@when(parsers.parse('I start "{image}" with the "{transport}" transport'))
def start_with_transport(world: World, servers: list[str], image: str, transport: str) -> None:
    start(world, servers, image, "--transport", transport)


@when("I stop it")
def stop_it(world: World) -> None:
    result = mcp_lok("stop", world["name"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == world["name"]


@when("I remove it")
def remove_it(world: World) -> None:
    world["result"] = mcp_lok("rm", world["name"])
    assert world["result"].returncode == 0, world["result"].stderr
    assert world["result"].stdout.strip() == world["name"]


@when("I remove it while it runs")
def remove_running(world: World) -> None:
    world["result"] = mcp_lok("rm", world["name"])


@when("I remove it with --force")
def remove_forced(world: World) -> None:
    world["result"] = mcp_lok("rm", "--force", world["name"])
    assert world["result"].returncode == 0, world["result"].stderr


@when("I kill its proxy with SIGKILL")
def kill_proxy(world: World) -> None:
    assert world["result"].returncode == 0, world["result"].stderr
    pid = state_of(world["name"])["proxy_pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


# --- checking ------------------------------------------------------------------------------


@then(parsers.parse('`mcp-lok {command}` shows it as "{status}"'))
def shows_as(world: World, command: str, status: str) -> None:
    rows = {r["name"]: r for r in listed(*command.split()[1:])}
    assert world["name"] in rows, rows
    assert rows[world["name"]]["status"] == status, rows[world["name"]]


@then("`mcp-lok list` shows it is no longer served")
def no_longer_served(world: World) -> None:
    rows = {r["name"]: r for r in listed()}
    # the proxy is gone, so the server is unhealthy; when the engine also closes the
    # server's stdin with the attach (Podman does), the server exits, and `list` says so
    assert rows[world["name"]]["status"] in ("unhealthy", "exited"), rows[world["name"]]


@then(parsers.parse("`mcp-lok {command}` does not show it"))
def does_not_show(world: World, command: str) -> None:
    assert world["name"] not in {r["name"] for r in listed(*command.split()[1:])}


@then("its proxy answers on /health")
def health(world: World) -> None:
    rows = {r["name"]: r for r in listed()}
    url = rows[world["name"]]["url"].removesuffix("/mcp")
    with urllib.request.urlopen(f"{url}/health", timeout=10) as answer:
        assert answer.status == 200


@then("the engine runs its container and its network")
def engine_runs(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    found = containers_of(engine, world["name"])
    assert [c["State"] for c in found] == ["running"], found
    assert len(networks_of(engine, world["name"])) == 1


@then("the engine runs its server and its gate")
def engine_runs_gate(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    found = {c["Labels"]["mcp-lok-role"]: c["State"] for c in containers_of(engine, world["name"])}
    assert found == {"server": "running", "gate": "running"}, found


@then(parsers.parse('`mcp-lok logs` shows "{text}"'))
def logs_show(world: World, text: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        result = mcp_lok("logs", world["name"])
        assert result.returncode == 0, result.stderr
        if text in result.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert text in result.stdout, result.stdout


@then("the engine has no container and no network of it")
def nothing_left(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    assert containers_of(engine, world["name"]) == []
    assert networks_of(engine, world["name"]) == []


@then("its runtime folder is gone")
def folder_gone(world: World) -> None:
    assert not (RUNTIME / world["name"]).exists(), list((RUNTIME / world["name"]).iterdir())


# --- the foreground `run` ----------------------------------------------------------------------


@pytest.fixture
def foreground() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def run_in_foreground(
    world: World,
    servers: list[str],
    foreground: list[Any],
    image: str,
    profile: str,
    command: str = "run",
) -> subprocess.Popen[str]:
    """`mcp-lok COMMAND` (run or start) as a child process, not waited for."""
    engine: EngineUnderTest = world["engine"]
    require_image(engine, image)
    name = unique_name("life")
    servers.append(name)
    world["name"] = name
    process = subprocess.Popen(
        [
            MCP_LOK,
            command,
            "--engine",
            engine.name,
            "--name",
            name,
            "--permission-profile",
            profile,
            image,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    foreground.append(process)
    world["process"] = process
    return process


@when(parsers.parse('I run "{image}" in the foreground with the "{profile}" profile'))
def run_foreground(
    world: World,
    servers: list[str],
    foreground: list[subprocess.Popen[str]],
    image: str,
    profile: str,
) -> None:
    process = run_in_foreground(world, servers, foreground, image, profile)
    world["stderr"] = read_until(process, "client config:", timeout=60)


@when(
    parsers.parse('I run "{image}" in the foreground with the "{profile}" profile without waiting')
)
def run_foreground_now(
    world: World,
    servers: list[str],
    foreground: list[subprocess.Popen[str]],
    image: str,
    profile: str,
) -> None:
    run_in_foreground(world, servers, foreground, image, profile)


@when(parsers.parse('I start "{image}" with the "{profile}" profile without waiting'))
def start_now(
    world: World,
    servers: list[str],
    foreground: list[subprocess.Popen[str]],
    image: str,
    profile: str,
) -> None:
    run_in_foreground(world, servers, foreground, image, profile, command="start")


@when(parsers.parse("I send it {name} after {delay:f} seconds"))
def signal_after(world: World, name: str, delay: float) -> None:
    time.sleep(delay)
    world["process"].send_signal(getattr(signal, name))


@then(parsers.parse("it exits within {seconds:d} seconds"))
def exits(world: World, seconds: int) -> None:
    # 0 when it was already serving, 1 when provisioning was cut short; either way it ends
    world["process"].wait(timeout=seconds)


def read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    """Collect stderr lines (in a thread, so the wait is bounded) until `marker`, then
    the JSON snippet that follows it."""
    lines: list[str] = []
    done = threading.Event()

    def reader() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if line.rstrip() == "}" and any(marker in seen for seen in lines):
                done.set()
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    done.wait(timeout)
    return lines


@then("it prints the client URLs and a client config on stderr")
def prints_urls(world: World) -> None:
    text = "".join(world["stderr"])
    assert "/mcp" in text, text
    assert "/sse" in text, text
    snippet = json.loads(text.split("client config:", 1)[1])
    url = snippet["mcpServers"][world["name"]]["url"]
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/mcp")


@when(parsers.re(r"I send it (?P<name>SIG[A-Z]+)$"))
def send_signal(world: World, name: str) -> None:
    world["process"].send_signal(getattr(signal, name))


@then(parsers.parse("it exits with code {code:d} within {seconds:d} seconds"))
def exits_with(world: World, code: int, seconds: int) -> None:
    assert world["process"].wait(timeout=seconds) == code


# --- the recording relay -----------------------------------------------------------------------


class Relay:
    """A Unix-socket relay in front of the engine's socket that records what clients send
    (in its own thread and event loop), so a test sees the exact bytes the engine got."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.path = f"/tmp/mcp-lok-relay-{uuid.uuid4().hex[:8]}.sock"
        self.streams: list[bytearray] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Relay:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.start_unix_server(self._relay, self.path))
        self.ready.set()
        self.loop.run_forever()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
        sent = bytearray()
        self.streams.append(sent)
        await asyncio.gather(self._pump(reader, up_writer, sent), self._pump(up_reader, writer))
        for end in (writer, up_writer):
            end.close()

    @staticmethod
    async def _pump(
        source: asyncio.StreamReader, sink: asyncio.StreamWriter, record: bytearray | None = None
    ) -> None:
        try:
            while data := await source.read(65536):
                if record is not None:
                    record.extend(data)
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()

    def bodies(self, method: str, path: str) -> list[bytes]:
        """Bodies of every `method` request to a path ending in `path` (query stripped)."""
        found = []
        for stream in list(self.streams):
            for line, body in _requests(bytes(stream)):
                verb, target = line.split(" ")[:2]
                if verb == method and target.split("?")[0].endswith(path):
                    found.append(body)
        return found


def _requests(data: bytes) -> Iterator[tuple[str, bytes]]:
    while b"\r\n\r\n" in data:
        head, data = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
        length = int(headers.get("content-length", "0"))
        body, data = data[:length], data[length:]
        yield lines[0], body
        if headers.get("upgrade"):
            return  # the rest is an attach stream, not HTTP


@pytest.fixture
def relays() -> Iterator[list[Relay]]:
    """Relays a scenario opened; closed after the servers fixture removed its servers."""
    opened: list[Relay] = []
    yield opened
    for running in opened:
        running.__exit__(None, None, None)


@given("a relay in front of the engine's socket that records every request")
def relay(world: World, relays: list[Relay]) -> None:
    engine: EngineUnderTest = world["engine"]
    running = Relay(SOCKETS[engine.name]).__enter__()
    relays.append(running)
    world["relay"] = running
    world["engine_url"] = f"unix://{running.path}"


@when(parsers.parse('I start "{image}" through the relay'))
def start_through_relay(world: World, servers: list[str], image: str) -> None:
    start(world, servers, image)


@then("the body of POST /containers/create is the `policy compile` output's container")
def body_is_compiled(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    compiled = mcp_lok(
        "policy",
        "compile",
        "stdio",
        "--image",
        "mcp-lok/mcp-server-time",
        "--engine",
        engine.name,
        "--name",
        world["name"],
    )
    assert compiled.returncode == 0, compiled.stderr
    # the one value a launch fills in: its nonce, where `policy compile` prints `${launch}`
    # (secrets aside); `mcp-lok inspect` shows it
    inspected = mcp_lok("inspect", world["name"], "--format", "json")
    assert inspected.returncode == 0, inspected.stderr
    launch = json.loads(inspected.stdout)["launch"]
    assert compiled.stdout.count('"${launch}"') == 1, compiled.stdout
    plan = json.loads(compiled.stdout.replace('"${launch}"', json.dumps(launch)))
    bodies = world["relay"].bodies("POST", "/containers/create")
    assert len(bodies) == 1, bodies
    assert json.loads(bodies[0]) == plan["container"]
    # byte for byte: the canonical (sorted, compact) form of what compile printed
    canonical = json.dumps(
        plan["container"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert bodies[0] == canonical.encode()
    world["plan"] = plan


@then("the engine's inspect of the container agrees with the compiled payload")
def inspect_agrees(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    body = world["plan"]["container"]
    seen = engine.inspect(world["plan"]["container_name"])
    assert seen["Config"]["User"] == body["User"]
    assert seen["Config"]["OpenStdin"] is body["OpenStdin"] is True
    assert seen["Config"]["Tty"] is False
    for label, value in body["Labels"].items():
        assert seen["Config"]["Labels"][label] == value
    host, want = seen["HostConfig"], body["HostConfig"]
    for key in HARDENED_FIELDS:
        assert host[key] == want[key], key
    assert any(o.startswith("no-new-privileges") for o in host["SecurityOpt"])
    if engine.name == "docker":
        assert host["SecurityOpt"] == want["SecurityOpt"]
    assert seen["State"]["Running"] is True


# --- cycles ------------------------------------------------------------------------------------


@when(parsers.parse('I start and remove a server {count:d} times with the "{profile}" profile'))
def cycles(world: World, servers: list[str], count: int, profile: str) -> None:
    """`count` start/rm cycles, run by a few workers at once: each worker's cycles are
    sequential, and the workers also prove concurrent launches do not trip each other."""
    engine: EngineUnderTest = world["engine"]
    require_image(engine, "mcp-lok/mcp-server-time")
    names = [unique_name("cycle") for _ in range(min(count, CYCLES_CAP or count))]
    servers.extend(names)

    def cycle(name: str) -> tuple[str, str, str] | None:
        started = mcp_lok(
            "start",
            "--engine",
            engine.name,
            "--name",
            name,
            "--permission-profile",
            profile,
            "mcp-lok/mcp-server-time",
        )
        removed = mcp_lok("rm", "--force", name)
        if started.returncode or removed.returncode:
            return (name, started.stderr, removed.stderr)
        return None

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=CYCLE_WORKERS) as pool:
        world["failures"] = [f for f in pool.map(cycle, names) if f is not None]
    world["seconds"] = time.monotonic() - began


@then("every cycle succeeded")
def every_cycle(world: World) -> None:
    assert world["failures"] == []


@then("the engine has no container and no network of any of them")
def none_of_them(world: World, servers: list[str]) -> None:
    engine: EngineUnderTest = world["engine"]
    for name in servers:
        assert containers_of(engine, name) == [], name
        assert networks_of(engine, name) == [], name


@then("no runtime folder of any of them is left")
def no_folders(servers: list[str]) -> None:
    assert [n for n in servers if (RUNTIME / n).exists()] == []
