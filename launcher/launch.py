"""The launch pipeline: one `LaunchRequest`, through four stages, in this order.

    prepare    the request's problems; compile (grants judged on this host,
               `ThisHost`); find the engine and reap what crashed launches left; lower
               (a user only the image can number resolved from its accounts,
               `accounts`); check the images and the port. Nothing is created.
    provision  look at the host paths again (`recheck.PathCheck`); reserve the name
               (state and nonce first); write the plan's files; create networks, the gate
               (waiting until it serves), the server, with a last look at the host paths
               right before its create. Any failure or signal undoes all of it.
    hand-off   the proxy, in this process until a signal or the server's end
               (`serve_foreground`, `run`, which shows the server's stderr: `foreground`),
               or detached (`start_detached`, `start` and the MCP server's `run_server`),
               waiting until the server serves when asked (`readiness`).
    teardown   remove everything the launch created (`teardown.py`).

Each step's work lives in the module named for it (`planning`, `creation`, `handoff`,
`teardown`); the order is here. The CLI and the MCP server build the request, call these,
and report; nothing here prints.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from mcp_lok.policy import Compiled, Host, LaunchPlan, Target
from mcp_lok.policy.identity import Accounts, numeric
from mcp_lok.policy.loader import Reader, read_text

from . import accounts, handoff, planning
from . import engine as adapter
from .creation import InProgress, fill_secrets, new_state, reserve
from .engine import ContainerEngine, uninterrupted
from .errors import LokError, UsageError
from .foreground import Watch
from .handoff import log_tail
from .host import ThisHost
from .readiness import NotServing, stderr_tail, wait_serving
from .recheck import PathCheck
from .request import GENERATE, LaunchRequest
from .state import ServerState, Store
from .teardown import forget, reap, teardown, undo


@dataclass(frozen=True)
class Prepared:
    """A launch that passed every check, not yet begun."""

    request: LaunchRequest
    source: str  # the policy SOURCE as given, or where a profile given inline is kept
    engine: ContainerEngine
    store: Store
    compiled: Compiled
    plan: LaunchPlan
    target: Target
    token: str | None  # the proxy's bearer token; None: none required (`no_auth`)

    @property
    def name(self) -> str:
        return self.target.name


# --- prepare -----------------------------------------------------------------------------


def prepare(
    request: LaunchRequest,
    read: Reader = read_text,
    on_warnings: Callable[[Compiled], None] | None = None,
) -> Prepared:
    """Check everything before anything is created. Raises `UsageError` for the request's
    problems, `PolicyError` when the policy or the target is rejected, `LokError` for the
    engine, an image or the port. `read` reads the policy's files; `on_warnings` hears of
    the compiler's warnings."""
    if problems := request.problems():
        raise UsageError(problems)
    store = Store()
    source = request.source(store.layout(request.server_name).inline_profile)
    # the policy is compiled and judged before an engine is asked: a policy that cannot
    # be read or is rejected says so, engine or not; what needs the engine (a user only
    # the image can number, lowering for its kind) comes after
    host = ThisHost()
    compiled = planning.compile_request(request, source, read, host)
    engine = adapter.discover(request.engine)
    reap(engine, store)
    # the launch's nonce is a lowering input, like the name: the plan sent is the plan
    # recorded, and `policy compile` prints its placeholder where this launch puts it
    target = request.target(engine.kind, str(store.root), new_nonce())
    planning.check_target(target)
    compiled, plan = plan_launch(
        request,
        source,
        target,
        lambda: accounts.read(engine, request.image, store.root),
        read,
        host,
        compiled,
    )
    if compiled.warnings and on_warnings is not None:
        on_warnings(compiled)
    engine.require_image(request.image)
    if plan.gate is not None:
        engine.require_image(plan.gate.container.body["Image"])
    _check_port(request.port)
    return Prepared(request, source, engine, store, compiled, plan, target, _token(request))


def plan_launch(
    request: LaunchRequest,
    source: str,
    target: Target,
    image_accounts: Callable[[], Accounts],
    read: Reader = read_text,
    host: Host | None = None,
    compiled: Compiled | None = None,
) -> tuple[Compiled, LaunchPlan]:
    """A launch's policy chain: SOURCE compiled with the request's rules (unless
    `compiled` is that already), judged on `host` (this machine unless a caller says
    otherwise), its user resolved from `image_accounts()` when only the image can give the
    numbers, lowered for `target`. Raises `PolicyError` when the policy is rejected,
    `LokError` when the user is still not numbers."""
    host = host or ThisHost()
    if compiled is None:
        compiled = planning.compile_request(request, source, read, host)
    compiled = planning.with_accounts(compiled, image_accounts, host)
    plan = planning.plan(compiled, target)
    # INVARIANT: nothing is created for a server whose `User` is not `uid:gid` numbers: a
    # name, or a uid alone, would let the image's files pick its uid, gid and groups
    if numeric(plan.server.body["User"]) is None:
        raise LokError(
            f"the user `{compiled.policy.user.value}` must be resolved against the image "
            "before a launch",
            hint="write the user as numbers, e.g. `user 1000:1000`",
        )
    return compiled, plan


def new_nonce() -> str:
    """A launch nonce: 128 random bits, in hex (`state.is_nonce`)."""
    return secrets.token_hex(16)


def _check_port(port: int) -> None:
    if (busy := port_busy(port)) is not None:
        raise LokError(
            f"port {port} on 127.0.0.1 is busy ({busy})",
            hint="choose another `--port`, or leave it out to get a free one",
        )


def port_busy(port: int) -> str | None:
    """Why the proxy could not listen on `port` of 127.0.0.1 now (None: it could, or the
    port is 0, any free one)."""
    if not port:
        return None
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            return error.strerror or str(error)
    return None


def _token(request: LaunchRequest) -> str | None:
    """The bearer token clients must send: the one asked for, or a random one; None only
    when the request asks for none."""
    if request.no_auth:
        return None
    # INVARIANT: the proxy requires a bearer token unless the request says otherwise
    if request.auth_token is None or request.auth_token == GENERATE:
        return secrets.token_urlsafe(32)
    return request.auth_token


# --- provision ---------------------------------------------------------------------------


def provision(prepared: Prepared, detached: bool) -> ServerState:
    """Reserve the name and create everything; on any failure or signal, remove it all.
    Raises `PolicyError` when a host path the plan mounts changed since the compile:
    before anything is created, or (everything undone) right before the server's
    container would be. Returns the state, which lists everything created."""
    engine, store, plan = prepared.engine, prepared.store, prepared.plan
    recheck = PathCheck.of(prepared.compiled)
    recheck()  # INVARIANT: nothing is created for a plan whose host paths moved
    state = new_state(
        prepared.request,
        plan,
        engine,
        store,
        source=prepared.source,
        detached=detached,
        token=prepared.token,
    )
    work = InProgress(engine, store, plan, state)
    reserved = False
    try:
        with interruptible():
            # a signal waits until the name is reserved and `reserved` says so: delivered
            # in between, it would leave the reservation behind with nobody to undo it
            with uninterrupted():
                with store.lock():
                    reserve(engine, store, state)  # a taken name raises, reserving nothing
                reserved = True
            _create(prepared, work, recheck)
    except BaseException:
        if reserved:
            with cleaning_up():
                undo(engine, store, work.state)
        raise
    return work.state


def _create(prepared: Prepared, work: InProgress, recheck: PathCheck) -> None:
    """Every object of the plan, in order, each recorded before the next."""
    with work.store.lock():
        work.write_files()
    work.write_record()
    if prepared.request.inline_profile is not None:
        work.keep_profile(prepared.request.inline_profile)
    work.create_networks()
    work.start_gate()
    server = fill_secrets(prepared.plan.server.body, os.environ)
    # INVARIANT: the server's mounts are judged again right before its create call
    recheck()
    work.create_server(server)


# --- hand-off ----------------------------------------------------------------------------


def serve_foreground(
    prepared: Prepared,
    state: ServerState,
    announce: Callable[[str], None],
    show: Callable[[str], None] | None = None,
) -> None:
    """Serve the provisioned server from a proxy in this process until SIGINT or SIGTERM
    (`announce` hears its URL once it is ready, `show` each line of the server's stderr),
    or until the server ends by itself; then remove everything it created. Raises
    `ServerExited`, with its exit code, when the server ended by itself."""
    engine, store, request = prepared.engine, prepared.store, prepared.request
    watch = Watch(engine, state, show or (lambda line: None))
    ended = None
    try:
        with interruptible(), watch.following():
            handoff.serve(
                engine,
                store,
                state,
                request.port,
                announce,
                token=prepared.token,
                restarts=request.restarts,
                body=_session_body(prepared),
                on_server_gone=watch.gone,
                on_stderr=watch.line,
            )
    except KeyboardInterrupt:
        pass
    finally:
        with cleaning_up():
            ended = watch.ended()
            teardown(engine, store, store.load(state.name) or state)
            forget(state.name)
    if ended is not None:
        raise ended


def start_detached(prepared: Prepared, state: ServerState, wait: float | None = None) -> str:
    """Hand the provisioned server to a detached proxy (it outlives this process) and
    return its base URL; with `wait`, only once the server serves (`readiness`), waiting
    at most that many seconds. On any failure everything is removed: the proxy's last log
    lines join the error's hint, or a `NotServing` error carries the server's last lines
    on stderr."""
    engine, store, request = prepared.engine, prepared.store, prepared.request
    body = _session_body(prepared)
    try:
        with interruptible():
            url = handoff.spawn(
                store,
                state,
                request.port,
                token=prepared.token,
                on_attached=starter(engine, state, body),
                restarts=request.restarts,
                body=body,
            )
            if wait is not None:
                wait_serving(engine, state, url, prepared.token, wait)
            return url
    except NotServing as error:
        error.with_tail(stderr_tail(engine, state))
        with cleaning_up():
            undo(engine, store, store.load(state.name) or state)
        raise
    except BaseException as error:
        tail = log_tail(state.log_path)
        with cleaning_up():
            undo(engine, store, store.load(state.name) or state)
        if isinstance(error, LokError) and tail:
            hint = f"{error.hint}; " if error.hint else ""
            raise LokError(error.message, hint=f"{hint}the proxy's log ends:\n{tail}") from error
        raise


def _session_body(prepared: Prepared) -> dict[str, Any] | None:
    """For a server of its own per client session: the server's payload with its secrets
    filled, what each session's container is created from; else None."""
    if not prepared.request.per_session:
        return None
    return fill_secrets(prepared.plan.server.body, os.environ)


def starter(
    engine: ContainerEngine, state: ServerState, body: dict[str, Any] | None = None
) -> Callable[[], None] | None:
    """What starts a detached stdio server's container once its proxy is attached to it
    (None when the proxy has nothing to wait for: an HTTP server, or per-session mode)."""
    if not state.container_id or state.transport != "stdio" or body is not None:
        return None
    container = state.container_id
    return lambda: engine.start(container)


# --- signals -----------------------------------------------------------------------------


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """While provisioning, SIGTERM interrupts like Ctrl-C, so cleanup runs for both.

    Only the main thread receives signals (and may set handlers): on another thread, e.g.
    a tool call of the MCP server (`mcp_server`), this does nothing and the caller's own
    `except` cleans up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def cleaning_up() -> Iterator[None]:
    """While cleaning up after a signal, a second SIGINT/SIGTERM forces exit (the next
    command reaps what is left). Off the main thread, as for `interruptible`, nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def force(signum: int, frame: FrameType | None) -> None:
        os._exit(1)

    previous: dict[int, Any] = {s: signal.signal(s, force) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = [
    "Prepared",
    "cleaning_up",
    "interruptible",
    "new_nonce",
    "plan_launch",
    "prepare",
    "provision",
    "serve_foreground",
    "start_detached",
    "starter",
]
