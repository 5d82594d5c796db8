"""The host's half of egress: the only way out of an allow-listed server's namespace.

For each connection the server opens, the gate asks over a Unix socket in its folder; this
process listens there (only the gate's uid may connect), checks the request again
(`egress_policy`), resolves the name itself, refuses special addresses no rule names,
connects, then takes the client's connection over from the gate and splices it in the
kernel (`egress_splice`; a UDP flow stays framed on the link), and logs every decision to
the server's log (`mcp-lok logs`), with the names the gate's DNS refused, which the gate
reports over the same socket (`egress_report`). While no mcp-lok process serves the
server, nothing listens and nothing leaves.

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

from mcp_lok.policy.gate_config import HostRules
from mcp_lok.policy.hosts import literal, never_dialled

from . import logfile
from .egress_link import answer, open_udp, printable, read_request, receive_client, udp_relay
from .egress_policy import Address, RulesError, decide, load_rules, vet
from .egress_report import Reports, is_report
from .egress_splice import Pair
from .errors import ProxyError
from .hostaddr import own_addresses
from .tasks import Tasks

log = logging.getLogger("mcp_lok.egress")

REQUEST_WAIT = 10.0
CONNECT_WAIT = 10.0
MAX_CONNECTIONS = 256
# INVARIANT: only a test harness sets this (a name=address list for names the test
# controls); a policy can never reach it, and every answer it gives is still vetted.
TEST_RESOLVE = "MCP_LOK_TEST_RESOLVE"


class EgressRelay:
    def __init__(self, rules: HostRules, overrides: Mapping[str, str] | None = None) -> None:
        self.rules = rules
        self._overrides = dict(overrides or {})
        self._tasks = Tasks("egress")
        self._pairs: set[Pair] = set()
        self._open = 0
        self._serial = 0
        self._reports = Reports()

    async def start(self) -> None:
        path = self.rules.socket
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise OSError(f"`{path}` exists and is not a socket")
            os.unlink(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # INVARIANT: the socket is the gate's alone: created 0600 with no wider window,
        # then handed to the gate's uid; its folder is the gate's and never the server's
        old = os.umask(0o177)
        try:
            listener.bind(path)
        except OSError:
            listener.close()
            raise
        finally:
            os.umask(old)
        os.chown(path, *self.rules.gate_user)
        listener.listen(128)
        listener.setblocking(False)
        self._tasks.spawn(self._accept(listener), name="accept")
        if self._overrides:
            log.warning("egress %s: test resolver overrides in effect", self.rules.name)
        log.info("egress %s: relaying for the gate at %s", self.rules.name, path)

    async def close(self) -> None:
        await self._tasks.close()
        for pair in list(self._pairs):
            pair.cut()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.rules.socket)

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        clients = Tasks("egress-clients")
        try:
            while True:
                link, _ = await loop.sock_accept(listener)
                link.setblocking(False)
                clients.spawn(self._client(link), name="client")
        finally:
            listener.close()
            await clients.close()

    async def _client(self, link: socket.socket) -> None:
        self._serial += 1
        serial = self._serial
        if self._open >= MAX_CONNECTIONS:
            log.warning("egress %s #%d: refused, %d connections already open",
                        self.rules.name, serial, MAX_CONNECTIONS)  # fmt: skip
            link.close()
            return
        self._open += 1
        try:
            await self._serve(serial, link)
        except (OSError, TimeoutError, ValueError) as error:
            log.info("egress %s #%d: ended: %s", self.rules.name, serial, error)
        finally:
            self._open -= 1
            link.close()

    async def _serve(self, serial: int, link: socket.socket) -> None:
        async with asyncio.timeout(REQUEST_WAIT):
            request = json.loads(await read_request(link))
        if not isinstance(request, dict):
            raise ValueError("the gate's request is not an object")
        if is_report(request):  # names its DNS refused; nothing to answer
            line = self._reports.line(request)
            if line is not None:
                log.warning("egress %s %s", self.rules.name, line)
            return None
        host = str(request.get("host", "")).lower().rstrip(".")
        port, protocol = request.get("port"), str(request.get("transport", ""))
        via = str(request.get("via", "?"))
        if type(port) is not int or not host:
            return await answer(link, {"ok": False, "reason": "a malformed request"})
        # INVARIANT: what the gate sent reaches the log only as printable text (a subverted
        # gate cannot forge log lines)
        where = printable(f"{via[:8]} {host[:253]}:{port}/{protocol[:8]}")
        decision = decide(self.rules, host, port, protocol)
        if isinstance(decision, str):
            return await self._refuse(link, where, decision)
        found = await self._resolve(host, port, protocol)
        if isinstance(found, str):
            return await self._refuse(link, where, found)
        upstream = await self._connect(found, port, protocol)
        if isinstance(upstream, str):
            return await self._refuse(link, where, upstream)
        address, outside = upstream
        log.info("egress %s %s: allowed to %s by %s", self.rules.name, where, address,
                 decision.text())  # fmt: skip
        await answer(link, {"ok": True, "address": str(address)})
        started = time.monotonic()
        if isinstance(outside, socket.socket):
            out, back = await self._splice(link, outside)
        else:
            out, back = await udp_relay(link, outside)
        log.info(
            "egress %s #%d %s: closed, %d B out, %d B in, %.2f s",
            self.rules.name, serial, where, out, back, time.monotonic() - started,
        )  # fmt: skip

    async def _splice(self, link: socket.socket, outside: socket.socket) -> tuple[int, int]:
        """Take the client's connection from the gate and splice it to the destination."""
        try:
            async with asyncio.timeout(REQUEST_WAIT):
                client, first = await receive_client(link)
        except BaseException:
            outside.close()
            raise
        pair = Pair(client, outside)
        self._pairs.add(pair)
        try:
            if first:
                await asyncio.get_running_loop().sock_sendall(outside, first)
        except BaseException:
            client.close()
            outside.close()
            raise
        try:
            await pair.run()  # it owns and closes both sockets
        finally:
            self._pairs.discard(pair)
        return pair.out + len(first), pair.back

    async def _resolve(self, host: str, port: int, protocol: str) -> list[Address] | str:
        """The addresses `host` may be dialled at, vetted after resolution."""
        address = literal(host)
        if address is not None:
            found = [address]
        elif host in self._overrides:
            found = [ipaddress.ip_address(self._overrides[host])]
        else:
            kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
            try:
                async with asyncio.timeout(CONNECT_WAIT):
                    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=kind)
            except (OSError, TimeoutError) as error:
                return f"`{host}` does not resolve ({error})"
            found = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
        own = own_addresses()
        reasons = [vet(self.rules, port, protocol, a, own) for a in found]
        allowed = [a for a, r in zip(found, reasons, strict=True) if r is None]
        return allowed or "; ".join(r for r in reasons if r) or f"`{host}` has no address"

    async def _connect(
        self, addresses: list[Address], port: int, protocol: str
    ) -> tuple[Address, socket.socket | asyncio.DatagramTransport] | str:
        errors = []
        loop = asyncio.get_running_loop()
        for address in addresses:
            # INVARIANT: a loopback or unspecified address is never dialled (`vet` refused it
            # already; this is the dial itself saying so)
            never = never_dialled(address)
            if never is not None:
                errors.append(f"{address}: {never}, never dialled")
                continue
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            try:
                async with asyncio.timeout(CONNECT_WAIT):
                    if protocol != "tcp":
                        return address, await open_udp(str(address), port)
                    outside = socket.socket(family, socket.SOCK_STREAM)
                    outside.setblocking(False)
                    try:
                        await loop.sock_connect(outside, (str(address), port))
                    except BaseException:
                        outside.close()
                        raise
                    return address, outside
            except (OSError, TimeoutError) as error:
                errors.append(f"{address}: {error.strerror or type(error).__name__}")
        return "cannot connect: " + "; ".join(errors)

    async def _refuse(self, link: socket.socket, where: str, reason: str) -> None:
        log.warning("egress %s %s: refused: %s", self.rules.name, where, printable(reason))
        await answer(link, {"ok": False, "reason": reason})


def test_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """`MCP_LOK_TEST_RESOLVE=name=address,…`, set only by the e2e harness."""
    found = {}
    for item in environ.get(TEST_RESOLVE, "").split(","):
        name, _, address = item.partition("=")
        if name and address:
            found[name.strip().lower()] = str(ipaddress.ip_address(address.strip()))
    return found


@contextlib.contextmanager
def relay_running(path: Path, log_path: str | None) -> Iterator[EgressRelay | None]:
    """Relay the server's egress on a thread while the block runs, by the host's own copy
    of its rules at `path` (`Layout.egress_rules`); nothing happens for a server whose plan
    has no egress (no such file)."""
    if not path.exists():
        yield None
        return
    try:
        relay = EgressRelay(load_rules(path), test_overrides(os.environ))
    except (RulesError, ValueError) as error:
        raise ProxyError(str(error), hint="remove the server and start it again") from error
    handler = logfile.handler(log_path, logfile.EGRESS) if log_path else None
    if handler is not None:
        log.addHandler(handler)
        # once is enough: not to the proxy's own handler of that file, nor to a detached
        # proxy's stderr, which is that file too
        log.propagate = False
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
