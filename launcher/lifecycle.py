"""A server's life on the engine: provision it from its plan, tear it down, reap crashes.

    compile → check the images → look at the host paths again → reserve the name (state
    first) → write the plan's files → create networks → create and start the gate, wait for
    its ingress socket → look at the host paths again → create the server (and start it,
    for HTTP transports; a stdio server is started by `handoff` once the proxy is attached)

Everything created is recorded in the server's state before the next step, so `undo`, a
later `rm`, or the next command's `reap` (all in `teardown`) can remove it by id. The
state records the launch's nonce before the first create, and every object the launch
creates carries it (the `mcp-lok-launch` label): an object created just before a crash,
its id not recorded yet, is found by it. Handing the server to the proxy is `handoff`'s
job; payloads are sent by `engine`, unchanged.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp_lok.policy import (
    Compiled,
    Host,
    LaunchPlan,
    Target,
    Transport,
    compile_policy,
    env_rules,
    lower,
    resolve_user,
)
from mcp_lok.policy.baseline import DEFAULT_TARGET_PORT
from mcp_lok.policy.identity import Accounts, needs_image, numeric
from mcp_lok.policy.loader import Reader, read_text

from .audit import record
from .engine import EngineClient
from .errors import LokError
from .host import ThisHost
from .state import (
    PRIVATE_DIR,
    NetworkRef,
    ServerState,
    Store,
    is_nonce,
    process_start,
    write_atomic,
)

log = logging.getLogger(__name__)

INGRESS_WAIT = 20.0  # seconds for the gate's ingress socket to appear
_SECRET = re.compile(r"\$\{secret:(env|file):([^}]+)\}")


@dataclass(frozen=True)
class Request:
    """What the user asked to run (the command line of `run` and `start`)."""

    image: str
    name: str
    transport: Transport
    profile: str = "stdio"
    target_port: int = DEFAULT_TARGET_PORT
    port: int = 0
    env: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()


# --- compile ---------------------------------------------------------------------------


def compile_request(
    request: Request,
    target: Target,
    read: Reader = read_text,
    host: Host | None = None,
    accounts: Callable[[str], Accounts] | None = None,
) -> tuple[LaunchPlan, Compiled]:
    """The policy chain for a launch. `-e KEY=VALUE` become `Env` rules with an argument
    origin, appended after the source's rules (so they override its values) and checked
    like any rule; without them this is exactly `policy compile`'s chain. `read` reads
    the source's files (the MCP server's tools serve an inline profile through it); grants
    are judged on `host`, this machine unless a caller says otherwise. A user only the
    image can turn into numbers is resolved against `accounts(image)` (the image's
    /etc/passwd and /etc/group, `accounts.read`), which is asked only then."""
    host = host or ThisHost()
    compiled = compile_policy(request.profile, read, extra=env_rules(request.env), host=host)
    if needs_image(compiled.policy.user) and accounts is not None:
        compiled = resolve_user(compiled, accounts(request.image), host=host)
    plan = lower(compiled.policy, target)
    # INVARIANT: nothing is created for a server whose `User` is not `uid:gid` numbers: a
    # name, or a uid alone, would let the image's files pick its uid, gid and groups
    if numeric(plan.server.body["User"]) is None:
        raise LokError(
            f"the user `{compiled.policy.user.value}` must be resolved against the image "
            "before a launch",
            hint="write the user as numbers, e.g. `user 1000:1000`",
        )
    return plan, compiled


def fill_secrets(body: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The body with `${secret:env:NAME}` / `${secret:file:PATH}` placeholders in `Env`
    replaced by their values: the only difference from the printed plan. Never logged."""

    def value(match: re.Match[str]) -> str:
        source, ref = match.group(1), match.group(2)
        if source == "env":
            if ref not in environ:
                raise LokError(
                    f"the secret `{ref}` is not set in mcp-lok's environment",
                    hint=f"export {ref}=… before running mcp-lok",
                )
            return environ[ref]
        try:
            return Path(ref).read_text(encoding="utf-8").rstrip("\n")
        except OSError as error:
            raise LokError(f"cannot read the secret file `{ref}`: {error.strerror}") from None

    filled = dict(body)
    filled["Env"] = [_SECRET.sub(value, entry) for entry in body.get("Env", [])]
    return filled


# --- launch ----------------------------------------------------------------------------


def new_state(
    request: Request,
    plan: LaunchPlan,
    engine: EngineClient,
    store: Store,
    detached: bool,
    token: str | None = None,
) -> ServerState:
    gate = plan.gate
    return ServerState(
        name=plan.name,
        engine=engine.kind.value,
        engine_url=engine.url,
        transport=request.transport.value,
        image=request.image,
        profile=request.profile,
        policy_digest=plan.digest,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        log_path=str(store.log_path(plan.name)),
        container_name=plan.server.name,
        detached=detached,
        launcher_pid=os.getpid(),
        launcher_start=process_start(os.getpid()),
        target_port=request.target_port if request.transport.is_http else None,
        gate_name=gate.container.name if gate else None,
        launch=_nonce_of(plan),
        token=token,
    )


def _nonce_of(plan: LaunchPlan) -> str:
    # INVARIANT: a launch has a nonce of its own; `policy compile`'s placeholder would make
    # every object created from a printed plan look like this launch's
    if not is_nonce(plan.launch):
        raise LokError("the plan carries no launch nonce", hint="this is a bug in mcp-lok")
    return plan.launch


def reserve(engine: EngineClient, store: Store, state: ServerState) -> None:
    """Claim the name: refuse one in use, then record the state (with the launch's nonce)
    before creating anything. Containers that only carry mcp-lok's labels for this name
    are not mcp-lok's: they neither block the name nor are touched."""
    name = state.name
    hint = f"choose another `--name`, or remove the old one with `mcp-lok rm {name}`"
    if store.load(name) is not None:
        raise LokError(f"a server named `{name}` already exists", hint=hint)
    for container in (state.container_name, state.gate_name):
        if container and engine.inspect(container) is not None:
            raise LokError(
                f"a container named `{container}` already exists on {engine.kind.value}",
                hint="choose another `--name`, or remove that container yourself",
            )
    store.save(state)
    store.make_log(name)


class Launch:
    """One launch in progress; `state` always lists what exists so far. `recheck` looks
    at the plan's host paths again (`recheck.PathCheck`), raising when one changed."""

    def __init__(
        self,
        engine: EngineClient,
        store: Store,
        plan: LaunchPlan,
        state: ServerState,
        recheck: Callable[[], None],
    ):
        self.engine, self.store, self.plan, self.state = engine, store, plan, state
        self.recheck = recheck

    def record(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)
        self.store.save(self.state)

    def provision(self, environ: Mapping[str, str]) -> None:
        with self.store.lock():
            self.write_files()
        self.write_record()
        for body in self.plan.networks:
            network_id = self.engine.create_network(body)
            self.record(networks=[*self.state.networks, NetworkRef(body["Name"], network_id)])
        if self.plan.gate is not None:
            self.start_gate()
        server = fill_secrets(self.plan.server.body, environ)
        # INVARIANT: the server's mounts are judged again right before its create call
        self.recheck()
        self.record(container_id=self.engine.create_container(self.plan.server.name, server))
        if self.state.transport != Transport.STDIO.value:
            self.engine.start(self.state.container_id or "")

    def write_files(self) -> None:
        """Make the plan's folders and write its files (under the store's lock), with the
        plan's modes and owners. A file that exists and that no other server's state lists
        is someone else's: it is overwritten with the same content-addressed bytes, but
        `kept` when this server is removed."""
        ours = {f for s in self.store.all() if s.name != self.state.name for f in s.files}
        for planned in self.plan.files:  # sorted by path: a folder before what it holds
            path = Path(planned.path)
            self.make_dirs(path.parent)
            if planned.directory:
                self.make_dir(path, planned.mode)
            else:
                foreign = path.exists() and str(path) not in ours
                kept = [*self.state.kept, str(path)] if foreign else self.state.kept
                self.record(files=[*self.state.files, str(path)], kept=kept)
                write_atomic(path, planned.content, planned.mode)
            if planned.owner is not None:
                uid, _, gid = planned.owner.partition(":")
                os.chown(path, int(uid), int(gid or uid))

    def write_record(self) -> None:
        """Keep the plan and its trace next to the state, for `audit` to compare with."""
        path = Path(self.store.layout(self.state.name).record)
        self.record(files=[*self.state.files, str(path)])
        write_atomic(path, record.render(self.plan), record.RECORD_MODE)

    def make_dirs(self, folder: Path) -> None:
        """The folders on the way to a planned file (the runtime root, the server's own
        folder, the shared `seccomp/`)."""
        # INVARIANT: every folder on the way is 0700, whatever the umask. A file a container
        # reads through a bind mount (resolv.conf, the gate's config, the mask folder) or
        # the engine reads (Podman's seccomp profiles) keeps the plan's readable mode, but
        # sits inside a 0700 folder: no other local user can reach it, and a bind mount
        # does not look at the folders above its source.
        if folder.is_dir():
            return
        made = self.store.private(folder)
        self.record(dirs=[*self.state.dirs, *map(str, made)])

    def make_dir(self, folder: Path, mode: int) -> None:
        """A folder the plan names, with the plan's mode (the gate's 0700, the mask's)."""
        if not folder.exists():
            folder.mkdir(mode=mode & PRIVATE_DIR)
            self.record(dirs=[*self.state.dirs, str(folder)])
        # INVARIANT: a folder gets the plan's mode whatever the umask (the gate's is 0700)
        folder.chmod(mode)

    def start_gate(self) -> None:
        assert self.plan.gate is not None
        gate = self.plan.gate.container
        self.record(gate_id=self.engine.create_container(gate.name, gate.body))
        self.engine.start(self.state.gate_id or "")
        layout = self.store.layout(self.state.name)
        if self.plan.gate.config.egress is not None:
            # the socket is made by the host-side relay when it serves; recorded so that
            # `rm` removes it even when that process died without cleaning up
            ready = Path(layout.ready)
            self.record(files=[*self.state.files, layout.egress_socket, str(ready)])
            # the server starts only once the gate's DNS, listeners and proxy are up
            wait_for_socket(
                self.engine, self.state.gate_id or "", ready, INGRESS_WAIT, "ready marker"
            )
        if self.plan.gate.config.ingress is not None:
            socket = Path(layout.ingress_socket)
            self.record(files=[*self.state.files, str(socket)])
            wait_for_socket(self.engine, self.state.gate_id or "", socket, INGRESS_WAIT)


def wait_for_socket(
    engine: EngineClient,
    gate_id: str,
    socket: Path,
    timeout: float,
    what: str = "ingress socket",
) -> None:
    """Wait until the gate has made `socket` (its ingress socket, or its ready marker)."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while not socket.exists():
        seen = engine.inspect(gate_id)
        if seen is None or not seen.get("State", {}).get("Running"):
            tail = b"".join(engine.logs(gate_id, tail=20)).decode(errors="replace").strip()
            raise LokError(
                f"the gate stopped before it was ready: {tail or 'no output'}",
                hint="see `mcp-lok policy compile` for its config",
            )
        if time.monotonic() > deadline:
            raise LokError(
                f"the gate's {what} did not appear in {timeout:.0f}s",
                hint=f"check the gate's logs: `{engine.kind.value} logs {gate_id[:12]}`",
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


__all__ = [
    "Launch",
    "Request",
    "compile_request",
    "fill_secrets",
    "new_state",
    "reserve",
    "wait_for_socket",
]
