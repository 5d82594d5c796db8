"""The gate program (`proxy/gate/`) without containers: its config validation against
what lowering writes, and the ingress splice over real Unix and loopback TCP sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from mcp_lok.policy import Engine, Target, Transport, compile_plan
from mcp_lok.policy.gate_config import MAX_BYTES
from mcp_lok.policy.host import FixedHost
from mcp_lok.proxy import gate
from tests.gate_image import image_package

REPO = Path(__file__).resolve().parents[3]
GATE_DIR = REPO / "proxy" / "gate"

pytestmark = pytest.mark.timeout(60)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def ingress_config(socket_path: str = "/run/mcp-lok-gate/ingress.sock", port: int = 8080) -> Any:
    return {
        "version": 2,
        "name": "t",
        "ingress": {"socket": socket_path, "port": port},
        "egress": None,
    }


EGRESS = {
    "socket": "/run/mcp-lok-gate/egress.sock",
    "dns": "127.0.0.53",
    "proxy": "127.0.0.1:3128",
    "rules": [{"hosts": ["example.com"], "ports": [443], "protocols": ["tcp"]}],
    "deny_hosts": [],
    "deny_ports": [],
}


# --- config ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", [Transport.SSE, Transport.STREAMABLE_HTTP])
@pytest.mark.parametrize("engine", list(Engine))
def test_the_config_lowering_writes_for_ingress_is_served(
    transport: Transport, engine: Engine
) -> None:
    plan = compile_plan(
        "stdio", Target(image="x", name="t", engine=engine, transport=transport), host=FixedHost()
    )
    assert plan.gate is not None
    written = {f.path: f.content for f in plan.files}
    config = gate.GateConfig.from_json(written["/run/mcp-lok/t/gate/gate.json"])
    assert config == gate.GateConfig(
        "t", gate.Ingress("/run/mcp-lok-gate/ingress.sock", 8080), None
    )
    assert plan.gate.config == config
    assert plan.gate.container.body["Cmd"] == ["/run/mcp-lok-gate/gate.json"]
    assert [type(x).__name__ for x in gate.listeners(config, gate.Connections())] == [
        "IngressListener"
    ]


@pytest.mark.parametrize("source", ["examples/github.lok", "examples/seed-example.json"])
def test_an_egress_config_is_served_by_dns_destinations_and_the_proxy(source: str) -> None:
    plan = compile_plan(str(REPO / source), Target(image="x", name="t"), host=FixedHost())
    assert plan.gate is not None
    config = gate.GateConfig.from_json(plan.gate.config.to_json())
    assert config.egress is not None
    assert config.egress.proxy == ("127.0.0.1", 3128)
    assert config.egress.rules
    kinds = [type(x).__name__ for x in gate.listeners(config, gate.Connections())]
    assert kinds == ["Destinations", "HttpProxy", "RefusalReport", "DnsServer"]


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "gate.json"
    path.write_text(json.dumps(ingress_config()))
    assert gate.load_config(str(path)).ingress == gate.Ingress(
        "/run/mcp-lok-gate/ingress.sock", 8080
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (" " * (MAX_BYTES + 1), "larger than"),
        ("dir", "is not a regular file"),
        ("fifo", "is not a regular file"),
    ],
)
def test_load_config_refuses_what_it_cannot_use(
    tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "gate.json"
    if content == "dir":
        path.mkdir()
    elif content == "fifo":
        os.mkfifo(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(gate.ConfigError, match=message):
        gate.load_config(str(path))


def test_main_refuses_bad_arguments(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "gate.json"
    path.write_text(json.dumps(ingress_config() | {"egress": EGRESS} | {"version": 1}))
    with caplog.at_level(logging.INFO, logger="mcp-lok-gate"):
        assert gate.main([str(path)]) == gate.EXIT_CONFIG
        assert gate.main([]) == gate.EXIT_CONFIG
        assert gate.main([str(tmp_path / "missing.json")]) == gate.EXIT_CONFIG
    assert "refusing to start: `" in caplog.text
    assert "`version` must be 2" in caplog.text
    assert "usage" in caplog.text


def test_main_fails_when_the_socket_cannot_be_made(
    sock_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = Path(sock_dir) / "gate.json"
    path.write_text(json.dumps(ingress_config(f"{sock_dir}/missing/ingress.sock")))
    with caplog.at_level(logging.INFO, logger="mcp-lok-gate"):
        assert gate.main([str(path)]) == gate.EXIT_FAILURE
    assert "cannot serve" in caplog.text


# with -I nothing but the standard library is on the path: add the copy's folder only
RUN_AS_IMAGE = (
    "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
    "runpy.run_module('mcp_lok_gate', run_name='__main__', alter_sys=True)"
)


def _copied(folder: str) -> str:
    """The gate package as the image holds it (`mcp_lok_gate`), in `folder`/context."""
    return str(image_package(Path(folder)))


# --- a short socket folder and a stand-in server ------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def upstream(handler: Handler, port: int = 0) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", port)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def ingress(
    path: str, port: int, *, limit: int = 16, deadline: float = 5.0
) -> AsyncIterator[gate.Connections]:
    connections = gate.Connections(limit)
    listener = gate.IngressListener(gate.Ingress(path, port), connections, dial_deadline=deadline)
    await listener.start()
    try:
        yield connections
    finally:
        await listener.close()
        await connections.drain(0.5)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def read_all(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while data := await reader.read(65536):
            chunks.append(data)
    return b"".join(chunks)


async def eventually(check: Callable[[], bool], what: str, within: float = 5.0) -> None:
    end = time.monotonic() + within
    while not check():
        assert time.monotonic() < end, f"not within {within} s: {what}"
        await asyncio.sleep(0.01)


async def wait_for_log(caplog: pytest.LogCaptureFixture, text: str, within: float = 5.0) -> None:
    await eventually(lambda: text in caplog.text, f"a log line with {text!r}", within)


def exists(path: str) -> bool:
    return os.path.exists(path)


# --- splicing -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_ingress_relays_and_logs_one_line_without_the_payload(
    sock_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"{sock_dir}/ingress.sock"
    caplog.set_level(logging.INFO, logger="mcp-lok-gate")
    async with upstream(echo) as port, ingress(path, port):
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"secret-payload")
        writer.write_eof()
        assert await read_all(reader) == b"secret-payload"
        writer.close()
        await wait_for_log(caplog, "ingress #1")
    lines = [r.getMessage() for r in caplog.records if "ingress #" in r.getMessage()]
    assert len(lines) == 1
    assert f"→ 127.0.0.1:{port}: relayed, 14 B up, 14 B down" in lines[0]
    assert "secret" not in caplog.text


@pytest.mark.asyncio
async def test_ingress_passes_a_half_close_on_in_both_directions(sock_dir: str) -> None:
    path = f"{sock_dir}/ingress.sock"
    got: list[bytes] = []

    async def greet_then_listen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # the server ends its side first and keeps reading
        writer.write(b"hello")
        writer.write_eof()
        got.append(await read_all(reader))
        writer.close()

    async with upstream(greet_then_listen) as port, ingress(path, port):
        reader, writer = await asyncio.open_unix_connection(path)
        assert await read_all(reader) == b"hello"
        writer.write(b"still talking")  # our side is still open after the server's EOF
        await writer.drain()
        writer.write_eof()
        await reader.read()
        writer.close()
        await eventually(lambda: bool(got), "the server read to the end")
    assert got == [b"still talking"]


@pytest.mark.asyncio
async def test_ingress_carries_megabytes_intact_both_ways(sock_dir: str) -> None:
    path = f"{sock_dir}/ingress.sock"
    blob = os.urandom(8 * 1024 * 1024)
    async with upstream(echo) as port, ingress(path, port):
        reader, writer = await asyncio.open_unix_connection(path)

        async def send() -> None:
            for i in range(0, len(blob), 100_000):
                writer.write(blob[i : i + 100_000])
                await writer.drain()
            writer.write_eof()

        _, received = await asyncio.gather(send(), read_all(reader))
        writer.close()
    assert received == blob


@pytest.mark.asyncio
async def test_a_server_that_does_not_read_stops_the_client_the_gate_buffers_little(
    sock_dir: str,
) -> None:
    path = f"{sock_dir}/ingress.sock"
    hold = asyncio.Event()

    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await hold.wait()
        writer.close()

    async with upstream(never_read) as port, ingress(path, port):
        _, writer = await asyncio.open_unix_connection(path)
        chunk, sent = b"x" * 65536, 0
        while sent < 256 * 1024 * 1024:
            writer.write(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 0.5)
            except TimeoutError:
                break
            sent += len(chunk)
        hold.set()
        writer.transport.abort()
    # kernel socket buffers (loopback TCP autotunes to a few MiB) plus the gate's own
    # few hundred KiB: far below what an unbounded relay would take
    assert sent < 32 * 1024 * 1024


@pytest.mark.asyncio
async def test_ingress_waits_for_a_server_that_is_still_starting(sock_dir: str) -> None:
    path = f"{sock_dir}/ingress.sock"
    port = free_port()
    async with ingress(path, port):
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"early")
        writer.write_eof()
        await asyncio.sleep(0.4)  # several refused attempts
        async with upstream(echo, port):
            assert await asyncio.wait_for(read_all(reader), 5) == b"early"
        writer.close()


@pytest.mark.asyncio
async def test_ingress_gives_up_on_a_server_that_never_listens(
    sock_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"{sock_dir}/ingress.sock"
    caplog.set_level(logging.INFO, logger="mcp-lok-gate")
    async with ingress(path, free_port(), deadline=0.3):
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"anyone?")
        started = time.monotonic()
        assert await asyncio.wait_for(read_all(reader), 5) == b""
        assert time.monotonic() - started < 3
        writer.close()
        await wait_for_log(caplog, "not relayed")
    assert "did not accept within" in caplog.text


@pytest.mark.asyncio
async def test_ingress_stops_waiting_when_the_client_leaves(
    sock_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"{sock_dir}/ingress.sock"
    caplog.set_level(logging.INFO, logger="mcp-lok-gate")
    async with ingress(path, free_port(), deadline=30):
        _, writer = await asyncio.open_unix_connection(path)
        writer.close()  # a health probe that gives up
        await wait_for_log(caplog, "the client left", within=3)


@pytest.mark.asyncio
async def test_ingress_refuses_connections_beyond_its_cap(
    sock_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"{sock_dir}/ingress.sock"
    caplog.set_level(logging.INFO, logger="mcp-lok-gate")
    async with upstream(echo) as port, ingress(path, port, limit=1) as connections:
        r1, w1 = await asyncio.open_unix_connection(path)
        w1.write(b"one")
        assert await r1.readexactly(3) == b"one"
        assert len(connections) == 1
        r2, w2 = await asyncio.open_unix_connection(path)
        assert await asyncio.wait_for(read_all(r2), 5) == b""
        await wait_for_log(caplog, "#2: refused, 1 connections already open")
        w1.close()
        w2.close()


# --- the socket -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_socket_is_private_replaces_a_stale_one_and_is_removed(sock_dir: str) -> None:
    path = f"{sock_dir}/ingress.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    async with ingress(path, free_port()):
        info = os.stat(path)
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o600
    assert not exists(path)


@pytest.mark.asyncio
async def test_a_file_in_the_socket_s_place_is_not_touched(sock_dir: str) -> None:
    path = f"{sock_dir}/ingress.sock"
    with open(path, "w") as fh:  # noqa: ASYNC230 — a test's setup, no loop work waits
        fh.write("not a socket")
    listener = gate.IngressListener(gate.Ingress(path, 1), gate.Connections())
    with pytest.raises(OSError, match="is not a socket"):
        await listener.start()
    with open(path) as fh:  # noqa: ASYNC230 — as above
        assert fh.read() == "not a socket"


@pytest.mark.asyncio
async def test_close_leaves_a_socket_another_process_bound_since(sock_dir: str) -> None:
    path = f"{sock_dir}/ingress.sock"
    listener = gate.IngressListener(gate.Ingress(path, 1), gate.Connections())
    await listener.start()
    os.unlink(path)
    other = socket.socket(socket.AF_UNIX)
    other.bind(path)
    try:
        await listener.close()
        assert exists(path)
    finally:
        other.close()


# --- shutdown -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_stop_removes_the_socket_at_once_and_drains_then_cuts(sock_dir: str) -> None:
    path = f"{sock_dir}/ingress.sock"
    async with upstream(echo) as port:
        config = gate.GateConfig.from_json(json.dumps(ingress_config(path, port)))
        door = gate.Gate(config, drain_seconds=0.5)
        running = asyncio.ensure_future(door.run())
        await eventually(lambda: exists(path), "the socket")
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"open")
        assert await reader.readexactly(4) == b"open"
        started = time.monotonic()
        door.stop()
        await asyncio.sleep(0.1)
        assert not exists(path)
        assert not running.done()  # the open connection may still finish
        await asyncio.wait_for(running, 5)
        assert 0.4 < time.monotonic() - started < 3
        assert await read_all(reader) == b""
        writer.close()


@pytest.mark.asyncio
async def test_a_second_stop_cuts_open_connections_now(sock_dir: str) -> None:
    path = f"{sock_dir}/ingress.sock"
    async with upstream(echo) as port:
        door = gate.Gate(
            gate.GateConfig.from_json(json.dumps(ingress_config(path, port))), drain_seconds=30
        )
        running = asyncio.ensure_future(door.run())
        await eventually(lambda: exists(path), "the socket")
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"open")
        assert await reader.readexactly(4) == b"open"
        door.stop()
        await asyncio.sleep(0.1)
        started = time.monotonic()
        door.stop()
        await asyncio.wait_for(running, 5)
        assert time.monotonic() - started < 1
        writer.close()


def test_the_program_runs_isolated_relays_and_exits_cleanly_on_sigterm(sock_dir: str) -> None:
    """`python3 -I -m mcp_lok_gate`, as the image runs it: no mcp-lok on the path, stdlib
    only (the package is copied under the image's name, next to nothing else)."""
    path = f"{sock_dir}/ingress.sock"
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    config = Path(sock_dir) / "gate.json"
    config.write_text(json.dumps(ingress_config(path, port)))
    proc = subprocess.Popen(
        [sys.executable, "-I", "-u", "-B", "-c", RUN_AS_IMAGE, _copied(sock_dir), str(config)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + 10
        while not os.path.exists(path):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < end
            time.sleep(0.02)
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(5)
            client.connect(path)
            client.sendall(b"ping")
            conn, _ = server.accept()
            with conn:
                assert conn.recv(4) == b"ping"
                conn.sendall(b"pong")
                assert client.recv(4) == b"pong"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        server.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert not os.path.exists(path)
    assert "gate t ready" in err
    assert "ingress #1" in err
    assert "stopping" in err
