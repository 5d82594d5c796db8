"""Gather what `audit` compares: each server's launch record and state, and what the engine
reports for its containers and networks (through `engine`), plus their live cgroup limits
and the ids the kernel holds for their processes (`processes`).

Finds, besides the servers a state records, every container carrying the `mcp-lok` label
that no launch created (neither an id a state records nor a recorded launch's nonce) —
started by hand with the labels, or recreated under a server's name: not created by
mcp-lok — and where each mount's source leads on the host now (`ThisHost`). The
comparing and checking are `normalise`/`drift`/`cis`/`score`'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mcp_lok.launcher.engine import ContainerEngine
from mcp_lok.launcher.host import ThisHost
from mcp_lok.launcher.state import Phase, ServerState, Store, created_by
from mcp_lok.policy.host import Host

from . import cgroup, cis, drift, inside, mounts, normalise, proc, processes, score
from .record import Record, load
from .report import ContainerAudit, Note, ServerAudit

LABEL = {"mcp-lok": "true"}


def audit(
    engine: ContainerEngine, store: Store, names: Iterable[str] | None, host: Host | None = None
) -> list[ServerAudit]:
    """Audit the servers `names` (every server on this engine when None): recorded ones by
    their state, then the labelled containers no state records. Mounts are judged by where
    their sources lead on `host` (this machine unless a caller says otherwise), the ids of
    every process as the compiler judges a policy's user."""
    host = host or ThisHost()
    wanted = None if names is None else set(names)
    groups = host.privileged_groups()  # judged as the compiler judges a policy's user
    labelled = engine.containers(LABEL)
    states = [
        s
        for s in store.all()
        if s.engine_url == engine.url and (wanted is None or s.name in wanted)
    ]
    found = [_recorded(engine, store, s, host, groups) for s in states]
    # INVARIANT: state is read after the engine is listed (as `teardown.look_alikes`
    # does): a launch records its state and nonce before it creates anything, so a
    # container listed above that a launch created is recorded by now, by id or by nonce
    everyone = store.all()
    known = {c.id for a in found for c in a.containers if c.id}  # audited as replaced
    for container in labelled:
        name = (container.get("Labels") or {}).get("mcp-lok-name", "")
        if container["Id"] in known or created_by(container, everyone) is not None:
            continue
        if wanted is not None and name not in wanted:
            continue
        found.append(_unrecorded(engine, store, container["Id"], name, host, groups))
    return found


def _recorded(
    engine: ContainerEngine, store: Store, state: ServerState, host: Host, groups: Mapping[int, str]
) -> ServerAudit:
    kind = engine.kind.value
    result = ServerAudit(state.name, kind, recorded=True)
    if state.phase == Phase.STARTING.value:  # its containers may not exist yet
        result.notes.append(Note("a launch is in progress; audit it once it is up", drift=False))
        return result
    try:
        record = load(Path(store.layout(state.name).record))
    except (ValueError, KeyError) as error:
        record = None
        result.notes.append(Note(f"the launch record is damaged: {error}", drift=True))
    if record is None:
        result.notes.append(
            Note(
                "no launch record: launched by an mcp-lok without `audit`, or the record "
                "was removed; only the benchmark checks apply",
                hint=f"relaunch it: `mcp-lok rm {state.name}`, then start it again as before",
                drift=False,
            )
        )
    if record is not None and record.plan.get("policy_digest") != state.policy_digest:
        result.notes.append(Note("the launch record does not belong to this launch"))
    gate = _container(engine, result, "gate", state.gate_id, state.gate_name)
    names = {gate[0]: state.gate_name or ""} if gate else {}
    server = _container(engine, result, "server", state.container_id, state.container_name)
    if server is not None:
        view = _view(engine, server[1], names)
        joined = list((gate[1].get("NetworkSettings") or {}).get("Networks") or {}) if gate else []
        egress = bool(record and record.egress)
        result.rows = score.rows(
            view,
            kind,
            egress=egress,
            joined=joined,
            runtime_dir=str(store.root),
            paths=mounts.where(view, host),
            groups=groups,
            processes=processes.read(_pid(server[1])),
        )
    for role, seen in (("server", server), ("gate", gate)):
        if seen is not None:
            _judge(engine, result, role, seen, record, names, store, host)
            body = record.body(role) if record else None
            user = None if body is None else str(body.get("User", ""))
            found = processes.read(_pid(seen[1]))
            result.notes += processes.notes(found, user, groups, role)
    if record is not None:
        result.compared = True
        _networks(engine, result, record, state)
        _files(result, record)
        hint = f"find out who changed it; relaunch `{state.name}` only once it is right"
        result.notes += [Note(m, hint) for m in mounts.changed(record, str(store.root), host)]
    return result


def _container(
    engine: ContainerEngine, result: ServerAudit, role: str, cid: str | None, name: str | None
) -> tuple[str, dict[str, Any]] | None:
    """The container launched as `cid`, or what now carries its name (then noted)."""
    if not cid and not name:
        return None
    seen = engine.inspect(cid) if cid else None
    if seen is None and name:
        seen = engine.inspect(name)
        if seen is not None:
            result.notes.append(
                Note(
                    f"the {role} container `{name}` was replaced: its id is "
                    f"{seen['Id'][:12]}, mcp-lok launched {(cid or 'none')[:12]}",
                    hint=f"remove it and relaunch: `mcp-lok rm --force {result.name}`",
                )
            )
    if seen is None:
        result.notes.append(Note(f"the {role} container `{name or cid}` is gone"))
        return None
    return str(seen["Id"]), seen


def _view(
    engine: ContainerEngine, inspect: Mapping[str, Any], names: Mapping[str, str]
) -> normalise.View:
    config = inspect.get("Config") or {}
    image = engine.image_config(str(inspect.get("Image") or config.get("Image", "")))
    return normalise.inspect_view(
        inspect, engine.kind.value, image=image, names=names, live=cgroup.live(_pid(inspect))
    )


def _pid(inspect: Mapping[str, Any]) -> int:
    """The host pid of the container's first process (0 when it is not running)."""
    return int((inspect.get("State") or {}).get("Pid") or 0)


def _judge(
    engine: ContainerEngine,
    result: ServerAudit,
    role: str,
    seen: tuple[str, dict[str, Any]],
    record: Record | None,
    names: Mapping[str, str],
    store: Store,
    host: Host,
) -> None:
    cid, inspect = seen
    observed = _view(engine, inspect, names)
    audit = ContainerAudit(role, str(inspect.get("Name", "")).lstrip("/"), cid)
    body = record.body(role) if record else None
    if body is not None and record is not None:
        expected = normalise.plan_view(body, engine.kind.value)
        table = drift.origins(body, record.trace.get(role, {}))
        audit.drift = drift.compare(expected, observed, table, role)
        audit.drift += _inside(result, role, inspect, record.plan, table)
    audit.checks = cis.check(observed, str(store.root), mounts.where(observed, host))
    result.containers.append(audit)


def _inside(
    result: ServerAudit,
    role: str,
    inspect: Mapping[str, Any],
    plan: Mapping[str, Any],
    table: Mapping[str, str],
) -> list[drift.Drift]:
    """The container's mount table and mcp-lok's files in it, read from the host, against
    the plan: a mount it does not name (an engine default that came back) is drift."""
    if "engine_mounts" not in plan:
        result.notes.append(
            Note(
                "its plan does not name the engine's own mounts (launched by an older "
                "mcp-lok): its mount table is not compared",
                hint=f"relaunch it: `mcp-lok rm {result.name}`, then start it again as before",
                drift=False,
            )
        )
        return []
    pid = int((inspect.get("State") or {}).get("Pid") or 0)
    text = proc.mount_table(pid)
    if text is None:
        result.notes.append(
            Note(f"the {role}'s mount table cannot be read from this host", drift=False)
        )
        return []
    wanted = inside.expected(plan, role)
    found = inside.compare_mounts(inside.parse(text), wanted, proc.host_locator())
    planned = inside.planned_files(plan, role)
    found += inside.compare_files(planned, proc.files(pid, planned))
    return [_as_drift(role, d, table) for d in found]


def _as_drift(role: str, found: inside.Difference, table: Mapping[str, str]) -> drift.Drift:
    if found.what.startswith("file["):
        field, origin = found.what, drift.origin_of(f"HostConfig.Mounts[{found.target}]", table)
    else:
        field = f"mountinfo[{found.target}]"
        plan_field = found.what.startswith("HostConfig.")
        origin = drift.origin_of(found.what, table) if plan_field else drift.ENGINE_DEFAULT
    return drift.Drift(role, field, found.expected, found.found, origin)


def _networks(
    engine: ContainerEngine, result: ServerAudit, record: Record, state: ServerState
) -> None:
    recorded = {n.name: n.id for n in state.networks}
    for body in record.plan.get("networks", []):
        name = body["Name"]
        seen = engine.inspect_network(name)
        if seen is None:
            result.notes.append(Note(f"the network `{name}` is gone"))
            continue
        if recorded.get(name) not in (None, seen.get("Id"), name):
            result.notes.append(Note(f"the network `{name}` was recreated (its id changed)"))
        if bool(seen.get("Internal")) != bool(body.get("Internal")):
            result.notes.append(Note(f"the network `{name}` has `Internal` {seen.get('Internal')}"))
        labels = seen.get("Labels") or {}
        for key, value in body.get("Labels", {}).items():
            if labels.get(key) != value:
                result.notes.append(Note(f"the network `{name}` lacks the label `{key}={value}`"))


def _files(result: ServerAudit, record: Record) -> None:
    """The plan's host files (Podman's seccomp profile, resolv.conf, the gate's config)
    must still hold what was planned: the containers read them at start and at will."""
    for planned in record.plan.get("files", []):
        if planned.get("directory"):
            continue
        path = Path(planned["path"])
        try:
            content = path.read_bytes()
        except OSError:
            result.notes.append(Note(f"the planned file `{path}` is gone"))
            continue
        if _digest(content) != _digest(planned["content"].encode()):
            result.notes.append(
                Note(
                    f"the planned file `{path}` was changed since launch",
                    hint=f"compare it with `mcp-lok policy compile`; relaunch `{result.name}`",
                )
            )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _unrecorded(
    engine: ContainerEngine,
    store: Store,
    cid: str,
    name: str,
    host: Host,
    groups: Mapping[int, str],
) -> ServerAudit:
    result = ServerAudit(name or cid[:12], engine.kind.value, recorded=False)
    inspect = engine.inspect(cid)
    if inspect is None:  # removed meanwhile
        return result
    shown = str(inspect.get("Name", "")).lstrip("/")
    owner = f" under the name of the server `{name}`" if store.load(name) else ""
    result.notes.append(
        Note(
            f"the container `{shown}` carries mcp-lok's labels{owner}, but was not created "
            "by mcp-lok: no launch recorded its id or its nonce (started by hand, or "
            "recreated outside mcp-lok); mcp-lok never stops or removes it",
            hint=f"inspect it; if it is yours to remove: `{engine.kind.value} rm -f {cid[:12]}`",
        )
    )
    observed = _view(engine, inspect, {})
    paths = mounts.where(observed, host)
    checks = cis.check(observed, str(store.root), paths)
    result.containers.append(ContainerAudit("container", shown, cid, checks=checks))
    found = processes.read(_pid(inspect))
    result.notes += processes.notes(found, None, groups, "container")
    result.rows = score.rows(
        observed,
        engine.kind.value,
        runtime_dir=str(store.root),
        paths=paths,
        groups=groups,
        processes=found,
    )
    return result


__all__ = ["audit"]
