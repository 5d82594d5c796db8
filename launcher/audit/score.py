"""The exposure score of a running container, on `policy explain`'s scale.

`policy explain` scores a plan from its policy; here the same table of weights
(`explain.WEIGHTS`, `CAPABILITY_WEIGHTS`) is applied to what the engine reports, so an
untampered server scores what `policy explain` printed for its plan, and a tampered one
scores what it has become. Rows compound by the same function (`explain.exposure`), and a
Podman container's scratch mounts are the lowering's own list (`podman.SCRATCH`). What
inspect cannot show — the gate's per-destination egress rules — is not scored here; a
server with an allow-list scores the `allow-list` row only (`policy explain` adds
0.03–0.15 per destination). Pure: no engine, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcp_lok.policy import baseline
from mcp_lok.policy.explain import CAPABILITY_WEIGHTS, WEIGHTS, exposure, level
from mcp_lok.policy.host import HostPath
from mcp_lok.policy.identity import ROOT_GROUP, judge, numeric
from mcp_lok.policy.ir import Insecurity
from mcp_lok.policy.layout import RUNTIME_ROOT
from mcp_lok.policy.lower.podman import SCRATCH
from mcp_lok.policy.paths import mount_kind

from .cis import Context
from .normalise import DEFAULT_CAPS, PODMAN, PODMAN_DEFAULT_CAPS, View

if TYPE_CHECKING:
    from .processes import Process


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
    runtime_dir: str = RUNTIME_ROOT,
    paths: Mapping[str, HostPath] | None = None,
    groups: Mapping[int, str] | None = None,
    processes: Sequence[Process] = (),
) -> list[Row]:
    """The weighted rows of a container. `egress`: the plan gave the server an allow-listed
    gate (inspect shows only `container:<gate>`, the same as an ingress-only gate);
    `joined`: the networks of the container whose namespace it shares (`container:<gate>`);
    `paths`: where each mount's source leads on the host (a mount weighs what `policy
    explain` weighs it, by where it leads); `groups`: the host's privileged groups;
    `processes`: the container's processes as /proc shows them (their ids are judged, else
    those of inspect's `User`)."""
    c = Context(view, runtime_dir, paths)
    network = _network(c, egress, [n for n in joined if n != "none"])
    identity = _identity(c, groups or {0: ROOT_GROUP}, processes)
    found = [*identity, *_process(c, engine), *network, *_mounts(c), *_limits(c)]
    return [r for r in found if r.weight > 0]


def score(found: list[Row]) -> float:
    return exposure(r.weight for r in found)


def _row(kind: str, field: str, weight: float | None = None) -> Row:
    return Row(kind, field, WEIGHTS[kind] if weight is None else weight)


def _identity(c: Context, groups: Mapping[int, str], processes: Sequence[Process]) -> Iterator[Row]:
    """The user row, as `policy explain` scores it, and a row for each privilege the ids
    the kernel holds (or, without them, `User`'s numbers) have on this host."""
    user = str(c.fields.get("User") or "")
    uid = user.partition(":")[0]
    first = "root" if uid in ("", "0", "root") else "uid" if uid.isdigit() else "named-user"
    yield _row(first, "User")
    numbers = numeric(user)
    ids = [(p.uids, p.all_gids) for p in processes]
    if not ids and numbers is not None:
        ids = [(frozenset({numbers[0]}), frozenset({numbers[1]}))]
    seen: set[tuple[str, int]] = {("root", 0)} if first == "root" else set()
    for uids, gids in ids:
        for privilege in (p for u in sorted(uids) for p in judge(u, gids, groups)):
            kind = "root" if privilege.what is Insecurity.ROOT_USER else "privileged-group"
            if privilege.id == 0 and kind != "root":
                kind = "root-group"
            if (kind, privilege.id) not in seen:
                seen.add((kind, privilege.id))
                yield _row(kind, "User")


def _process(c: Context, engine: str) -> Iterator[Row]:
    f = c.fields
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
    elif engine == PODMAN and not set(SCRATCH) <= set(c.entries("HostConfig.Tmpfs")):
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
        if c.own(source) and not writable:
            continue  # mcp-lok's own files (hosts, resolv.conf, masks): `own-files`, `mask`
        where, field = c.where(source), f"HostConfig.Mounts[{target}]"
        yield _row(mount_kind(where, writable), field)
        if where.replaceable is not None:
            yield _row("replaceable-mount", field)
    for target in sorted(c.entries("HostConfig.Tmpfs")):
        yield _row("scratch", f"HostConfig.Tmpfs[{target}]")
    if int(c.fields.get("HostConfig.ShmSize") or 0) > 0:
        yield _row("shm", "HostConfig.ShmSize")


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
