"""Handing a provisioned server to the host proxy, in this process (`run`) or in a
detached one (`start`: `python -m mcp_lok.launcher.handoff`).

The order matters for stdio: the server's container is created but not started; the proxy
attaches to it, and only once the proxy reports ready (`on_ready`, called after it
listens and has attached) is the container started, so no byte of the server's output is
lost. HTTP servers are already running behind the gate. The proxy itself (`mcp_lok.proxy`)
knows nothing of state or engines beyond the `ProxyConfig` it is given.

A detached proxy does not load the engine adapter (the docker SDK, ~9 MiB of its resident
memory): it says `attached` on its ready pipe and the `start` process, which has the
engine open already, starts the container, while the proxy binds. Its entry point
(`python -m mcp_lok.launcher.handoff`) loads neither click nor the engine adapter.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mcp_lok.policy.baseline import DEFAULT_TARGET_PORT, MAX_SESSIONS, SESSION_IDLE_TIMEOUT
from mcp_lok.proxy import logfile, run
from mcp_lok.proxy.config import ProxyConfig, private_log
from mcp_lok.proxy.errors import ProxyError

from .errors import LokError
from .respawn import restarter, session_spawner
from .sockets import socket_path
from .state import Phase, ServerState, Store, process_start

if TYPE_CHECKING:  # the adapter loads the docker SDK, which a detached proxy does without
    from .engine import ContainerEngine

log = logging.getLogger(__name__)

READY_WAIT = 30.0  # seconds a detached proxy has to report ready
ATTACHED = "attached"  # a detached stdio proxy's first line: start the container now
# the detached proxy gets its bearer token in its environment, never on its command line
# (which every local user can read in /proc)
TOKEN_VARIABLE = "MCP_LOK_PROXY_TOKEN"  # noqa: S105 (the variable's name)
Announce = Callable[[str], None]


def prefetch_proxy() -> None:
    """Import the proxy's web app (aiohttp, ~130 ms) on a thread while the main thread
    waits for the engine to start the container; the import lock makes the proxy's own
    import wait for this one rather than repeat it."""
    threading.Thread(
        target=importlib.import_module, args=("mcp_lok.proxy.app",), name="prefetch", daemon=True
    ).start()


def proxy_config(
    store: Store, state: ServerState, port: int, token: str | None = None
) -> ProxyConfig:
    stdio = state.transport == "stdio"
    ingress = store.layout(state.name).ingress_socket
    return ProxyConfig(
        name=state.name,
        transport=state.transport,
        port=port,
        engine_socket=socket_path(state.engine_url) if stdio else None,
        container_id=state.container_id if stdio else None,
        ingress_socket=None if stdio else ingress,
        target_port=state.target_port or DEFAULT_TARGET_PORT,
        log_path=state.log_path,
        bearer_token=token,
        max_sessions=state.max_sessions or MAX_SESSIONS,
        session_idle_timeout=state.session_idle_timeout or SESSION_IDLE_TIMEOUT,
    )


def _port_of(url: str) -> int | None:
    return urlsplit(url).port


class Callbacks:
    """What a proxy in this process calls back: once it is attached, a stdio server is
    started (by `engine`, or by `attached()`, which has someone else start it); once it
    is ready, the state records the proxy as this process and `announce` hears the URL.
    A failure in either asks the proxy to shut down, and is raised when it has."""

    def __init__(
        self,
        engine: ContainerEngine | None,
        store: Store,
        state: ServerState,
        announce: Announce,
        attached: Callable[[], None] | None,
        per_session: bool,
    ) -> None:
        self.engine, self.store, self.state, self.announce = engine, store, state, announce
        self.attached, self.per_session = attached, per_session
        self.failures: list[LokError] = []
        self.ready: list[str] = []

    def on_attached(self) -> None:
        # the proxy is attached: start a stdio server now, and let the proxy's web app
        # import on a thread while the engine starts the container
        if self.state.transport != "stdio" or self.per_session:
            return
        if self.engine is None:
            assert self.attached is not None
            self.attached()
            return
        prefetch_proxy()
        try:
            self.engine.start(self.state.container_id or "")
        except LokError as error:
            self._fail(error)

    def on_ready(self, url: str) -> None:
        if self.failures:
            return
        pid = os.getpid()
        try:
            self.store.save(
                replace(
                    self.store.load(self.state.name) or self.state,
                    phase=Phase.RUNNING.value,
                    url=url,
                    port=_port_of(url),
                    proxy_pid=pid,
                    proxy_start=process_start(pid),
                    launcher_pid=None,
                    launcher_start=None,
                )
            )
        except LokError as error:
            self._fail(error)
            return
        self.ready.append(url)
        self.announce(url)

    def _fail(self, error: LokError) -> None:
        self.failures.append(error)
        os.kill(os.getpid(), signal.SIGTERM)  # ask the proxy to shut down

    def check(self, code: int) -> None:
        """Raise what failed, or that the proxy (which ended with `code`) never served."""
        if self.failures:
            raise self.failures[0]
        if not self.ready:
            raise LokError(
                f"the proxy stopped before it was ready (exit {code})",
                hint=f"see its log: `mcp-lok logs {self.state.name}`",
            )


def serve(
    engine: ContainerEngine | None,
    store: Store,
    state: ServerState,
    port: int,
    announce: Announce,
    *,
    token: str | None = None,
    attached: Callable[[], None] | None = None,
    restarts: int = 0,
    body: dict[str, Any] | None = None,
    on_server_gone: Callable[[str], None] | None = None,
    on_stderr: Callable[[str], None] | None = None,
) -> None:
    """Run the proxy in this process until SIGINT/SIGTERM (`Callbacks` says what happens
    once it is attached, and ready). A stdio server that fails is started again up to
    `restarts` times. With `body` (the server's container payload), every client session
    gets a container of its own from it instead, and the provisioned one stays unstarted.
    `on_server_gone` and `on_stderr` hear a shared stdio server's end (once no restart
    follows) and each line of its stderr."""
    callbacks = Callbacks(engine, store, state, announce, attached, body is not None)
    again = None
    if restarts and state.transport == "stdio":
        again = restarter(state, restarts, Path(store.layout(state.name).ready))
    config = proxy_config(store, state, port, token)
    spawn = None
    if body is not None:
        config = replace(config, session_mode="per-session")
        spawn = session_spawner(state, body)
    # egress (issue 5): the allow-list's host side lives as long as this process serves
    with _egress(store, state):
        code = run(
            config,
            callbacks.on_ready,
            on_attached=callbacks.on_attached,
            restart=again,
            spawn=spawn,
            on_server_gone=on_server_gone,
            on_stderr=on_stderr,
        )
    callbacks.check(code)


@contextlib.contextmanager
def _egress(store: Store, state: ServerState) -> Iterator[None]:
    """Relay the server's allowed egress while the proxy serves (nothing without egress)."""
    rules = Path(store.layout(state.name).egress_rules)
    if not rules.exists():
        yield  # no allow-list: nothing to relay, and nothing to import on the startup path
        return
    # the host side of egress (~60 ms measured, on this project's loaded 2-core machines):
    # a server without an allow-list does not pay for it
    from mcp_lok.proxy.egress import relay_running

    try:
        with relay_running(rules, state.log_path):
            yield
    except ProxyError as error:
        raise LokError(error.message, hint=error.hint) from error


def spawn(
    store: Store,
    state: ServerState,
    port: int,
    timeout: float = READY_WAIT,
    *,
    token: str | None = None,
    on_attached: Callable[[], None] | None = None,
    restarts: int = 0,
    body: dict[str, Any] | None = None,
) -> str:
    """Start the detached proxy for NAME in a new session (it outlives this terminal),
    call `on_attached()` when it says it is attached (a stdio server: start the container
    then), and wait until it reports its URL. Raises `LokError` with the log's tail when
    it does not, or what `on_attached` raised. A server `body` for per-session mode goes
    to the proxy on its stdin (it may hold secrets: never on disk or a command line)."""
    read_fd, write_fd = os.pipe()
    command = [sys.executable, "-m", "mcp_lok.launcher.handoff", state.name, str(write_fd)]
    command += [str(port), str(restarts), "per-session" if body is not None else "shared"]
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_VARIABLE, "MCP_LOK_AUTH_TOKEN")}
    if token is not None:
        env[TOKEN_VARIABLE] = token
    private_log(state.log_path)
    with open(state.log_path, "ab") as log_file:
        # this very Python and our own module, with arguments we made: no shell, no input
        child = subprocess.Popen(  # noqa: S603
            command,
            env=env,
            stdin=subprocess.PIPE if body is not None else subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            pass_fds=(write_fd,),
            start_new_session=True,
            close_fds=True,
        )
    os.close(write_fd)
    if child.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            child.stdin.write(json.dumps(body).encode())
        child.stdin.close()
    try:
        url = _read_ready(read_fd, child, timeout, on_attached)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait(timeout=5)
        raise
    finally:
        os.close(read_fd)
    return url


def _read_ready(
    fd: int,
    child: subprocess.Popen[bytes],
    timeout: float,
    on_attached: Callable[[], None] | None = None,
) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        line, newline, rest = data.partition(b"\n")
        if newline and line == ATTACHED.encode():
            data = rest
            if on_attached is not None:
                on_attached()
            continue
        if newline:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            raise LokError(
                f"the proxy did not become ready in {timeout:.0f}s",
                hint="see its log with `mcp-lok logs NAME`",
            )
        readable, _, _ = select.select([fd], [], [], min(left, 0.5))
        if readable:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    if b"\n" not in data:
        code = child.wait(timeout=5)
        raise LokError(
            f"the proxy stopped before it was ready (exit {code})",
            hint="see its log with `mcp-lok logs NAME`",
        )
    return data.split(b"\n", 1)[0].decode()


def serve_detached(
    name: str,
    ready_fd: int,
    port: int,
    token: str | None = None,
    restarts: int = 0,
    body: dict[str, Any] | None = None,
) -> None:
    """The detached proxy's body: serve a server that `start` provisioned (and starts,
    once told `attached`)."""
    store = Store()
    state = store.load(name)
    if state is None:
        raise LokError(f"no server named `{name}`")

    def attached() -> None:
        os.write(ready_fd, f"{ATTACHED}\n".encode())

    def announce(url: str) -> None:
        os.write(ready_fd, f"{url}\n".encode())
        os.close(ready_fd)

    serve(
        None,
        store,
        state,
        port,
        announce,
        token=token,
        attached=attached,
        restarts=restarts,
        body=body,
    )


def main(argv: list[str]) -> int:
    """`python -m mcp_lok.launcher.handoff NAME READY_FD PORT RESTARTS SESSION_MODE`,
    spawned by `start` (the bearer token, if any, comes in the environment; the server's
    payload for per-session mode on stdin)."""
    # its stderr is the server's log: lines stamped as the log's are (`logfile`)
    stderr = logging.StreamHandler()
    stderr.setFormatter(logfile.Formatter(logfile.LAUNCHER))
    logging.basicConfig(level=logging.WARNING, handlers=[stderr])
    name, ready_fd, port, restarts = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    token = os.environ.pop(TOKEN_VARIABLE, None)
    body = json.loads(sys.stdin.buffer.read()) if argv[4] == "per-session" else None
    try:
        serve_detached(name, ready_fd, port, token, restarts, body)
    except LokError as error:
        log.error("%s%s", error.message, f" (hint: {error.hint})" if error.hint else "")
        return 1
    return 0


def log_tail(path: str, lines: int = 20) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


__all__ = [
    "TOKEN_VARIABLE",
    "Callbacks",
    "log_tail",
    "proxy_config",
    "serve",
    "serve_detached",
    "spawn",
]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
