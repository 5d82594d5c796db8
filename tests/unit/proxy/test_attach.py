"""Attaching over an engine socket (a fake one here; the real engines are in
tests/integration/test_proxy_stdio.py): the exact request, the upgrade, and every way it
can fail as an `AttachError` with the engine's own message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from mcp_lok.proxy import AttachError, attach
from mcp_lok.proxy.framing import Demuxer, Stream

from .fakes import FakeEngine, FakeServer

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[FakeEngine]:
    fake = FakeEngine(str(tmp_path / "engine.sock"), FakeServer())
    await fake.start()
    yield fake
    await fake.close()


async def test_attach_sends_the_upgrade_request_and_returns_the_raw_stream(
    engine: FakeEngine,
) -> None:
    reader, writer = await attach(engine.path, "0123abcd")
    assert engine.requests == [
        b"POST /v1.41/containers/0123abcd/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
        b"Host: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    ]
    writer.write(b'{"jsonrpc":"2.0","id":1,"method":"initialize"}\n')
    demuxer, out = Demuxer(), b""
    while b"\n" not in out:
        for stream, payload in demuxer.feed(await asyncio.wait_for(reader.read(4096), 5)):
            assert stream is Stream.STDOUT
            out += payload
    assert b'"serverInfo"' in out
    writer.close()


async def test_a_200_answer_is_accepted_like_101(engine: FakeEngine) -> None:
    engine.status = b"200 OK"
    _, writer = await attach(engine.path, "c")
    writer.close()


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (b"404 Not Found", b"No such container: c\r\n", "404 No such container: c"),
        (
            b"404 Not Found\r\nContent-Length: 38",
            b'{"message":"no container with name c"}',
            "404 no container with name c",
        ),
        (b"409 Conflict\r\nContent-Length: 0", b"", "409 "),
    ],
    ids=["docker", "podman", "empty"],
)
async def test_a_refusal_carries_the_engines_message(
    engine: FakeEngine, status: bytes, body: bytes, message: str
) -> None:
    engine.status, engine.body = status, body
    with pytest.raises(AttachError) as caught:
        await attach(engine.path, "c")
    assert message in caught.value.message
    assert (caught.value.hint is not None) == status.startswith(b"404")


async def test_a_container_id_that_could_inject_http_is_refused(engine: FakeEngine) -> None:
    for bad in ["", "a b", "a\r\nX: y", "../../x", "a/attach?x"]:
        with pytest.raises(AttachError, match="not a container id"):
            await attach(engine.path, bad)
    assert engine.requests == []


async def test_no_engine_is_an_attach_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(AttachError, match="cannot reach the engine") as caught:
        await attach(str(tmp_path / "missing.sock"), "c")
    assert caught.value.hint


async def test_a_socket_that_is_not_http_is_an_attach_error(tmp_path: Path) -> None:
    async def babble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-nope\r\n\r\n")
        await writer.drain()
        writer.close()

    path = str(tmp_path / "odd.sock")
    server = await asyncio.start_unix_server(babble, path)
    with pytest.raises(AttachError, match=r"SSH-2\.0"):
        await attach(path, "c")
    server.close()


async def test_an_engine_that_hangs_up_is_an_attach_error(tmp_path: Path) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    path = str(tmp_path / "rude.sock")
    server = await asyncio.start_unix_server(hang_up, path)
    with pytest.raises(AttachError, match="closed the attach"):
        await attach(path, "c")
    server.close()
