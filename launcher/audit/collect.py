"""Gather what `audit` compares: each server's launch record and state, and what the engine
reports for its containers and networks (through `engine`), plus their live cgroup limits.

Finds, besides the servers a state records, every container carrying the `mcp-lok` label
that no launch created (neither an id a state records nor a recorded launch's nonce) —
started by hand with the labels, or recreated under a server's name: not created by
mcp-lok. The comparing and checking are `normalise`/`drift`/`cis`/`score`'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mcp_lok.launcher.engine import EngineClient
from mcp_lok.launcher.state import Phase, ServerState, Store, created_by

from . import cgroup, cis, drift, normalise, score
from .record import Record, load
from .report import ContainerAudit, Note, ServerAudit

LABEL = {"mcp-lok": "true"}


def audit(engine: EngineClient, store: Store, names: Iterable[str] | None) -> list[ServerAudit]:
    """Audit the servers `names` (every server on this engine when None): recorded ones by
    their state, then the labelled containers no state records."""
    wanted = None if names is None else set(names)
    labelled = engine.containers(LABEL)
    states = [
        s
        for s in store.all()
        if s.engine_url == engine.url and (wanted is None or s.name in wanted)
    ]
    found = [_recorded(engine, store, s) for s in states]
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
        found.append(_unrecorded(engine, store, container["Id"], name))
    return found


def _recorded(engine: EngineClient, store: Store, state: ServerState) -> ServerAudit:
    kind = engine.kind.value
    result = ServerAudit(state.name, kind, recorded=True)
    if state.phase == Phase.STARTING.value:  # its containers may not exist yet
        result.notes.append(Note("a launch is in progress; audit it once it is up", drift=False))
        return result
    try:
        record = load(store.folder(state.name))
    except (ValueError, KeyError) as error:
        record = None
        result.notes.append(Note(f"the launch record is damaged: {error}", drift=True))
    if record is None:
        result.notes.append(
            Note(
                "no launch record: launched by an mcp-lok without `audit`, or the record "
                "was removed; only the benchmark checks apply",
                hint=f"relaunch it: `mcp-lok rm {state.name}` and `mcp-lok start …`",
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
            view, kind, egress=egress, joined=joined, runtime_dir=str(store.root)
        )
    for role, seen in (("server", server), ("gate", gate)):
        if seen is not None:
            _judge(engine, result, role, seen, record, names, store)
    if record is not None:
        result.compared = True
        _networks(engine, result, record, state)
        _files(result, record)
    return result


def _container(
    engine: EngineClient, result: ServerAudit, role: str, cid: str | None, name: str | None
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
    engine: EngineClient, inspect: Mapping[str, Any], names: Mapping[str, str]
) -> normalise.View:
    config = inspect.get("Config") or {}
    image = engine.image_config(str(inspect.get("Image") or config.get("Image", "")))
    pid = int((inspect.get("State") or {}).get("Pid") or 0)
    return normalise.inspect_view(
        inspect, engine.kind.value, image=image, names=names, live=cgroup.live(pid)
    )


def _judge(
    engine: EngineClient,
    result: ServerAudit,
    role: str,
    seen: tuple[str, dict[str, Any]],
    record: Record | None,
    names: Mapping[str, str],
    store: Store,
) -> None:
    cid, inspect = seen
    observed = _view(engine, inspect, names)
    audit = ContainerAudit(role, str(inspect.get("Name", "")).lstrip("/"), cid)
    body = record.body(role) if record else None
    if body is not None and record is not None:
        expected = normalise.plan_view(body, engine.kind.value)
        table = drift.origins(body, record.trace.get(role, {}))
        audit.drift = drift.compare(expected, observed, table, role)
    audit.checks = cis.check(observed, str(store.root))
    result.containers.append(audit)


def _networks(
    engine: EngineClient, result: ServerAudit, record: Record, state: ServerState
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


def _unrecorded(engine: EngineClient, store: Store, cid: str, name: str) -> ServerAudit:
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
    audit = ContainerAudit("container", shown, cid, checks=cis.check(observed, str(store.root)))
    result.containers.append(audit)
    result.rows = score.rows(observed, engine.kind.value, runtime_dir=str(store.root))
    return result


__all__ = ["audit"]
