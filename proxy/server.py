"""Run the proxy for one server: attach (stdio) or open the forwarder (HTTP transports),
bind, report the URL, serve until told to stop, and clean up every task and connection.

`serve` is the async entry point; `run` wraps it for a process of its own, with the
signals a foreground command or a detached proxy needs (first SIGINT/SIGTERM drains,
a second forces). Creating, starting and removing containers is the launcher's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from . import logfile
from .access import Access
from .attach import attach
from .bridge import Bridge, StdioBridge
from .config import ProxyConfig
from .errors import ProxyError
from .pool import PerSessionBridge, Spawn
from .tasks import Tasks

if TYPE_CHECKING:  # both import aiohttp, which is imported late (see APP_MODULE)
    from aiohttp import web

    from .keys import Upstream

# aiohttp (and the app built on it) is imported only once the server is attached: a
# launcher that starts the container in `on_attached` lets that import (about 130 ms)
# run while the engine starts the container, instead of before it
APP_MODULE = "mcp_lok.proxy.app"

log = logging.getLogger("mcp_lok.proxy")

TRANSPORTS = ("stdio", "sse", "streamable-http")
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
# called with the reason when a stdio server is gone: the attached streams of the server
# started again, or None to leave it stopped (the launcher's restart policy)
Restart = Callable[[str], Awaitable[Stream | None]]


async def serve(
    config: ProxyConfig,
    *,
    on_ready: Callable[[str], None],
    stop: asyncio.Event,
    stream: Stream | None = None,
    on_server_gone: Callable[[str], None] | None = None,
    on_attached: Callable[[], None] | None = None,
    restart: Restart | None = None,
    spawn: Spawn | None = None,
    on_stderr: Callable[[str], None] | None = None,
) -> None:
    """Serve `config`'s server until `stop` is set.

    For stdio the proxy attaches first (unless the caller passes an attached `stream`),
    then binds and calls `on_ready(url)`: a launcher that starts the container after
    `on_ready` loses none of its output. When the server's stream ends, `/health` turns
    503, clients get JSON-RPC errors, `on_server_gone(reason)` is called, and serving goes
    on until `stop`. `on_attached()` is called once the backend is attached (stdio) or
    opened (HTTP), before the web app is even imported: the earliest safe moment to start
    a stdio container. When a stdio server is gone and `restart(reason)` gives its new
    streams, the proxy re-attaches and the sessions carry on; `on_server_gone` is called
    only once no restart follows. With `session_mode` "per-session" nothing is attached
    up front: `spawn()` starts a server for each session as it opens. `on_stderr(line)`
    hears each line of a shared stdio server's stderr as it comes (it goes to the log too).
    """
    _check(config, stream, spawn)
    tasks = Tasks(f"proxy:{config.name}")
    bridge, upstream = await _backend(config, tasks, stream, spawn, on_stderr)
    if on_attached is not None:
        on_attached()
    # aiohttp and the app, only now: see APP_MODULE
    from aiohttp import web

    from .app import make_app

    app = make_app(config, bridge=bridge, upstream=upstream)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=config.drain_timeout + 1.0,
        handler_cancellation=True,  # a client that disconnects cancels its request
        access_log=None,
    )
    forced = True
    try:
        port = await _listen(runner, config)
        if bridge is not None:
            bridge.start()
            watched = on_server_gone is not None or restart is not None
            if isinstance(bridge, StdioBridge) and watched:
                watch = _watch(bridge, on_server_gone, restart)
                tasks.spawn(watch, name="server-watch")
        on_ready(url(config.host, port))
        await stop.wait()
        forced = False
    finally:
        await _shutdown(runner, bridge, upstream, tasks, drain=not forced)


def _check(config: ProxyConfig, stream: Stream | None, spawn: Spawn | None = None) -> None:
    if config.transport not in TRANSPORTS:
        raise ProxyError(
            f"unknown transport `{config.transport}`", hint="stdio, sse or streamable-http"
        )
    if config.session_mode not in ("shared", "per-session"):
        raise ProxyError(
            f"unknown session mode `{config.session_mode}`", hint="shared, per-session"
        )
    if config.session_mode == "per-session":
        if config.transport != "stdio" or spawn is None:
            raise ProxyError("a server per session needs a stdio server and `spawn`")
        return
    attached = stream is not None or (config.engine_socket and config.container_id)
    if config.transport == "stdio" and not attached:
        raise ProxyError("a stdio server needs `engine_socket` and `container_id`")
    if config.transport != "stdio" and not config.ingress_socket:
        raise ProxyError(f"a `{config.transport}` server needs the gate's `ingress_socket`")
    if not _is_loopback(config.host):
        log.warning("the proxy listens on %s, which is not loopback", config.host)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def _backend(
    config: ProxyConfig,
    tasks: Tasks,
    stream: Stream | None,
    spawn: Spawn | None = None,
    on_stderr: Callable[[str], None] | None = None,
) -> tuple[Bridge | None, Upstream | None]:
    if config.session_mode == "per-session":
        assert spawn is not None
        return PerSessionBridge(config, spawn, tasks), None
    if config.transport == "stdio":
        if stream is None:
            assert config.engine_socket is not None
            assert config.container_id is not None
            stream = await attach(config.engine_socket, config.container_id)
        return StdioBridge(config, *stream, tasks, on_stderr), None
    # the HTTP transports' half imports aiohttp: not before it is needed (see APP_MODULE)
    from .forward import Forwarder

    assert config.ingress_socket is not None
    # INVARIANT: the proxy's own bearer token is consumed here, never passed to the server.
    drop = ("Authorization",) if config.bearer_token else ()
    return None, Forwarder(
        config.ingress_socket,
        config.target_port,
        drop_headers=drop,
        hold_get_stream=config.transport == "streamable-http",
        idle_timeout=config.session_idle_timeout,
    )


async def _listen(runner: web.AppRunner, config: ProxyConfig) -> int:
    """Bind, then arm the guard with the bound address; returns the port."""
    # called once the app is built: aiohttp is loaded by now (see APP_MODULE)
    from aiohttp import web

    from .keys import BINDING

    await runner.setup()
    # INVARIANT: the proxy listens where the config says, 127.0.0.1 unless told otherwise;
    # it never picks a wildcard address itself.
    site = web.TCPSite(runner, config.host, config.port)
    try:
        await site.start()
    except OSError as error:
        raise ProxyError(
            f"cannot listen on {config.host}:{config.port}: {error.strerror or error}",
            hint="choose another `--port`, or omit it to get a free one",
        ) from error
    port: int = runner.addresses[0][1]
    runner.app[BINDING].access = Access.bound(
        config.host, port, config.allowed_origins, config.bearer_token
    )
    return port


def url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _watch(
    bridge: StdioBridge,
    on_server_gone: Callable[[str], None] | None,
    restart: Restart | None,
) -> None:
    while True:
        await bridge.server_gone.wait()
        reason = bridge.gone or "the server is gone"
        stream = None
        if restart is not None:
            try:
                stream = await restart(reason)
            except Exception as error:  # a failed restart leaves it stopped, and says why
                log.error("%s: restarting the server failed: %s", bridge.config.name, error)
        if stream is None:
            if on_server_gone is not None:
                on_server_gone(reason)
            return
        log.warning("%s: started the server again (%s)", bridge.config.name, reason)
        await bridge.reattach(*stream)


async def _shutdown(
    runner: web.AppRunner,
    bridge: Bridge | None,
    upstream: Upstream | None,
    tasks: Tasks,
    *,
    drain: bool,
) -> None:
    """Stop listening, let requests in flight finish when draining, end the sessions and
    their streams, close the attach connection or the forwarder, then every task."""
    if bridge is not None:
        bridge.draining = drain
    try:
        await runner.cleanup()
    finally:
        if bridge is not None:
            await bridge.close()
        if upstream is not None:
            await upstream.close()
        await tasks.close()


def run(
    config: ProxyConfig,
    on_ready: Callable[[str], None],
    *,
    on_server_gone: Callable[[str], None] | None = None,
    on_attached: Callable[[], None] | None = None,
    restart: Restart | None = None,
    spawn: Spawn | None = None,
    on_stderr: Callable[[str], None] | None = None,
) -> int:
    """Serve in this process until SIGINT/SIGTERM: 0 after a clean stop, 1 when the proxy
    could not run (logged), 130 when a second signal cut the draining short.
    `on_ready`, `on_server_gone` and `on_stderr` are called as `serve` calls them (in its
    loop)."""
    with _log_file(config.log_path):
        return asyncio.run(
            _main(config, on_ready, on_server_gone, on_attached, restart, spawn, on_stderr)
        )


async def _main(
    config: ProxyConfig,
    on_ready: Callable[[str], None],
    on_server_gone: Callable[[str], None] | None,
    on_attached: Callable[[], None] | None = None,
    restart: Restart | None = None,
    spawn: Spawn | None = None,
    on_stderr: Callable[[str], None] | None = None,
) -> int:
    stop = asyncio.Event()
    main = asyncio.current_task()
    assert main is not None
    signals: list[int] = []

    def on_signal(number: int) -> None:
        signals.append(number)
        if len(signals) == 1:
            log.info("stopping: finishing requests in flight (signal again to force)")
            stop.set()
        else:
            main.cancel()

    with _signal_handlers(on_signal):
        try:
            await serve(
                config,
                on_ready=on_ready,
                stop=stop,
                on_server_gone=on_server_gone,
                on_attached=on_attached,
                restart=restart,
                spawn=spawn,
                on_stderr=on_stderr,
            )
        except ProxyError as error:
            log.error("%s%s", error.message, f" (hint: {error.hint})" if error.hint else "")
            return 1
        except asyncio.CancelledError:
            if len(signals) < 2:
                raise
            main.uncancel()
            return 130
    return 0


@contextlib.contextmanager
def _signal_handlers(on_signal: Callable[[int], None]) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for number in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(number, on_signal, int(number))
            installed.append(number)
        except (NotImplementedError, RuntimeError):  # not the main thread: no signals here
            log.debug("cannot handle %s in this thread", number.name)
    try:
        yield
    finally:
        for number in installed:
            loop.remove_signal_handler(number)


@contextlib.contextmanager
def _log_file(path: str | None) -> Iterator[None]:
    """The proxy's own log lines go to the server's log file too, when there is one, and
    one line per request it served (`logfile.REQUEST`) goes there only."""
    if path is None:
        yield
        return
    handler = logfile.handler(path, logfile.PROXY)
    logger = logging.getLogger("mcp_lok.proxy")
    access = logging.getLogger(logfile.ACCESS_LOGGER)
    saved = logger.level, logger.propagate, access.level, access.propagate
    logger.addHandler(handler)
    # a detached proxy's stderr is that very file: passed on to stderr too, each line
    # would land there twice
    logger.propagate = not logfile.stderr_is(path)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    access.propagate = False  # requests are the log's (`mcp-lok logs -v`), not a terminal's
    access.setLevel(logging.INFO)
    access.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        access.removeHandler(handler)
        logger.level, logger.propagate, access.level, access.propagate = saved
        handler.close()
