"""Lowering of the gate: the sidecar that owns the server's network namespace.

The gate has only loopback (or, under an open policy, the server's private bridge). For
HTTP transports it relays the host proxy's connections, arriving on a Unix socket, to the
server's port; for allow-listed egress it serves DNS, per-destination listeners and an
HTTP proxy, and relays each connection over a second Unix socket to the host, which
decides. Its config, written by the launcher, is part of the plan so it can be audited.
"""

from __future__ import annotations

from typing import Any

from .. import baseline, layout
from ..ir import IR, NetworkMode
from ..origin import BASELINE
from . import files, podman
from .plan import Container, Engine, Gate, Payload, PlanFile, Target, bind
from .server import Quirks, gate_name, hardening, labels, limits, network_name


def gate(
    policy: IR, target: Target, seccomp_option: str, quirks: Quirks
) -> tuple[Gate, tuple[PlanFile, ...]]:
    payload = Payload()
    payload.set("Image", target.gate_image, BASELINE)
    payload.set("Cmd", [layout.GATE_CONFIG], BASELINE)
    payload.set("User", baseline.GATE_USER, BASELINE)
    labels(payload, target, "gate")
    for field in ("AttachStdin", "OpenStdin", "StdinOnce", "Tty"):
        payload.set(field, False, BASELINE)
    for field in ("AttachStdout", "AttachStderr"):
        payload.set(field, False, BASELINE)
    payload.set("Env", [], BASELINE)
    hardening(payload, None)
    payload.set("HostConfig.CapAdd", [], BASELINE)
    payload.set("HostConfig.SecurityOpt", ["no-new-privileges:true", seccomp_option], BASELINE)
    limits(
        payload,
        baseline.GATE_MEMORY,
        baseline.GATE_CPUS_MILLI,
        baseline.GATE_PIDS,
        baseline.NOFILE,
        (BASELINE,) * 4,
    )
    payload.set("HostConfig.Mounts", [], BASELINE)
    payload.mount(bind(target.layout.gate, layout.GATE_MOUNT, read_only=False), BASELINE)
    own = files.place(payload, policy, target, "gate", open_resolver=None, extra=quirks.own_files)
    payload.set("HostConfig.Tmpfs", {}, BASELINE)
    if target.engine is Engine.PODMAN:
        podman.harden(payload, read_only=True)
    mode = policy.network.mode
    payload.set(
        "HostConfig.NetworkMode",
        network_name(target) if mode.value is NetworkMode.OPEN else "none",
        mode.origin,
    )
    # lets the unprivileged gate bind port 53 and allowed ports below 1024; the sysctl
    # is per network namespace, so it changes nothing on the host
    payload.set("HostConfig.Sysctls", {"net.ipv4.ip_unprivileged_port_start": "0"}, BASELINE)
    config = gate_config(policy, target)
    written: tuple[PlanFile, ...] = (
        # INVARIANT: the gate's folder (its sockets) belongs to the gate's uid alone; the
        # server never has it mounted, and no other uid on the host can enter it
        PlanFile(target.layout.gate, "", mode=0o700, directory=True, owner=baseline.GATE_USER),
        PlanFile(target.layout.gate_config, _json(config)),
        *own,
    )
    if config["egress"] is not None:
        rules = host_rules(policy, config, target)
        written += (PlanFile(target.layout.egress_rules, _json(rules), 0o600),)
    body = payload.body
    container = Container(
        gate_name(target),
        body,  # type: ignore[arg-type]
        payload.trace,
        quirks.engine_mounts(body),  # type: ignore[arg-type]
    )
    return Gate(container, config), written


def host_rules(policy: IR, config: dict[str, Any], target: Target) -> dict[str, Any]:
    """What mcp-lok on the host enforces for this server's egress: the gate's rules, each
    with the address classes its `insecure` marker acknowledged (the host dials its own,
    link-local and metadata addresses only through a rule that did). INVARIANT: the host
    reads its rules from here, a root-owned file the gate cannot write (the gate may
    rewrite anything in its own folder), and listens where only the gate can connect."""
    egress = config["egress"]
    rules = [
        {**gate_rule, "acknowledged": [c.value for c in rule.acknowledged]}
        for gate_rule, rule in zip(egress["rules"], policy.network.rules, strict=True)
    ]
    return {
        "version": 1,
        "name": target.name,
        "socket": target.layout.egress_socket,
        "gate_user": baseline.GATE_USER,
        "rules": rules,
        "deny_hosts": egress["deny_hosts"],
        "deny_ports": egress["deny_ports"],
    }


def gate_config(policy: IR, target: Target) -> dict[str, Any]:
    net = policy.network
    egress: dict[str, Any] | None = None
    if net.mode.value is NetworkMode.ALLOW_LIST:
        egress = {
            "socket": layout.GATE_EGRESS,
            "dns": baseline.GATE_DNS,
            "proxy": baseline.GATE_PROXY,
            "rules": [
                {
                    "hosts": [h.value for h in rule.hosts],
                    "ports": [p.value for p in rule.ports],
                    "transports": [t.value.value for t in rule.protocols],
                }
                for rule in net.rules
            ],
            "deny_hosts": [h.value for h in net.deny_hosts],
            "deny_ports": [p.value for p in net.deny_ports],
        }
    ingress: dict[str, Any] | None = None
    if target.transport.is_http:
        ingress = {"socket": layout.GATE_INGRESS, "port": target.port}
    return {"version": 1, "name": target.name, "ingress": ingress, "egress": egress}


def _json(value: Any) -> str:
    """A file only programs read: compact, which Python's C encoder writes (it cannot
    indent), so lowering stays fast. `policy compile` shows the same JSON in `gate`."""
    from .plan import canonical_json

    return canonical_json(value) + "\n"
