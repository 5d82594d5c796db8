"""Attach to a container's stdio over the engine's Unix socket, without the docker SDK.

`POST /containers/{id}/attach` with `Upgrade: tcp`: after the `101` (or `200`) response
head, the connection itself is the container's stdin (plain bytes, written by us) and its
multiplexed stdout/stderr (read by us, demultiplexed by `framing`). The same request works
on Docker 20.10 and on Podman 4.3's compat API. Attaching before the container is started
loses no output on either; attaching after it started loses what it wrote before.

Creating and starting the container are the launcher's job.
"""

from __future__ import annotations

import asyncio
import json
import re

from .errors import AttachError

API_VERSION = "v1.41"
ATTACH_TIMEOUT = 10.0
_CONTAINER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_MAX_HEAD = 16 * 1024
_MAX_ERROR_BODY = 4096


async def attach(
    socket: str, container_id: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Attach to stdin, stdout and stderr of `container_id` (created or running).

    Returns the connection once the engine has switched protocols; everything read from
    `reader` after that is the multiplexed stream, everything written to `writer` is stdin.
    Never half-close `writer`: Docker then ends the whole attach, Podman closes stdin.
    Connecting and the engine's answer each get `ATTACH_TIMEOUT` seconds.
    """
    timeout = ATTACH_TIMEOUT
    # INVARIANT: the id goes into the request line; only id/name characters may, so no
    # header or second request can be smuggled to the engine.
    if not _CONTAINER.fullmatch(container_id):
        raise AttachError(f"`{container_id}` is not a container id or name")
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(socket, limit=_MAX_HEAD)
    except (OSError, TimeoutError) as error:
        raise AttachError(
            f"cannot reach the engine at `{socket}`: {error}",
            hint="is the engine running? `mcp-lok version` shows which engine is used",
        ) from error
    try:
        async with asyncio.timeout(timeout):
            await _upgrade(reader, writer, container_id)
    except BaseException as error:
        writer.close()
        if isinstance(error, TimeoutError):
            raise AttachError(f"the engine did not answer the attach within {timeout}s") from error
        if isinstance(error, (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)):
            raise AttachError(f"the engine closed the attach: {error}") from error
        raise
    return reader, writer


async def _upgrade(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, container_id: str
) -> None:
    query = "stream=1&stdin=1&stdout=1&stderr=1"
    request = (
        f"POST /{API_VERSION}/containers/{container_id}/attach?{query} HTTP/1.1\r\n"
        "Host: localhost\r\n"
        "Connection: Upgrade\r\n"
        "Upgrade: tcp\r\n"
        "Content-Length: 0\r\n"
        "\r\n"
    )
    writer.write(request.encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status, headers = _parse_head(head)
    if status in (101, 200):
        return
    body = await _error_body(reader, headers)
    hint = "is the container created? `mcp-lok list --all` shows what exists"
    raise AttachError(
        f"the engine refused to attach to `{container_id}`: {status} {body}",
        hint=hint if status == 404 else None,
    )


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise AttachError(f"the engine answered the attach with `{status_line[:80]}`")
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _error_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> str:
    """The engine's error message: Podman sends JSON with a length, Docker plain text
    until it closes."""
    length = headers.get("content-length", "")
    try:
        async with asyncio.timeout(1.0):
            if length.isdigit():
                raw = await reader.readexactly(min(int(length), _MAX_ERROR_BODY))
            else:
                raw = await reader.read(_MAX_ERROR_BODY)
    except (TimeoutError, asyncio.IncompleteReadError, OSError):
        return "(no message)"
    text = raw.decode("utf-8", "replace").strip()
    try:
        message = json.loads(text).get("message", text)
    except (ValueError, AttributeError):
        message = text
    return str(message)
