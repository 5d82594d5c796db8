"""The gate: the sidecar that owns a server's network namespace and is its only door.

It runs inside the gate image, which has Python's standard library and nothing else, so
this module imports nothing from mcp-lok (it is still importable as `mcp_lok.proxy.gate`
for tests). `python3 gate.py /run/mcp-lok-gate/gate.json` reads the config the launcher
wrote (`policy/lower/gate.py` builds it) and serves its listeners in one event loop:

* ingress (HTTP transports): a Unix socket, bind-mounted into the gate only, whose every
  connection is spliced to the server's port on the shared loopback;
* egress (allow-listed networks, not built yet): DNS, one listener per allowed
  destination and an HTTP proxy, each relaying over a second Unix socket to the host.
  Until it is built, a config with egress is refused, so nothing runs half-enforced.

Rules and Host/Origin checks are the host's job (`proxy/`); the gate only moves bytes and
logs one line per connection (never the payload) to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import signal
import stat
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("mcp-lok-gate")

VERSION = 1
# one read; with the reader's limit and the writer's high-water mark, this bounds what a
# connection buffers to a few hundred KiB per direction, however fast one side sends
CHUNK = 64 * 1024
MAX_CONNECTIONS = 256  # 2 descriptors each; the gate's nofile limit is 1024
DIAL_DEADLINE = 30.0  # how long a connection waits for the server to start listening
DIAL_FIRST_DELAY = 0.05
DIAL_MAX_DELAY = 1.0
DRAIN_SECONDS = 3.0  # on the first SIGTERM, how long open connections may finish
MAX_CONFIG_BYTES = 1024 * 1024
SUN_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes, the last one NUL

EXIT_OK = 0
EXIT_FAILURE = 1  # a listener could not start
EXIT_CONFIG = 2  # the config is unreadable, invalid or asks for what this gate cannot do


class ConfigError(ValueError):
    """The gate's config is unreadable or invalid; the message names the field."""


class Unsupported(RuntimeError):
    """The config asks for something this gate does not implement."""


# --- config --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ingress:
    socket: str  # where the host connects, inside the gate's mount
    port: int  # where the server listens, on the shared loopback


@dataclass(frozen=True, slots=True)
class EgressRule:
    hosts: tuple[str, ...]
    ports: tuple[int, ...]
    transports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Egress:
    socket: str
    dns: str
    proxy: tuple[str, int]
    rules: tuple[EgressRule, ...]
    deny_hosts: tuple[str, ...]
    deny_ports: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    ingress: Ingress | None
    egress: Egress | None


def parse_config(raw: object) -> Config:
    """Validate a decoded `gate.json`; unknown or missing fields are errors."""
    top = _object(raw, "", {"version", "name", "ingress", "egress"})
    version = top["version"]
    if type(version) is not int or version != VERSION:
        raise ConfigError(f"`version` must be {VERSION}, not {version!r}")
    name = _string(top["name"], "name")
    ingress = None if top["ingress"] is None else _ingress(top["ingress"])
    egress = None if top["egress"] is None else _egress(top["egress"])
    if ingress is None and egress is None:
        raise ConfigError("neither `ingress` nor `egress` is set: the gate would serve nothing")
    return Config(name, ingress, egress)


def load_config(path: str) -> Config:
    try:
        # non-blocking, so a FIFO in the config's place cannot hang the gate
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError(f"`{path}` is not a regular file")
            data = os.read(fd, MAX_CONFIG_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as error:
        raise ConfigError(f"cannot read `{path}`: {error.strerror}") from error
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"`{path}` is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"`{path}` is not JSON: {error}") from error
    return parse_config(raw)


def _ingress(raw: object) -> Ingress:
    body = _object(raw, "ingress", {"socket", "port"})
    return Ingress(
        _socket_path(body["socket"], "ingress.socket"), _port(body["port"], "ingress.port")
    )


def _egress(raw: object) -> Egress:
    keys = {"socket", "dns", "proxy", "rules", "deny_hosts", "deny_ports"}
    body = _object(raw, "egress", keys)
    dns = _string(body["dns"], "egress.dns")
    if not _is_loopback(dns):
        raise ConfigError(f"`egress.dns` must be a loopback address, not `{dns}`")
    proxy = _string(body["proxy"], "egress.proxy")
    host, _, port = proxy.rpartition(":")
    if not _is_loopback(host) or not port.isdigit():
        raise ConfigError(f"`egress.proxy` must be a loopback `address:port`, not `{proxy}`")
    rules = tuple(
        _rule(r, f"egress.rules[{i}]") for i, r in enumerate(_list(body["rules"], "egress.rules"))
    )
    return Egress(
        socket=_socket_path(body["socket"], "egress.socket"),
        dns=dns,
        proxy=(host, _port(int(port), "egress.proxy")),
        rules=rules,
        deny_hosts=tuple(
            _string(h, "egress.deny_hosts[]")
            for h in _list(body["deny_hosts"], "egress.deny_hosts")
        ),
        deny_ports=tuple(
            _port(p, "egress.deny_ports[]") for p in _list(body["deny_ports"], "egress.deny_ports")
        ),
    )


def _rule(raw: object, where: str) -> EgressRule:
    body = _object(raw, where, {"hosts", "ports", "transports"})
    hosts = tuple(_string(h, f"{where}.hosts[]") for h in _list(body["hosts"], f"{where}.hosts"))
    if not hosts:
        raise ConfigError(f"`{where}.hosts` is empty")
    transports = tuple(
        _string(t, f"{where}.transports[]")
        for t in _list(body["transports"], f"{where}.transports")
    )
    if not transports or not set(transports) <= {"tcp", "udp"}:
        raise ConfigError(f"`{where}.transports` must list `tcp` and/or `udp`")
    ports = tuple(_port(p, f"{where}.ports[]") for p in _list(body["ports"], f"{where}.ports"))
    return EgressRule(hosts, ports, transports)


def _object(raw: object, where: str, keys: set[str]) -> dict[str, object]:
    label = f"`{where}`" if where else "the config"
    if not isinstance(raw, dict):
        raise ConfigError(f"{label} must be an object")
    unknown = sorted(set(raw) - keys)
    if unknown:
        raise ConfigError(f"{label} has unknown field `{unknown[0]}`")
    missing = sorted(keys - set(raw))
    if missing:
        raise ConfigError(f"{label} lacks field `{missing[0]}`")
    return {str(k): v for k, v in raw.items()}


def _list(raw: object, where: str) -> list[object]:
    if not isinstance(raw, list):
        raise ConfigError(f"`{where}` must be a list")
    return list(raw)


def _string(raw: object, where: str) -> str:
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        raise ConfigError(f"`{where}` must be a non-empty string")
    return raw


def _port(raw: object, where: str) -> int:
    if type(raw) is not int or not 1 <= raw <= 65535:
        raise ConfigError(f"`{where}` must be a port number from 1 to 65535, not {raw!r}")
    return raw


def _socket_path(raw: object, where: str) -> str:
    path = _string(raw, where)
    if not path.startswith("/") or len(os.fsencode(path)) > SUN_PATH_MAX:
        raise ConfigError(f"`{where}` must be an absolute path of at most {SUN_PATH_MAX} bytes")
    return path


def _is_loopback(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


# --- splicing ------------------------------------------------------------------------


@dataclass(slots=True)
class Traffic:
    """Bytes moved by one connection: `up` towards the server, `down` back to the client."""

    up: int = 0
    down: int = 0


class DialError(OSError):
    """The server never accepted the connection before the deadline."""


async def dial(
    host: str,
    port: int,
    *,
    deadline: float = DIAL_DEADLINE,
    abandoned: Callable[[], bool] = lambda: False,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to `host:port`, retrying with backoff while the server is still starting.

    Gives up at `deadline` seconds, or as soon as `abandoned()` says the client left."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    delay = DIAL_FIRST_DELAY
    while True:
        remaining = end - loop.time()
        try:
            async with asyncio.timeout(max(remaining, 0.001)):
                return await asyncio.open_connection(host, port, limit=CHUNK)
        except (OSError, TimeoutError) as error:
            last: BaseException = error
        if abandoned():
            raise DialError(f"the client left while {host}:{port} was not answering")
        if loop.time() + delay >= end:
            reason = type(last).__name__
            raise DialError(f"{host}:{port} did not accept within {deadline:.0f} s ({reason})")
        await asyncio.sleep(delay)
        delay = min(delay * 2, DIAL_MAX_DELAY)


async def splice(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    traffic: Traffic,
) -> None:
    """Copy bytes both ways until both directions have ended.

    An EOF on one side is passed on as a half-close (`shutdown(SHUT_WR)`) and the other
    direction keeps flowing; an error on either side ends both."""

    def up(n: int) -> None:
        traffic.up += n

    def down(n: int) -> None:
        traffic.down += n

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(_pump(client[0], server[1], up))
            group.create_task(_pump(server[0], client[1], down))
    except* OSError:
        # a reset on either side: both ends are closed below, nothing more to say
        pass
    finally:
        for writer in (client[1], server[1]):
            writer.close()
        for writer in (client[1], server[1]):
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: Callable[[int], None]
) -> None:
    while data := await reader.read(CHUNK):
        writer.write(data)
        # INVARIANT: wait until the peer takes the bytes, so a slow side bounds the buffer
        await writer.drain()
        count(len(data))
    if writer.can_write_eof() and not writer.is_closing():
        writer.write_eof()


# --- listeners -----------------------------------------------------------------------


class Listener(Protocol):
    """One door the gate serves. Ingress is one; egress will add DNS, one per allowed
    destination and the HTTP proxy, each started and closed the same way."""

    @property
    def label(self) -> str: ...

    async def start(self) -> None: ...

    async def close(self) -> None:
        """Stop accepting and remove whatever `start` created; open connections stay."""


class Connections:
    """Owns every connection task: counts them, caps them, and cancels them on shutdown."""

    def __init__(self, limit: int = MAX_CONNECTIONS) -> None:
        self._limit = limit
        self._tasks: set[asyncio.Task[None]] = set()
        self._serial = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._tasks)

    async def serve(
        self, writer: asyncio.StreamWriter, label: str, work: Callable[[int], Awaitable[None]]
    ) -> None:
        """Run `work(serial)` for one accepted connection, as a task this object owns."""
        self._serial += 1
        serial = self._serial
        if len(self._tasks) >= self._limit:
            log.warning("%s #%d: refused, %d connections already open", label, serial, self._limit)
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None  # asyncio runs every connection callback in a task
        self._tasks.add(task)
        self._idle.clear()
        try:
            await work(serial)
        finally:
            self._tasks.discard(task)
            if not self._tasks:
                self._idle.set()

    def cut(self) -> None:
        """Cancel every open connection now."""
        for task in list(self._tasks):
            task.cancel()

    async def drain(self, grace: float) -> None:
        """Let open connections finish for `grace` seconds, then cut what is left."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._idle.wait()
        self.cut()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class IngressListener:
    """The host's way in: a Unix socket whose connections are spliced to the server."""

    label = "ingress"

    def __init__(
        self,
        ingress: Ingress,
        connections: Connections,
        *,
        host: str = "127.0.0.1",
        dial_deadline: float = DIAL_DEADLINE,
    ) -> None:
        self._ingress = ingress
        self._connections = connections
        self._host = host
        self._dial_deadline = dial_deadline
        self._server: asyncio.Server | None = None
        self._inode: tuple[int, int] | None = None

    async def start(self) -> None:
        path = self._ingress.socket
        _remove_stale_socket(path)
        # INVARIANT: the socket is created 0600 (no window with a wider mode): only the
        # gate's uid and root on the host may connect; its folder is the gate's alone and
        # is never mounted into the server.
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._accept, path=path, limit=CHUNK)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        info = os.stat(path)
        self._inode = (info.st_dev, info.st_ino)
        log.info("ingress: %s → %s:%d", path, self._host, self._ingress.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        # remove the socket only if it is still the one this listener bound
        with contextlib.suppress(FileNotFoundError):
            info = os.stat(self._ingress.socket)
            if (info.st_dev, info.st_ino) == self._inode:
                os.unlink(self._ingress.socket)
        self._inode = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._connections.serve(
            writer, self.label, lambda serial: self._relay(serial, reader, writer)
        )

    async def _relay(
        self, serial: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        started = time.monotonic()
        target = f"{self._host}:{self._ingress.port}"
        traffic = Traffic()
        outcome = "waiting for the server"
        try:
            server = await dial(
                self._host,
                self._ingress.port,
                deadline=self._dial_deadline,
                abandoned=lambda: reader.at_eof() or reader.exception() is not None,
            )
            outcome = "relayed"
            await splice((reader, writer), server, traffic)
        except DialError as error:
            writer.transport.abort()
            outcome = f"not relayed: {error}"
        except asyncio.CancelledError:
            writer.transport.abort()
            outcome += ", cut at shutdown"
            raise
        finally:
            took = time.monotonic() - started
            log.info(
                "ingress #%d → %s: %s, %d B up, %d B down, %.2f s",
                serial, target, outcome, traffic.up, traffic.down, took,
            )  # fmt: skip


def _remove_stale_socket(path: str) -> None:
    """A socket left by an earlier run of this gate is removed; anything else is an error."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise OSError(f"`{path}` exists and is not a socket")
    os.unlink(path)


def refuse_unsupported(config: Config) -> None:
    if config.egress is not None:
        # INVARIANT: a gate that cannot enforce the egress allow-list refuses to start,
        # rather than run with the policy's network promise unkept.
        raise Unsupported("egress not implemented")


def listeners(config: Config, connections: Connections) -> list[Listener]:
    """The listeners a config asks for, in start order."""
    refuse_unsupported(config)
    found: list[Listener] = []
    if config.ingress is not None:
        found.append(IngressListener(config.ingress, connections))
    return found


# --- running -------------------------------------------------------------------------


@dataclass
class Gate:
    """The event loop's owner: starts the listeners, waits for a signal, shuts down."""

    config: Config
    connections: Connections = field(default_factory=Connections)
    drain_seconds: float = DRAIN_SECONDS
    _stop: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _started: list[Listener] = field(default_factory=list, init=False)

    def stop(self) -> None:
        """First call: stop accepting and drain. Second call: cut every connection now."""
        if self._stop.is_set():
            log.info("gate %s: second signal, cutting open connections", self.config.name)
            self.connections.cut()
        self._stop.set()

    async def start(self) -> None:
        for listener in listeners(self.config, self.connections):
            await listener.start()
            self._started.append(listener)

    async def run(self) -> None:
        try:
            await self.start()
            log.info("gate %s ready", self.config.name)
            await self._stop.wait()
            log.info(
                "gate %s stopping, %d connections open", self.config.name, len(self.connections)
            )
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        while self._started:
            await self._started.pop().close()
        await self.connections.drain(self.drain_seconds)


async def serve(config: Config) -> None:
    gate = Gate(config)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, gate.stop)
    try:
        await gate.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s mcp-lok-gate %(levelname)s %(message)s",
    )
    if len(args) != 1:
        log.error("usage: gate.py CONFIG.json")
        return EXIT_CONFIG
    try:
        config = load_config(args[0])
        refuse_unsupported(config)
    except (ConfigError, Unsupported) as error:
        log.error("refusing to start: %s", error)
        return EXIT_CONFIG
    try:
        asyncio.run(serve(config))
    except OSError as error:
        log.error("cannot serve: %s", error)
        return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
