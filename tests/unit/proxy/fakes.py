"""In-memory stand-ins for the engine and the server: a stdio MCP server that speaks the
engine's attach framing (stdout frames cut mid-message, stderr frames between them), and
an engine socket that answers the attach request and then becomes that server."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mcp_lok.proxy.framing import LineSplitter, Stream, frame

INIT_RESULT = {
    "protocolVersion": "2025-06-18",
    "capabilities": {"tools": {}},
    "serverInfo": {"name": "fake", "version": "1"},
}


@dataclass
class FakeServer:
    received: list[dict[str, Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    answers: dict[Any, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The proxy's end of a socketpair whose other end this server serves."""
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=ours)
        self._tasks.append(asyncio.ensure_future(self.serve(*await _open(theirs))))
        return reader, writer

    def methods(self) -> list[str]:
        return [m.get("method", "<response>") for m in self.received]

    def tools(self) -> list[str]:
        return [m["params"]["name"] for m in self.received if m.get("method") == "tools/call"]

    async def until(self, seen: Callable[[FakeServer], bool]) -> None:
        """Wait (the caller bounds how long) until `seen(self)` holds."""
        while not seen(self):
            self.arrived.clear()
            await self.arrived.wait()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        lines = LineSplitter()
        while chunk := await reader.read(65536):
            for line in lines.feed(chunk):
                message = json.loads(line)
                self.received.append(message)
                self.arrived.set()
                self._tasks.append(asyncio.ensure_future(self._answer(writer, message)))
        writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        if "method" not in message:
            self.answers.setdefault(message["id"], asyncio.Future()).set_result(message)
            return
        if "id" not in message:
            return
        method, id = message["method"], message["id"]
        if method == "initialize" and message.get("params", {}).get("fail"):
            error = {"code": -32603, "message": "initialize failed"}
            self.send(writer, {"jsonrpc": "2.0", "id": id, "error": error})
        elif method == "initialize":
            self.send(writer, {"jsonrpc": "2.0", "id": id, "result": INIT_RESULT})
        elif method == "tools/call":
            await self._tool(writer, id, message["params"])
        else:
            error = {"code": -32601, "message": f"no method {method}"}
            self.send(writer, {"jsonrpc": "2.0", "id": id, "error": error})

    async def _tool(self, writer: asyncio.StreamWriter, id: Any, params: dict[str, Any]) -> None:
        name, args = params["name"], params.get("arguments", {})
        text = args.get("text", "")
        if name == "slow":
            await self.release.wait()
        elif name == "notify":
            note = {"level": "info", "data": text}
            self.send(writer, {"jsonrpc": "2.0", "method": "notifications/message", "params": note})
        elif name == "ask":
            ask_id = f"srv-{id}"
            self.answers[ask_id] = asyncio.Future()
            ask = {"jsonrpc": "2.0", "id": ask_id, "method": "sampling/createMessage"}
            self.send(writer, ask)
            text = json.dumps((await self.answers[ask_id])["result"])
        elif name == "count":  # progress notifications, then the answer, back to back
            token = params.get("_meta", {}).get("progressToken")
            for step in range(1, int(args.get("steps", 3)) + 1):
                progress = {"progressToken": token, "progress": step, "total": args.get("steps")}
                note = {"jsonrpc": "2.0", "method": "notifications/progress", "params": progress}
                self.send(writer, note)
        elif name == "stderr":
            writer.write(frame(Stream.STDERR, b"warning: partial"))
            writer.write(frame(Stream.STDERR, b" line\nsecond line\n"))
        elif name == "die":
            writer.close()
            return
        result = {"content": [{"type": "text", "text": text}]}
        self.send(writer, {"jsonrpc": "2.0", "id": id, "result": result})

    def send(self, writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        """One message as two stdout frames cut in the middle, as an engine may."""
        data = json.dumps(message).encode() + b"\n"
        half = len(data) // 2
        writer.write(frame(Stream.STDOUT, data[:half]) + frame(Stream.STDOUT, data[half:]))

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _open(sock: socket.socket) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(sock=sock)


@dataclass
class FakeEngine:
    """An engine socket: answers `POST …/attach` with `status`, then serves `server`."""

    path: str
    server: FakeServer
    status: bytes = b"101 UPGRADED"
    body: bytes = b""
    requests: list[bytes] = field(default_factory=list)
    _unix: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._unix = await asyncio.start_unix_server(self._handle, self.path)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests.append(await reader.readuntil(b"\r\n\r\n"))
        head = b"HTTP/1.1 " + self.status + b"\r\nContent-Type: application/vnd.docker.raw-stream"
        writer.write(head + b"\r\n\r\n" + self.body)
        if not self.status.startswith((b"101", b"200")):
            writer.close()
            return
        await self.server.serve(reader, writer)

    async def close(self) -> None:
        if self._unix is not None:
            self._unix.close()
            await self._unix.wait_closed()
        await self.server.close()
