"""Launching a server, apart from the command line: what `run`, `start` and the MCP
server's `run_server` tool share.

`prepare` checks everything before anything is created (name, target, policy, images,
port); `provision` looks at the host paths again (`recheck`), reserves the name and
creates the containers, undoing all of it on any failure or signal; `starter` is what
starts a detached stdio server once its proxy is attached. Engine modules are imported
inside the functions, as in `commands.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from mcp_lok.policy import (
    Compiled,
    LaunchPlan,
    PolicyError,
    Target,
    Transport,
    default_name,
    target_problems,
)
from mcp_lok.policy.layout import RESERVED, RUNTIME_ROOT
from mcp_lok.policy.loader import Reader, read_text
from mcp_lok.policy.lower import LAUNCH_PLACEHOLDER

if TYPE_CHECKING:
    from .engine import EngineClient
    from .lifecycle import Request
    from .state import ServerState, Store


class Prepared(NamedTuple):
    """A launch that passed every check, not yet begun."""

    engine: EngineClient
    store: Store
    request: Request
    plan: LaunchPlan
    compiled: Compiled
    target: Target


def prepare(
    opts: dict[str, Any],
    read: Reader = read_text,
    on_warnings: Callable[[Compiled], None] | None = None,
) -> Prepared:
    """What `run` and `start` (and the MCP server's `run_server` tool) check before creating
    anything: the name, the target, the policy (read through `read`), the images and the
    port. Raises `PolicyError` when the policy or the target is rejected, `BadParameter` for
    a reserved name, `LokError` for the engine, an image or the port."""
    from . import accounts
    from .engine import discover
    from .lifecycle import Request, compile_request
    from .state import Store, new_nonce
    from .teardown import reap

    name = opts["name"] or default_name(opts["image"])
    if name in RESERVED:
        raise click.BadParameter(
            f"`{name}` is reserved for mcp-lok's own files", param_hint="--name"
        )
    engine, store = discover(opts["engine_choice"]), Store()
    reap(engine, store)
    # the launch's nonce is a lowering input, like the name: the plan sent is the plan
    # recorded, and `policy compile` prints its placeholder where this launch puts it
    target = _target(opts, name, engine.kind, str(store.root), new_nonce())
    if problems := target_problems(target):
        raise PolicyError(problems)
    request = Request(
        image=opts["image"],
        name=name,
        transport=Transport(opts["transport"]),
        profile=opts["profile"],
        target_port=opts["target_port"],
        port=opts["port"],
        env=opts["env"],
        args=opts["args"],
    )
    plan, compiled = compile_request(
        request, target, read, accounts=lambda image: accounts.read(engine, image, store.root)
    )
    if compiled.warnings and on_warnings is not None:
        on_warnings(compiled)
    engine.require_image(request.image)
    if plan.gate is not None:
        engine.require_image(plan.gate.container.body["Image"])
    _check_port(request.port)
    return Prepared(engine, store, request, plan, compiled, target)


def _target(
    opts: dict[str, Any],
    name: str,
    engine: Any = None,
    root: str = RUNTIME_ROOT,
    launch: str = LAUNCH_PLACEHOLDER,
) -> Target:
    from mcp_lok.policy import Engine

    return Target(
        image=opts["image"],
        name=name,
        engine=engine or Engine.DOCKER,
        transport=Transport(opts["transport"]),
        args=tuple(opts["args"]),
        port=opts["target_port"],
        runtime_dir=root,
        launch=launch,
    )


def _check_port(port: int) -> None:
    import socket

    from .errors import LokError

    if not port:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise LokError(
                f"port {port} on 127.0.0.1 is busy ({error.strerror})",
                hint="choose another `--port`, or leave it out to get a free one",
            ) from None


def provision(prepared: Prepared, detached: bool, token: str | None = None) -> ServerState:
    """Reserve the name and create everything; on any failure or Ctrl-C, remove it all.
    Raises `PolicyError` when a host path the plan mounts changed since the compile,
    before anything is created, or (everything undone) right before the server's
    container would be. The proxy's bearer `token` (None: `--no-auth`) is kept in the
    state, for `inspect`."""
    import os

    from .engine import uninterrupted
    from .handoff import cleaning_up, interruptible
    from .lifecycle import Launch, new_state, reserve
    from .recheck import PathCheck
    from .teardown import undo

    engine, store, request, plan = prepared.engine, prepared.store, prepared.request, prepared.plan
    recheck = PathCheck.of(prepared.compiled)
    recheck()  # INVARIANT: nothing is created for a plan whose host paths moved
    state = new_state(request, plan, engine, store, detached, token)
    launch = Launch(engine, store, plan, state, recheck)
    reserved = False
    try:
        with interruptible():
            # a signal waits until the name is reserved and `reserved` says so: delivered
            # in between, it would leave the reservation behind with nobody to undo it
            with uninterrupted():
                with store.lock():
                    reserve(engine, store, state)  # a taken name raises, reserving nothing
                reserved = True
            launch.provision(os.environ)
    except BaseException:
        if reserved:
            with cleaning_up():
                undo(engine, store, launch.state)
        raise
    return launch.state


def starter(
    engine: EngineClient, state: ServerState, body: dict[str, Any] | None = None
) -> Callable[[], None] | None:
    """What starts a detached stdio server's container once its proxy is attached to it
    (None when the proxy has nothing to wait for: an HTTP server, or per-session mode)."""
    if not state.container_id or state.transport != "stdio" or body is not None:
        return None
    container = state.container_id
    return lambda: engine.start(container)
