"""Creating what a plan names, one object at a time, each recorded in the server's state
before the next: the name's reservation (the state, with the launch's nonce, first), the
plan's files and folders, its record for `audit`, networks, the gate (waiting until it
serves), the server's container.

The order of these steps, and the second look at the host paths between them, is the
launch pipeline's (`launch.provision`); undoing them is `teardown`'s, by the ids and the
nonce recorded here. An object created just before a crash, its id not recorded yet, is
found by the nonce it carries (the `mcp-lok-launch` label). Payloads are sent by the
engine adapter unchanged; only secrets are filled in (`fill_secrets`).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp_lok.policy import LaunchPlan, Transport

from .audit import record
from .engine import ContainerEngine
from .errors import LokError
from .request import LaunchRequest
from .state import (
    PRIVATE_DIR,
    PRIVATE_FILE,
    NetworkRef,
    Phase,
    ServerState,
    Store,
    alive,
    is_nonce,
    process_start,
    write_atomic,
)

log = logging.getLogger(__name__)

INGRESS_WAIT = 20.0  # seconds for the gate's ingress socket to appear
_SECRET = re.compile(r"\$\{secret:(env|file):([^}]+)\}")


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


# --- the steps ---------------------------------------------------------------------------


def new_state(
    request: LaunchRequest,
    plan: LaunchPlan,
    engine: ContainerEngine,
    store: Store,
    *,
    source: str,
    detached: bool,
    token: str | None = None,
) -> ServerState:
    """The state of a launch about to begin: nothing created yet, the launch's nonce
    recorded. `source` is the policy SOURCE as given (or where an inline profile is
    kept); `token` the proxy's bearer token (None: none required), kept for `inspect`."""
    gate = plan.gate
    transport = request.server_transport
    limits = request.session_limits
    return ServerState(
        name=plan.name,
        engine=engine.kind.value,
        engine_url=engine.url,
        transport=transport.value,
        image=request.image,
        profile=source,
        policy_digest=plan.digest,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        log_path=str(store.log_path(plan.name)),
        container_name=plan.server.name,
        detached=detached,
        launcher_pid=os.getpid(),
        launcher_start=process_start(os.getpid()),
        target_port=request.target_port if transport.is_http else None,
        gate_name=gate.container.name if gate else None,
        launch=_nonce_of(plan),
        token=token,
        session_mode=request.session_mode if limits else None,
        max_sessions=limits[0] if limits else None,
        session_idle_timeout=limits[1] if limits else None,
        request=request.record(),
    )


def _nonce_of(plan: LaunchPlan) -> str:
    # INVARIANT: a launch has a nonce of its own; `policy compile`'s placeholder would make
    # every object created from a printed plan look like this launch's
    if not is_nonce(plan.launch):
        raise LokError("the plan carries no launch nonce", hint="this is a bug in mcp-lok")
    return plan.launch


def reserve(engine: ContainerEngine, store: Store, state: ServerState) -> None:
    """Claim the name: refuse one in use, then record the state (with the launch's nonce)
    before creating anything. Containers that only carry mcp-lok's labels for this name
    are not mcp-lok's: they neither block the name nor are touched."""
    name = state.name
    if (existing := store.load(name)) is not None:
        raise LokError(f"a server named `{name}` already exists", hint=_taken_hint(existing))
    for container in (state.container_name, state.gate_name):
        if container and engine.inspect(container) is not None:
            raise LokError(
                f"a container named `{container}` already exists on {engine.kind.value}",
                hint="choose another `--name`, or remove that container yourself",
            )
    store.save(state)
    store.make_log(name)


def _taken_hint(existing: ServerState) -> str:
    """What to do about a name a server has: bring it back when it is not served."""
    name = existing.name
    other = f"or choose another `--name`, or remove it with `mcp-lok rm {name}`"
    served = existing.phase != Phase.STOPPED.value and alive(
        existing.proxy_pid, existing.proxy_start
    )
    if existing.phase == Phase.STARTING.value or served:
        return f"it runs: choose another `--name`, or stop it first with `mcp-lok stop {name}`"
    return f"it is not running: bring it back with `mcp-lok restart {name}`, {other}"


class InProgress:
    """One launch's objects as they are created; `state` always lists what exists so far,
    saved before the next step."""

    def __init__(
        self, engine: ContainerEngine, store: Store, plan: LaunchPlan, state: ServerState
    ) -> None:
        self.engine, self.store, self.plan, self.state = engine, store, plan, state

    def record(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)
        self.store.save(self.state)

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

    def keep_profile(self, text: str) -> None:
        """Write a profile given inline where the request's SOURCE names it (the server's
        folder), so that `list` names a real file, `policy explain` can read it again,
        and `rm` removes it with the rest."""
        path = Path(self.store.layout(self.state.name).inline_profile)
        self.record(files=[*self.state.files, str(path)])
        write_atomic(path, text, PRIVATE_FILE)

    def create_networks(self) -> None:
        for body in self.plan.networks:
            network_id = self.engine.create_network(body)
            self.record(networks=[*self.state.networks, NetworkRef(body["Name"], network_id)])

    def start_gate(self) -> None:
        """Create and start the gate, and wait until it serves (nothing without a gate)."""
        if self.plan.gate is None:
            return
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

    def create_server(self, body: Mapping[str, Any]) -> None:
        """Create the server's container from `body` (the plan's, secrets filled); start
        an HTTP server now (a stdio server is started once its proxy is attached)."""
        self.record(container_id=self.engine.create_container(self.plan.server.name, body))
        if self.state.transport != Transport.STDIO.value:
            self.engine.start(self.state.container_id or "")


def wait_for_socket(
    engine: ContainerEngine,
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
    "INGRESS_WAIT",
    "InProgress",
    "fill_secrets",
    "new_state",
    "reserve",
    "wait_for_socket",
]
