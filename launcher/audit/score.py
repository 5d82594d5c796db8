"""The exposure score of a running container, on `policy explain`'s scale.

`policy explain` scores a plan from its policy; here the same table of weights
(`explain.WEIGHTS`, `CAPABILITY_WEIGHTS`) is applied to what the engine reports, so an
untampered server scores what `policy explain` printed for its plan, and a tampered one
scores what it has become. Rows compound the same way:
`10 * (1 - product(1 - weight))`. What inspect cannot show — the gate's per-destination
egress rules — is not scored here; a server with an allow-list scores the `allow-list` row
only (`policy explain` adds 0.03–0.15 per destination). Pure: no engine, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from mcp_lok.policy import baseline
from mcp_lok.policy.explain import CAPABILITY_WEIGHTS, LEVELS, WEIGHTS

from .cis import Context, engine_socket, sensitive
from .normalise import DEFAULT_CAPS, PODMAN, PODMAN_DEFAULT_CAPS, View

_PODMAN_SCRATCH: Final = ("/run", "/tmp", "/var/tmp")  # as `policy explain` expects


@dataclass(frozen=True)
class Row:
    kind: str  # a row of `policy explain`'s table
    field: str
    weight: float


def rows(
    view: View,
    engine: str,
    *,
    egress: bool = False,
    joined: Sequence[str] = (),
    runtime_dir: str = baseline.RUNTIME_DIR,
) -> list[Row]:
    """The weighted rows of a container. `egress`: the plan gave the server an allow-listed
    gate (inspect shows only `container:<gate>`, the same as an ingress-only gate);
    `joined`: the networks of the container whose namespace it shares (`container:<gate>`)."""
    c = Context(view, runtime_dir)
    network = _network(c, egress, [n for n in joined if n != "none"])
    found = [*_process(c, engine), *network, *_mounts(c), *_limits(c)]
    return [r for r in found if r.weight > 0]


def score(found: list[Row]) -> float:
    weights = sorted(min(max(r.weight, 0.0), 1.0) for r in found)
    return round(10.0 * (1.0 - math.prod(1.0 - w for w in weights)), 1)


def level(value: float) -> str:
    return next((word for bound, word in LEVELS if value < bound), "UNSAFE")


def _row(kind: str, field: str, weight: float | None = None) -> Row:
    return Row(kind, field, WEIGHTS[kind] if weight is None else weight)


def _process(c: Context, engine: str) -> Iterator[Row]:
    f = c.fields
    uid = str(f.get("User") or "").partition(":")[0]
    yield _row(
        "root" if uid in ("", "0", "root") else "uid" if uid.isdigit() else "named-user", "User"
    )
    privileged = bool(f.get("HostConfig.Privileged"))
    caps = c.caps
    if privileged:
        yield _row("privileged", "HostConfig.Privileged")
        yield _row("privileged-caps", "HostConfig.CapDrop")
        yield _row("privileged-seccomp", "HostConfig.SecurityOpt")
    else:
        defaults = caps >= PODMAN_DEFAULT_CAPS  # Podman's defaults are Docker's, less three
        if defaults:
            yield _row("default-caps", "HostConfig.CapDrop")
        for cap in sorted(caps - DEFAULT_CAPS if defaults else caps):
            kind = "safe-capability" if cap in baseline.SAFE_CAPABILITIES else "capability"
            weight = CAPABILITY_WEIGHTS.get(cap) if kind == "capability" else None
            yield _row(kind, f"HostConfig.Capabilities[{cap}]", weight)
        seccomp = str(f.get("HostConfig.SecurityOpt[seccomp]", "engine default"))
        kind = {"unconfined": "unconfined", "engine default": "engine-seccomp"}.get(
            seccomp, "seccomp"
        )
        yield _row(kind, "HostConfig.SecurityOpt[seccomp]")
    if not f.get("HostConfig.SecurityOpt[no-new-privileges]"):
        yield _row("escalation", "HostConfig.SecurityOpt[no-new-privileges]")
    if not f.get("HostConfig.ReadonlyRootfs"):
        yield _row("writable-root", "HostConfig.ReadonlyRootfs")
    elif engine == PODMAN and not set(_PODMAN_SCRATCH) <= set(c.entries("HostConfig.Tmpfs")):
        yield _row("podman-tmpfs", "HostConfig.ReadonlyRootfs")
    shared = [
        k
        for k in ("PidMode", "IpcMode", "UTSMode", "UsernsMode")
        if f.get(f"HostConfig.{k}") == "host"
    ]
    if shared:
        yield _row("host-namespace", f"HostConfig.{shared[0]}")


def _network(c: Context, egress: bool, joined: list[str]) -> Iterator[Row]:
    mode = str(c.fields.get("HostConfig.NetworkMode", "none"))
    if mode == "host":
        yield _row("host-network", "HostConfig.NetworkMode")
    elif c.fields.get("Networks") or (mode.startswith("container:") and joined):
        yield _row("open-network", "Networks")
    elif egress and mode.startswith("container:"):
        yield _row("allow-list", "HostConfig.NetworkMode")
    if c.fields.get("HostConfig.PortBindings") or c.fields.get("HostConfig.PublishAllPorts"):
        yield _row("published", "HostConfig.PortBindings")


def _mounts(c: Context) -> Iterator[Row]:
    for target, mount in sorted(c.mounts.items()):
        source, writable = mount["Source"], not mount["ReadOnly"]
        field = f"HostConfig.Mounts[{target}]"
        if engine_socket(source):
            yield _row("engine-socket", field)
        elif sensitive(source) or (writable and _protected(source)):
            yield _row("sensitive-write" if writable else "sensitive-read", field)
        elif c.own(source) and not writable:
            continue  # mcp-lok's own files (hosts, resolv.conf, masks): `own-files`, `mask`
        else:
            yield _row("write-mount" if writable else "read-mount", field)
    for target in sorted(c.entries("HostConfig.Tmpfs")):
        yield _row("scratch", f"HostConfig.Tmpfs[{target}]")
    if int(c.fields.get("HostConfig.ShmSize") or 0) > 0:
        yield _row("shm", "HostConfig.ShmSize")


def _protected(path: str) -> bool:
    return any(path == t or path.startswith(t + "/") for t in baseline.WRITE_PROTECTED_TREES)


def _limits(c: Context) -> Iterator[Row]:
    f = c.fields
    memory = int(f.get("HostConfig.Memory") or 0)
    if memory <= 0:
        yield _row("no-memory-limit", "HostConfig.Memory")
    elif int(f.get("HostConfig.MemorySwap") or 0) != memory:
        yield _row("more-swap", "HostConfig.MemorySwap")
    if int(f.get("HostConfig.NanoCpus") or 0) <= 0:
        yield _row("no-cpu-limit", "HostConfig.NanoCpus")
    if int(f.get("HostConfig.PidsLimit") or 0) <= 0:
        yield _row("no-pids-limit", "HostConfig.PidsLimit")


__all__ = ["Row", "level", "rows", "score"]
