"""Ingress through the gate on real Docker and Podman, driven by the official MCP SDK.

For each engine: compile a plan for our HTTP test server, create the gate and the server
from the plan's payloads exactly as compiled, put a `Forwarder` behind a tiny aiohttp app
on the host, and talk MCP to it (Streamable HTTP and legacy SSE). Then look from inside:
the server has only `lo` and cannot see the gate's socket folder or its processes.

The gate image is built from the working tree (`images/gate/Dockerfile` + `proxy/gate/`)
as `mcp-lok/gate:test`, so the test always runs the gate it is next to. In CI (`CI` set) a
missing engine or image fails the run; elsewhere it skips.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
from aiohttp import web
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from mcp_lok.policy import Engine, LaunchPlan, Target, Transport, compile_plan
from mcp_lok.policy.host import FixedHost
from mcp_lok.proxy.forward import Forwarder
from tests.e2e.engines import unavailable
from tests.gate_image import image_package

REPO = Path(__file__).resolve().parents[2]
SOCKETS = {"docker": "/var/run/docker.sock", "podman": "/run/podman/podman.sock"}
BASE_IMAGE = "mcp-lok/base:latest"
SERVER_IMAGE = "mcp-lok/http-test-server:latest"
GATE_IMAGE = "mcp-lok/gate:test"
GATE_UID = 65533

pytestmark = [pytest.mark.e2e, pytest.mark.transports, pytest.mark.timeout(300)]


# --- engines and the gate image -------------------------------------------------------


def _context() -> io.BytesIO:
    """The gate's build context as the image build makes it: its Dockerfile and the gate
    program, with the modules it shares with mcp-lok (`scripts/build_images.py`)."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder, tarfile.open(fileobj=buffer, mode="w") as tar:
        context = image_package(Path(folder))
        for path in sorted(p for p in context.rglob("*") if p.is_file()):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(context).as_posix())
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


@dataclass(frozen=True)
class Engineered:
    """An engine under test: its name (as lowering knows it) and its API client."""

    engine: Engine
    api: Any  # docker.APIClient; its stubs leave much of it untyped


@pytest.fixture(scope="module", params=["docker", "podman"])
def engine(request: pytest.FixtureRequest) -> Engineered:
    name: str = request.param
    request.applymarker(getattr(pytest.mark, name))
    socket = SOCKETS[name]
    if not os.path.exists(socket):
        unavailable(f"{name} is not running ({socket} does not exist)")
    client: Any = docker.APIClient(base_url=f"unix://{socket}", version="1.41", timeout=120)
    try:
        client.version()
    except Exception as error:  # any failure to answer means the engine is not usable
        unavailable(f"{name} does not answer on {socket}: {error}")
    for image in (BASE_IMAGE, SERVER_IMAGE):
        try:
            client.inspect_image(image)
        except docker.errors.ImageNotFound:
            unavailable(f"{image} is missing on {name}; run `make images`")
    log = list(
        client.build(
            fileobj=_context(),
            custom_context=True,
            # Podman's compat API would file a bare name under docker.io/; local images
            # live under localhost/, where the short name resolves first
            tag=f"localhost/{GATE_IMAGE}" if name == "podman" else GATE_IMAGE,
            network_mode="none",
            buildargs={"BASE": BASE_IMAGE},
            pull=False,
            rm=True,
            forcerm=True,
            decode=True,
        )
    )
    errors = [entry for entry in log if "error" in entry]
    assert not errors, f"building {GATE_IMAGE} on {name} failed: {errors}"
    return Engineered(Engine(name), client)


# --- one server behind its gate -------------------------------------------------------


@dataclass
class Launched:
    api: Any
    plan: LaunchPlan
    runtime_dir: str
    socket: str
    ids: dict[str, str] = field(default_factory=dict)

    def logs(self) -> str:
        out = []
        for role, container in self.ids.items():
            with_logs = self.api.logs(container, stdout=True, stderr=True).decode(errors="replace")
            out.append(f"--- {role} ---\n{with_logs}")
        return "\n".join(out)

    def exec(self, role: str, command: list[str]) -> tuple[int, str]:
        created = self.api.exec_create(self.ids[role], command)
        output = self.api.exec_start(created["Id"]).decode(errors="replace")
        return int(self.api.exec_inspect(created["Id"])["ExitCode"]), output

    def create(self, role: str, body: Any, name: str) -> None:
        """POST /containers/create with the body exactly as compiled, then start it."""
        created = self.api.create_container_from_config(body, name=name)
        self.ids[role] = str(created["Id"])
        self.api.start(self.ids[role])

    def remove(self) -> None:
        # the server first: it lives in the gate's network namespace
        for role in ("server", "gate"):
            if role in self.ids:
                with suppress(docker.errors.NotFound):
                    self.api.remove_container(self.ids[role], force=True)


def write_files(plan: LaunchPlan, runtime_dir: str, gate_dir: str) -> None:
    """What the launcher does with `plan.files`, by hand."""
    for entry in plan.files:
        path = Path(entry.path)
        assert path.is_relative_to(runtime_dir), f"the plan writes outside its runtime dir: {path}"
        if entry.directory:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(entry.content)
        path.chmod(entry.mode)
        if entry.owner:
            uid, gid = (int(part) for part in entry.owner.split(":"))
            os.chown(path, uid, gid)
    # the plan itself says the gate's folder is the gate's uid's alone: root on the host
    # reaches the socket, no other host user does
    assert os.stat(gate_dir).st_uid == GATE_UID
    assert os.stat(gate_dir).st_mode & 0o777 == 0o700


def wait_for_socket(launched: Launched, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while not os.path.exists(launched.socket):
        state = launched.api.inspect_container(launched.ids["gate"])["State"]
        assert state["Running"], f"the gate exited ({state['ExitCode']}):\n{launched.logs()}"
        assert time.monotonic() < end, f"no ingress socket after {timeout} s:\n{launched.logs()}"
        time.sleep(0.05)


@pytest.fixture
def launch(engine: Engineered) -> Iterator[Any]:
    """Compile, write files, create and start the gate; the server is started on demand."""
    runtime_dirs: list[str] = []
    launched_all: list[Launched] = []

    def start(transport: Transport, source: str = "stdio") -> Launched:
        runtime_dir = tempfile.mkdtemp(prefix="lok-", dir="/tmp")  # short: sun_path is 108 B
        runtime_dirs.append(runtime_dir)
        name = f"it-{uuid.uuid4().hex[:10]}"
        target = Target(
            image=SERVER_IMAGE,
            name=name,
            engine=engine.engine,
            transport=transport,
            runtime_dir=runtime_dir,
            gate_image=GATE_IMAGE,
        )
        plan = compile_plan(source, target, host=FixedHost())
        assert plan.gate is not None
        ingress = plan.gate.config.ingress
        assert ingress is not None
        gate_dir = f"{runtime_dir}/{name}/gate"
        socket = f"{gate_dir}/{Path(ingress.socket).name}"
        write_files(plan, runtime_dir, gate_dir)
        launched = Launched(engine.api, plan, runtime_dir, socket)
        launched_all.append(launched)
        launched.create("gate", plan.gate.container.body, plan.gate.container.name)
        wait_for_socket(launched)
        return launched

    try:
        yield start
    finally:
        for launched in launched_all:
            launched.remove()
        for runtime_dir in runtime_dirs:
            shutil.rmtree(runtime_dir, ignore_errors=True)


def start_server(launched: Launched) -> None:
    body: Any = launched.plan.server.body
    assert launched.plan.gate is not None
    assert body["HostConfig"]["NetworkMode"] == f"container:{launched.plan.gate.container.name}"
    launched.create("server", body, launched.plan.server.name)


@asynccontextmanager
async def front(launched: Launched) -> AsyncIterator[tuple[str, Forwarder]]:
    """What `proxy/server.py` will be, reduced to routing every path to the forwarder."""
    assert launched.plan.gate is not None
    assert launched.plan.gate.config.ingress is not None
    port = launched.plan.gate.config.ingress.port
    forwarder = Forwarder(launched.socket, port)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forwarder.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    bound = runner.addresses[0]
    try:
        yield f"http://127.0.0.1:{bound[1]}", forwarder
    finally:
        await forwarder.close()
        await runner.cleanup()


async def until_healthy(forwarder: Forwarder, launched: Launched, within: float = 60) -> None:
    end = time.monotonic() + within
    while True:
        ok, reason = await forwarder.healthy()
        if ok:
            return
        assert time.monotonic() < end, f"never healthy ({reason}):\n{launched.logs()}"
        await asyncio.sleep(0.2)


# --- talking MCP through the gate -------------------------------------------------------


def text_of(result: Any) -> str:
    assert not result.is_error, result
    return "".join(getattr(part, "text", "") for part in result.content)


async def converse(session: ClientSession) -> dict[str, Any]:
    init = await session.initialize()
    assert init.server_info.name == "mcp-lok-test-server"
    tools = await session.list_tools()
    assert {"echo", "add", "whoami"} <= {tool.name for tool in tools.tools}
    assert text_of(await session.call_tool("echo", {"text": "through the gate ✓"})) == (
        "through the gate ✓"
    )
    assert text_of(await session.call_tool("add", {"a": 2, "b": 40})) == "42"
    whoami = await session.call_tool("whoami", {})
    facts: dict[str, Any] = (
        whoami.structured_content
        if isinstance(whoami.structured_content, dict)
        else json.loads(text_of(whoami))
    )
    return dict(facts.get("result", facts))


def assert_locked_down(facts: dict[str, Any], transport: Transport) -> None:
    assert facts["transport"] == transport.value
    assert facts["interfaces"] == ["lo"]
    assert facts["uid"] == 65534
    assert facts["cap_eff"] == "0000000000000000"
    assert facts["root_writable"] is False


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "transport", [Transport.STREAMABLE_HTTP, Transport.SSE], ids=lambda t: t.value
)
async def test_the_sdk_client_talks_to_the_server_through_the_gate(
    launch: Any, transport: Transport
) -> None:
    launched: Launched = launch(transport)
    async with front(launched) as (url, forwarder):
        # the gate is up, the server is not: the forwarder says so, it does not hang
        ok, reason = await forwarder.healthy()
        assert not ok, reason
        start_server(launched)
        await until_healthy(forwarder, launched)
        if transport is Transport.STREAMABLE_HTTP:
            async with (
                streamable_http_client(f"{url}/mcp") as (read, write),
                ClientSession(read, write) as session,
            ):
                facts = await converse(session)
        else:
            async with (
                sse_client(f"{url}/sse") as (read, write),
                ClientSession(read, write) as session,
            ):
                facts = await converse(session)
    assert_locked_down(facts, transport)
    gate_log = launched.api.logs(launched.ids["gate"]).decode(errors="replace")
    assert "ingress #" in gate_log
    assert "through the gate" not in gate_log  # one line per connection, never the payload


@pytest.mark.asyncio
async def test_the_host_header_passes_the_sdk_s_dns_rebinding_protection(
    launch: Any, tmp_path: Path
) -> None:
    """With the SDK's Host checks on and only `127.0.0.1:*` allowed, a client that says
    `Host: localhost:…` still gets in: the forwarder sends the server its own Host."""
    policy = tmp_path / "rebinding.lok"
    policy.write_text('extends stdio\nenv MCP_ALLOWED_HOSTS = "127.0.0.1:*"\n')
    launched: Launched = launch(Transport.STREAMABLE_HTTP, str(policy))
    start_server(launched)
    async with front(launched) as (url, forwarder):
        await until_healthy(forwarder, launched)
        async with (
            streamable_http_client(url.replace("127.0.0.1", "localhost") + "/mcp") as (r, w),
            ClientSession(r, w) as session,
        ):
            facts = await converse(session)
    assert_locked_down(facts, Transport.STREAMABLE_HTTP)


def test_the_server_sees_only_loopback_and_nothing_of_the_gate(launch: Any) -> None:
    launched: Launched = launch(Transport.STREAMABLE_HTTP)
    start_server(launched)
    info = os.stat(launched.socket)
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == GATE_UID
    code, out = launched.exec("server", ["ls", "/sys/class/net"])
    assert (code, out.split()) == (0, ["lo"])
    code, out = launched.exec("server", ["ls", "-a", "/run/mcp-lok-gate"])
    assert code != 0, out
    # no mount of the gate's folder, under any name
    code, out = launched.exec("server", ["cat", "/proc/self/mountinfo"])
    assert code == 0
    # (mcp-lok's own /etc/hosts, /etc/hostname and /etc/resolv.conf are bound from the
    # server's folder beside it, which the server may see named)
    assert os.path.dirname(launched.socket) not in out
    assert "ingress.sock" not in out
    # its own PID namespace: the gate's process is not there to be reached through /proc
    code, out = launched.exec(
        "server", ["sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '"]
    )
    assert code == 0
    assert "mcp_lok_gate" not in out
    # the gate itself: only loopback too, and the socket where the host expects it
    code, out = launched.exec("gate", ["ls", "/sys/class/net"])
    assert (code, out.split()) == (0, ["lo"])
    code, out = launched.exec("gate", ["ls", "/run/mcp-lok-gate"])
    assert code == 0
    assert "ingress.sock" in out.split()
    # the payload's namespaced sysctl is applied (Podman applies it but leaves it out of
    # `inspect`, so only a look from inside can tell)
    code, out = launched.exec("gate", ["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"])
    assert (code, out.strip()) == (0, "0")


def test_stopping_the_gate_removes_its_socket(launch: Any) -> None:
    launched: Launched = launch(Transport.SSE)
    launched.api.stop(launched.ids["gate"], timeout=15)
    state = launched.api.inspect_container(launched.ids["gate"])["State"]
    assert state["ExitCode"] == 0, launched.logs()
    assert not os.path.exists(launched.socket)
    assert "stopping" in launched.logs()
