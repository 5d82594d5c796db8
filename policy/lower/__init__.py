"""The lower pass: IR + target → `LaunchPlan`, one module per engine.

`lower` picks the engine's quirks (its seccomp convention, its resolver on a bridge, the
files and mounts it adds on its own) and assembles the server (`server.py`), the gate
(`gate.py`, when the server needs one) and the networks; every consequence of the network
mode is `network.py`'s. Pure and deterministic.
"""

from __future__ import annotations

from ..ir import IR, Value, fingerprint
from ..origin import BASELINE
from ..record import replace
from . import docker, network, podman
from .gate import gate
from .payloads import ContainerCreate, NetworkCreate
from .plan import (
    LAUNCH_LABEL,
    LAUNCH_PLACEHOLDER,
    Container,
    Engine,
    EngineMount,
    Gate,
    LaunchPlan,
    PlanFile,
    Target,
    Transport,
    canonical_json,
    default_name,
    target_problems,
)
from .server import DIGEST, Quirks, container_name, server

_QUIRKS = {
    Engine.DOCKER: Quirks(
        docker.seccomp_option,
        docker.OPEN_RESOLVER,
        docker.OWN_FILES,
        docker.engine_mounts,
    ),
    Engine.PODMAN: Quirks(
        podman.seccomp_option,
        podman.OPEN_RESOLVER,
        podman.OWN_FILES,
        podman.engine_mounts,
    ),
}


def lower(policy: IR, target: Target) -> LaunchPlan:
    quirks = _QUIRKS[target.engine]
    payload, files = server(policy, target, quirks)
    if target.engine is Engine.PODMAN:
        podman.harden(payload, read_only=policy.read_only_rootfs.value)
    digest = fingerprint(policy)
    payload.add(DIGEST, Labels={"mcp-lok-policy": digest})
    the_gate: Gate | None = None
    if network.needs_gate(policy, target):
        # the gate always runs under the baseline seccomp profile, whatever the policy says
        option, gate_files = quirks.seccomp(_baseline_only(policy), target)
        the_gate, config_files = gate(policy, target, option, quirks)
        files = _merge(files, gate_files, config_files)
    else:
        files = _merge(files)
    body = payload.body
    return LaunchPlan(
        engine=target.engine,
        name=target.name,
        server=Container(container_name(target), body, payload.trace, quirks.engine_mounts(body)),
        networks=network.networks(policy, target),
        gate=the_gate,
        files=files,
        digest=digest,
    )


def _baseline_only(policy: IR) -> IR:
    return replace(policy, seccomp=Value(True, BASELINE), seccomp_deny=())


def _merge(*groups: tuple[PlanFile, ...]) -> tuple[PlanFile, ...]:
    by_path = {f.path: f for group in groups for f in group}
    return tuple(by_path[p] for p in sorted(by_path))


__all__ = [
    "LAUNCH_LABEL",
    "LAUNCH_PLACEHOLDER",
    "Container",
    "ContainerCreate",
    "Engine",
    "EngineMount",
    "Gate",
    "LaunchPlan",
    "NetworkCreate",
    "PlanFile",
    "Target",
    "Transport",
    "canonical_json",
    "default_name",
    "lower",
    "target_problems",
]
