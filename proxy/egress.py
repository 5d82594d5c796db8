"""The host's half of egress: the only way out of an allow-listed server's namespace.

The gate relays each connection the server opens over a Unix socket in its folder; this
process listens there (only the gate's uid may connect), checks the request again
(`egress_policy`), resolves the name itself, refuses special addresses no rule names,
connects, splices, and logs every decision to the server's log (`mcp-lok logs`). While
no mcp-lok process serves the server, nothing listens and nothing leaves.

It runs on a thread of the host-side mcp-lok process (`relay_running`), with its own event
loop, next to the MCP proxy and independent of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from .egress_policy import Address, Rules, RulesError, decide, literal, load_rules, vet
from .errors import ProxyError
from .gate.relay import frame, read_frame
from .gate.splice import CHUNK, Traffic, splice
from .hostaddr import own_addresses

log = logging.getLogger("mcp_lok.egress")

REQUEST_WAIT = 10.0
CONNECT_WAIT = 10.0
UDP_IDLE = 60.0
MAX_CONNECTIONS = 256
RULES_FILE = "egress.json"
# INVARIANT: only a test harness sets this (a name=address list for names the test
# controls); a policy can never reach it, and every answer it gives is still vetted.
TEST_RESOLVE = "MCP_LOK_TEST_RESOLVE"
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class EgressRelay:
    def __init__(self, rules: Rules, overrides: Mapping[str, str] | None = None) -> None:
        self.rules = rules
        self._overrides = dict(overrides or {})
        self._server: asyncio.Server | None = None
        self._open = 0
        self._serial = 0

    async def start(self) -> None:
        path = self.rules.socket
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise OSError(f"`{path}` exists and is not a socket")
            os.unlink(path)
        # INVARIANT: the socket is the gate's alone: created 0600 with no wider window,
        # then handed to the gate's uid; its folder is the gate's and never the server's
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._client, path=path, limit=CHUNK)
        finally:
            os.umask(old)
        os.chown(path, *self.rules.gate_user)
        if self._overrides:
            log.warning("egress %s: test resolver overrides in effect", self.rules.name)
        log.info("egress %s: relaying for the gate at %s", self.rules.name, path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.rules.socket)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._serial += 1
        serial = self._serial
        if self._open >= MAX_CONNECTIONS:
            writer.transport.abort()
            return
        self._open += 1
        try:
            await self._serve(serial, (reader, writer))
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            writer.transport.abort()
        finally:
            self._open -= 1

    async def _serve(self, serial: int, gate: Stream) -> None:
        async with asyncio.timeout(REQUEST_WAIT):
            request = json.loads(await gate[0].readuntil(b"\n"))
        host = str(request.get("host", "")).lower().rstrip(".")
        port, transport = request.get("port"), str(request.get("transport", ""))
        via = str(request.get("via", "?"))[:8]
        if type(port) is not int or not host:
            return await _answer(gate, {"ok": False, "reason": "a malformed request"})
        where = f"{via} {host}:{port}/{transport}"
        decision = decide(self.rules, host, port, transport)
        if isinstance(decision, str):
            return await self._refuse(gate, where, decision)
        found = await self._resolve(host, port, transport)
        if isinstance(found, str):
            return await self._refuse(gate, where, found)
        upstream = await self._connect(found, port, transport)
        if isinstance(upstream, str):
            return await self._refuse(gate, where, upstream)
        address, link = upstream
        self._decided(where, f"allowed to {address} by {decision.text()}")
        await _answer(gate, {"ok": True, "address": str(address)})
        await self._relay(serial, where, gate, link, transport)

    async def _resolve(self, host: str, port: int, transport: str) -> list[Address] | str:
        """The addresses `host` may be dialled at, vetted after resolution."""
        address = literal(host)
        if address is not None:
            found = [address]
        elif host in self._overrides:
            found = [ipaddress.ip_address(self._overrides[host])]
        else:
            kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
            try:
                async with asyncio.timeout(CONNECT_WAIT):
                    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=kind)
            except (OSError, TimeoutError) as error:
                return f"`{host}` does not resolve ({error})"
            found = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
        own = own_addresses()
        reasons = [vet(self.rules, port, transport, a, own) for a in found]
        allowed = [a for a, r in zip(found, reasons, strict=True) if r is None]
        return allowed or "; ".join(r for r in reasons if r) or f"`{host}` has no address"

    async def _connect(
        self, addresses: list[Address], port: int, transport: str
    ) -> tuple[Address, Stream | asyncio.DatagramTransport] | str:
        errors = []
        for address in addresses:
            try:
                async with asyncio.timeout(CONNECT_WAIT):
                    if transport == "tcp":
                        stream = await asyncio.open_connection(str(address), port, limit=CHUNK)
                        return address, stream
                    return address, await _udp(str(address), port)
            except (OSError, TimeoutError) as error:
                errors.append(f"{address}: {error.strerror or type(error).__name__}")
        return "cannot connect: " + "; ".join(errors)

    async def _relay(
        self,
        serial: int,
        where: str,
        gate: Stream,
        link: Stream | asyncio.DatagramTransport,
        transport: str,
    ) -> None:
        started, traffic = time.monotonic(), Traffic()
        try:
            if isinstance(link, tuple):
                await splice(gate, link, traffic)
            else:
                await _udp_relay(gate, link, traffic)
        finally:
            log.info(
                "egress %s #%d %s: closed, %d B out, %d B in, %.2f s",
                self.rules.name, serial, where, traffic.up, traffic.down,
                time.monotonic() - started,
            )  # fmt: skip

    async def _refuse(self, gate: Stream, where: str, reason: str) -> None:
        log.warning("egress %s %s: refused: %s", self.rules.name, where, reason)
        await _answer(gate, {"ok": False, "reason": reason})

    def _decided(self, where: str, what: str) -> None:
        log.info("egress %s %s: %s", self.rules.name, where, what)


async def _answer(gate: Stream, answer: dict[str, object]) -> None:
    gate[1].write(json.dumps(answer).encode() + b"\n")
    await gate[1].drain()
    if not answer["ok"]:
        gate[1].close()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(64)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable: the peer is not there; the flow idles out


async def _udp(address: str, port: int) -> asyncio.DatagramTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Datagrams, remote_addr=(address, port))
    return transport


async def _udp_relay(gate: Stream, link: asyncio.DatagramTransport, traffic: Traffic) -> None:
    protocol = link.get_protocol()
    assert isinstance(protocol, _Datagrams)

    async def out() -> None:
        while (data := await read_frame(gate[0])) is not None:
            link.sendto(data)
            traffic.up += len(data)
        raise OSError("the gate ended the flow")

    async def back() -> None:
        while True:
            async with asyncio.timeout(UDP_IDLE):
                data = await protocol.queue.get()
            gate[1].write(frame(data))
            await gate[1].drain()
            traffic.down += len(data)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(out())
            group.create_task(back())
    except* (OSError, TimeoutError):
        pass
    finally:
        link.close()
        gate[1].close()


def test_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """`MCP_LOK_TEST_RESOLVE=name=address,…`, set only by the e2e harness."""
    found = {}
    for item in environ.get(TEST_RESOLVE, "").split(","):
        name, _, address = item.partition("=")
        if name and address:
            found[name.strip().lower()] = str(ipaddress.ip_address(address.strip()))
    return found


@contextlib.contextmanager
def relay_running(folder: Path, log_path: str | None) -> Iterator[EgressRelay | None]:
    """Relay the server's egress on a thread while the block runs; nothing happens for a
    server whose plan has no egress (no `egress.json` in its folder)."""
    path = folder / RULES_FILE
    if not path.exists():
        yield None
        return
    try:
        relay = EgressRelay(load_rules(path), test_overrides(os.environ))
    except (RulesError, ValueError) as error:
        raise ProxyError(str(error), hint="remove the server and start it again") from error
    handler = logging.FileHandler(log_path, encoding="utf-8") if log_path else None
    if handler is not None:
        handler.setFormatter(logging.Formatter("%(asctime)s mcp-lok %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.propagate = False  # a detached proxy's stderr is that same file
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    runner = _Runner(relay)
    try:
        runner.start()
        yield relay
    finally:
        runner.stop()
        if handler is not None:
            log.removeHandler(handler)
            log.propagate = True
            handler.close()


class _Runner:
    """The relay's own event loop on a daemon thread, started and stopped from outside."""

    def __init__(self, relay: EgressRelay) -> None:
        self._relay = relay
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="egress", daemon=True)

    def start(self) -> None:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._relay.start(), self._loop).result(10)
        except OSError as error:
            self.stop()
            raise ProxyError(
                f"cannot relay egress at `{self._relay.rules.socket}`: {error}",
                hint="is another mcp-lok process serving this server?",
            ) from error

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    async def _shutdown(self) -> None:
        await self._relay.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
