"""A server's life on the engine: provision it from its plan, tear it down, reap crashes.

    compile → check the images → look at the host paths again → reserve the name (state
    first) → write the plan's files → create networks → create and start the gate, wait for
    its ingress socket → look at the host paths again → create the server (and start it,
    for HTTP transports; a stdio server is started by `handoff` once the proxy is attached)

Everything created is recorded in the server's state before the next step, so `undo`, a
later `rm`, or the next command's `reap` can remove it by id. Removal touches only ids
recorded in state and objects carrying this server's `mcp-lok-name` label. Handing the
server to the proxy is `handoff`'s job; payloads are sent by `engine`, unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Mapping, Sequence
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
from mcp_lok.policy.source import Reader, read_text

from .audit import record
from .engine import EngineClient, EngineError
from .errors import LokError
from .host import ThisHost
from .state import NetworkRef, Phase, ServerState, Store, alive, process_start, write_atomic

log = logging.getLogger(__name__)

INGRESS_WAIT = 20.0  # seconds for the gate's ingress socket to appear
PROXY_STOP_WAIT = 5.0  # seconds between SIGTERM and SIGKILL for a proxy
CONTAINER_STOP_WAIT = 3  # seconds the engine gives a container between SIGTERM and SIGKILL
ORPHAN_GRACE = 30.0  # seconds: an unrecorded container younger than this may be mid-launch
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
    request: Request, plan: LaunchPlan, engine: EngineClient, store: Store, detached: bool
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
    )


def reserve(engine: EngineClient, store: Store, state: ServerState) -> None:
    """Claim the name: refuse one in use, then record the state before creating anything."""
    name = state.name
    hint = f"choose another `--name`, or remove the old one with `mcp-lok rm {name}`"
    if store.load(name) is not None:
        raise LokError(f"a server named `{name}` already exists", hint=hint)
    if engine.containers({"mcp-lok": "true", "mcp-lok-name": name}):
        raise LokError(
            f"containers of a server named `{name}` exist on {engine.kind.value}", hint=hint
        )
    for container in (state.container_name, state.gate_name):
        if container and engine.inspect(container) is not None:
            raise LokError(
                f"a container named `{container}` already exists on {engine.kind.value}",
                hint="choose another `--name`, or remove that container yourself",
            )
    store.save(state)


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
        path = self.store.folder(self.state.name) / record.RECORD_FILE
        self.record(files=[*self.state.files, str(path)])
        write_atomic(path, record.render(self.plan), record.RECORD_MODE)

    def make_dirs(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for made in reversed(missing):
            self.make_dir(made, 0o755)

    def make_dir(self, folder: Path, mode: int) -> None:
        if not folder.exists():
            folder.mkdir(mode=mode)
            self.record(dirs=[*self.state.dirs, str(folder)])
        # INVARIANT: a folder gets the plan's mode whatever the umask (the gate's is 0700)
        folder.chmod(mode)

    def start_gate(self) -> None:
        assert self.plan.gate is not None
        gate = self.plan.gate.container
        self.record(gate_id=self.engine.create_container(gate.name, gate.body))
        self.engine.start(self.state.gate_id or "")
        if self.plan.gate.config.get("egress"):
            folder = self.store.folder(self.state.name) / "gate"
            # the socket is made by the host-side relay when it serves; recorded so that
            # `rm` removes it even when that process died without cleaning up
            ready = folder / "ready"
            self.record(files=[*self.state.files, str(folder / "egress.sock"), str(ready)])
            # the server starts only once the gate's DNS, listeners and proxy are up
            wait_for_socket(
                self.engine, self.state.gate_id or "", ready, INGRESS_WAIT, "ready marker"
            )
        if self.plan.gate.config.get("ingress"):
            socket = self.store.folder(self.state.name) / "gate" / "ingress.sock"
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


# --- teardown --------------------------------------------------------------------------


def stop_process(pid: int | None, start: int | None, timeout: float = PROXY_STOP_WAIT) -> None:
    """SIGTERM, then SIGKILL after `timeout`; only when `pid` is still the recorded process."""
    if pid is None or pid == os.getpid() or not alive(pid, start):
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while alive(pid, start) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not alive(pid, start):
            return


def stop_containers(engine: EngineClient, state: ServerState) -> None:
    for container in state.ids:
        engine.stop(container, timeout=CONTAINER_STOP_WAIT)


def teardown(engine: EngineClient | None, store: Store, state: ServerState) -> None:
    """Remove everything `state` records, and this server's labelled leftovers, then the
    state itself. Raises `LokError` (keeping the state, so `rm` can be retried) when the
    engine cannot remove something."""
    stop_process(state.proxy_pid, state.proxy_start)
    if state.launcher_pid != os.getpid():
        stop_process(state.launcher_pid, state.launcher_start)
    if engine is not None:
        remove_engine_objects(engine, state.name, state.ids, [n.id for n in state.networks])
    with store.lock():
        remove_files(store, state)
        store.remove(state.name)


def remove_engine_objects(
    engine: EngineClient, name: str, ids: Sequence[str], networks: Sequence[str]
) -> None:
    """Remove the containers `ids` and the `networks`, and whatever else carries this
    server's `mcp-lok-name` label (a container created just before a crash)."""
    labels = {"mcp-lok": "true", "mcp-lok-name": name}
    containers = list(ids) + [c["Id"] for c in engine.containers(labels) if c["Id"] not in ids]
    for container in containers:  # the server first: it lives in the gate's namespace
        engine.stop(container, timeout=CONTAINER_STOP_WAIT)
        engine.remove_container(container)
    found = list(networks) + [n["Id"] for n in engine.networks(labels) if n["Id"] not in networks]
    for network in found:
        engine.remove_network(network)


def remove_files(store: Store, state: ServerState) -> None:
    """The files and folders this server's launch wrote. A file outside the server's own
    folder (Podman's seccomp profiles, shared by content) stays when it was there before
    the launch, or while another server uses it; folders outside it always stay."""
    own = store.folder(state.name)
    others = {f for s in store.all() if s.name != state.name for f in s.files}
    for path in map(Path, state.files):
        if own not in path.parents and (str(path) in others or str(path) in state.kept):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    # shared folders (`seccomp/`, `empty/`) stay: another launch may be about to use them
    mine = [p for p in map(Path, state.dirs) if p == own or own in p.parents]
    for folder in sorted(mine, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):  # only when empty
            folder.rmdir()


def undo(engine: EngineClient, store: Store, state: ServerState) -> None:
    """Remove a failed launch, logging (not raising) what could not be removed."""
    try:
        teardown(engine, store, state)
    except LokError as error:
        log.error("could not remove everything `%s` created: %s", state.name, error.message)


# --- reaping ---------------------------------------------------------------------------


def reap(engine: EngineClient, store: Store, now: float | None = None) -> list[str]:
    """Remove what crashed commands left on `engine`: launches whose launcher died
    half-way, and stopped containers (and their networks) labelled as mcp-lok's that no
    state records (e.g. after a reboot emptied the runtime dir). Returns the names reaped."""
    reaped = []
    for state in store.all():
        launching = state.phase == Phase.STARTING.value
        if (
            launching
            and state.engine_url == engine.url
            and not alive(state.launcher_pid, state.launcher_start)
        ):
            log.warning("removing `%s`: its launch did not finish", state.name)
            undo(engine, store, state)
            reaped.append(state.name)
    return sorted({*reaped, *_reap_unrecorded(engine, store, now)})


def _reap_unrecorded(engine: EngineClient, store: Store, now: float | None) -> list[str]:
    moment = time.time() if now is None else now
    containers = engine.containers({"mcp-lok": "true"})
    networks = engine.networks({"mcp-lok": "true"})
    # INVARIANT: state is read after the engine is listed. A launch writes its state
    # before it creates anything, so whatever the lists hold that a launch in progress
    # created is already recorded; read earlier, a concurrent launch would look orphaned.
    known = set(store.names())
    reaped = []
    for container in containers:
        name = container.get("Labels", {}).get("mcp-lok-name", "")
        old = moment - float(container.get("Created", moment)) > ORPHAN_GRACE
        # INVARIANT: only stopped containers carrying mcp-lok's labels that no state
        # records, removed by their own id. A running one is never reaped: without state it
        # is someone's own (e.g. created from `policy compile` output), and a launch always
        # writes state before it creates anything.
        if name not in known and old and container.get("State") != "running":
            log.warning("removing the orphaned container %s of `%s`", container["Id"][:12], name)
            with contextlib.suppress(EngineError):
                engine.remove_container(container["Id"])
            reaped.append(name)
    in_use = {c.get("Labels", {}).get("mcp-lok-name") for c in containers}
    for network in networks:
        name = network.get("Labels", {}).get("mcp-lok-name", "")
        if name not in known and (name not in in_use or name in reaped):
            with contextlib.suppress(EngineError):
                engine.remove_network(network["Id"])
    return reaped


__all__ = [
    "Launch",
    "Request",
    "compile_request",
    "fill_secrets",
    "new_state",
    "reap",
    "remove_engine_objects",
    "reserve",
    "stop_containers",
    "stop_process",
    "teardown",
    "undo",
]
