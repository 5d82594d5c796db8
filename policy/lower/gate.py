"""Lowering of the gate: the sidecar that owns the server's network namespace.

The gate has only loopback (or, under an open policy, the server's private bridge). For
HTTP transports it relays the host proxy's connections, arriving on a Unix socket, to the
server's port; for allow-listed egress it serves DNS, per-destination listeners and an
HTTP proxy, and relays each connection over a second Unix socket to the host, which
decides. Here is its container; its network mode and its config are `network.py`'s, and
the config is part of the plan so it can be audited.
"""

from __future__ import annotations

from .. import baseline, layout
from ..ir import IR
from ..origin import BASELINE
from . import files, network, podman
from .plan import Container, Engine, Gate, Payload, PlanFile, Target, bind
from .server import Quirks, hardening, labels, limits


def gate(
    policy: IR, target: Target, seccomp_option: str, quirks: Quirks
) -> tuple[Gate, tuple[PlanFile, ...]]:
    payload = Payload()
    payload.set(BASELINE, Image=target.gate_image, Cmd=[layout.GATE_CONFIG])
    payload.set(BASELINE, User=baseline.GATE_USER)
    labels(payload, target, "gate")
    payload.set(
        BASELINE,
        AttachStdin=False,
        OpenStdin=False,
        StdinOnce=False,
        Tty=False,
        AttachStdout=False,
        AttachStderr=False,
        Env=[],
    )
    hardening(payload, None)
    payload.host.set(BASELINE, CapAdd=[], SecurityOpt=["no-new-privileges:true", seccomp_option])
    limits(
        payload,
        baseline.GATE_MEMORY,
        baseline.GATE_CPUS_MILLI,
        baseline.GATE_PIDS,
        baseline.NOFILE,
        (BASELINE,) * 4,
    )
    payload.host.set(BASELINE, Mounts=[])
    folder = bind(target.layout.gate, layout.GATE_MOUNT, read_only=False)
    payload.host.add(BASELINE, Mounts=[folder])
    own = files.place(payload, policy, target, "gate", open_resolver=None, extra=quirks.own_files)
    payload.host.set(BASELINE, Tmpfs={})
    if target.engine is Engine.PODMAN:
        podman.harden(payload, read_only=True)
    network.gate(payload, policy, target)
    config = network.gate_config(policy, target)
    written: tuple[PlanFile, ...] = (
        # INVARIANT: the gate's folder (its sockets) belongs to the gate's uid alone; the
        # server never has it mounted, and no other uid on the host can enter it
        PlanFile(target.layout.gate, "", mode=0o700, directory=True, owner=baseline.GATE_USER),
        *network.files(policy, config, target),
        *own,
    )
    body = payload.body
    container = Container(
        network.gate_name(target), body, payload.trace, quirks.engine_mounts(body)
    )
    return Gate(container, config), written
