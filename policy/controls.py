"""Read a plan's server payload into findings: which security controls are there, and in
which state. One reader per concern (user, capabilities, seccomp, root filesystem,
namespaces, network, mounts, tmpfs, limits, environment, init), in report order.

A finding names its kind, the payload field (in the trace's notation), the origin the
trace gives for it, and the words its sentence needs. Findings describe the payload the
engine receives; the IR adds only what a payload does not say: capability reasons,
secret references, per-host origins of egress rules and `insecure` acknowledgements.
Judging findings (marks, weights, sentences), scoring and rendering are `explain`'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from . import addresses, baseline, identity, seccomp
from .host import HostPath, PathKind
from .ir import IR, EgressRule, Insecurity, NetworkMode, SecretRef, Value
from .lower import podman
from .lower.plan import Engine, LaunchPlan
from .origin import BASELINE, Argument, Default, Origin
from .paths import first_beneath, mount_kind, mount_points
from .record import record
from .rules import SecretProvider

ENGINE: Final = Argument("--engine")
# what the engine does on its own, named in the plan
ENGINE_DEFAULT: Final = Default("engine")
_INSECURE_FIELDS: Final = {
    Insecurity.NETWORK_OPEN: "HostConfig.NetworkMode",
    Insecurity.PRIVILEGED: "HostConfig.Privileged",
    Insecurity.SENSITIVE_MOUNT: "HostConfig.Mounts",
    Insecurity.SPECIAL_MOUNT: "HostConfig.Mounts",
    Insecurity.REPLACEABLE_MOUNT: "HostConfig.Mounts",
    Insecurity.DANGEROUS_CAPABILITY: "HostConfig.CapAdd",
    Insecurity.SECCOMP_OFF: "HostConfig.SecurityOpt",
    Insecurity.PRIVILEGE_ESCALATION: "HostConfig.SecurityOpt",
    Insecurity.WRITABLE_ROOT: "HostConfig.ReadonlyRootfs",
    Insecurity.ROOT_USER: "User",
    Insecurity.PRIVILEGED_GROUP: "User",
    Insecurity.SPECIAL_ADDRESSES: "gate:egress.rules",
    Insecurity.SENSITIVE_SECRET: "Env",
}
_ENGINE_RESOLVER: Final = {
    Engine.DOCKER: " (`127.0.0.11`), which asks the host's nameservers",
    Engine.PODMAN: " (its gateway, known once the network exists) and the host's nameservers",
}
_NAMESPACES: Final = (
    ("PidMode", "PID"),
    ("IpcMode", "IPC"),
    ("UTSMode", "UTS"),
    ("UsernsMode", "user"),
    ("CgroupnsMode", "cgroup"),
)


@record
class Finding:
    """The state of one control: its kind (a row of `explain`'s table), the payload field
    it is about, where the value came from, and the words its sentence needs."""

    kind: str
    field: str
    origin: Origin
    words: Mapping[str, object]


def collect(policy: IR, plan: LaunchPlan) -> tuple[Finding, ...]:
    """The findings for `plan`, which must be what `lower` made of `policy`."""
    process = (_insecure, _user, _privileged, _capabilities, _security_opt, _root, _namespaces)
    network = (_network, _egress, _deny, _gate, _ports)
    resources = (
        _mounts,
        _tmpfs,
        _own_files,
        _resolver,
        _shm,
        _engine_mounts,
        _limits,
        _ulimits,
        _env,
        _init,
    )
    sections = (*process, *network, *resources)
    return tuple(finding for section in sections for finding in section(policy, plan))


def _row(kind: str, field: str, origin: Origin, **words: object) -> Finding:
    return Finding(kind, field, origin, words)


def _host(plan: LaunchPlan) -> Mapping[str, Any]:
    host: Mapping[str, Any] = plan.server.body["HostConfig"]
    return host


def _at(plan: LaunchPlan, path: str) -> Origin:
    return plan.server.trace.get(path, BASELINE)


def _insecure(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    for ack in policy.insecure:
        field = _INSECURE_FIELDS[ack.what]
        yield _row("insecure", field, ack.origin, what=ack.what.value, subject=ack.subject)


def _user(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    value, origin = str(plan.server.body["User"]), _at(plan, "User")
    found = f" ({policy.user.found})" if policy.user.found else ""
    numbers = identity.numeric(value)
    if numbers is None:
        kind = "root" if identity.spelled(value)[0] == 0 else "named-user"
        yield _row(kind, "User", origin, user=value, found=found)
        return
    uid, gid = numbers
    kind = "root" if uid == 0 else "uid"
    yield _row(kind, "User", origin, user=value, uid=uid, gid=gid, found=found)
    why = policy.user.privileged
    if why is not None:  # judged on the host when the policy was compiled
        group = "root-group" if gid == 0 else "privileged-group"
        yield _row(group, "User", origin, gid=gid, why=why)


def _privileged(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    kind = "privileged" if _host(plan)["Privileged"] else "unprivileged"
    yield _row(kind, "HostConfig.Privileged", _at(plan, "HostConfig.Privileged"))


def _capabilities(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    host, field = _host(plan), "HostConfig.CapDrop"
    if host["Privileged"]:
        yield _row("privileged-caps", field, _at(plan, "HostConfig.Privileged"))
    else:
        yield _row(
            "no-caps" if "ALL" in host["CapDrop"] else "default-caps", field, _at(plan, field)
        )
    reasons = {cap.name: cap.reason for cap in policy.capabilities}
    for i, name in enumerate(host["CapAdd"]):
        field = f"HostConfig.CapAdd[{i}]"
        kind = "safe-capability" if name in baseline.SAFE_CAPABILITIES else "capability"
        because = f' because "{reasons[name]}"' if reasons.get(name) else ""
        yield _row(kind, field, _at(plan, field), name=name, because=because)


def _security_opt(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    options = list(enumerate(_host(plan)["SecurityOpt"]))
    nnp = [i for i, o in options if o in ("no-new-privileges", "no-new-privileges:true")]
    filters = [i for i, o in options if o.startswith("seccomp=")]
    for i, option in options:
        if i not in nnp and i not in filters:
            field = f"HostConfig.SecurityOpt[{i}]"
            yield _row("security-opt", field, _at(plan, field), option=option)
    if nnp:
        field = f"HostConfig.SecurityOpt[{nnp[0]}]"
        yield _row("no-new-privileges", field, _at(plan, field))
    else:
        origin = policy.no_new_privileges.origin
        yield _row("escalation", "HostConfig.SecurityOpt", origin)
    yield from _seccomp(policy, plan, filters[0] if filters else None)


def _seccomp(policy: IR, plan: LaunchPlan, index: int | None) -> Iterator[Finding]:
    if index is None:
        field, option = "HostConfig.SecurityOpt", ""
    else:
        field, option = f"HostConfig.SecurityOpt[{index}]", _host(plan)["SecurityOpt"][index]
    if _host(plan)["Privileged"]:
        yield _row("privileged-seccomp", field, _at(plan, "HostConfig.Privileged"))
    elif index is None:
        yield _row("engine-seccomp", field, policy.seccomp.origin)
    elif option == "seccomp=unconfined":
        yield _row("unconfined", field, _at(plan, field))
    else:
        count = len(set(seccomp.DENIED) | {v.value for v in policy.seccomp_deny})
        yield _row("seccomp", field, _at(plan, field), count=count)
        for call in policy.seccomp_deny:
            yield _row("seccomp-deny", field, call.origin, call=call.value)


def _root(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    field = "HostConfig.ReadonlyRootfs"
    if not _host(plan)["ReadonlyRootfs"]:
        yield _row("writable-root", field, _at(plan, field))
        return
    yield _row("read-only-root", field, _at(plan, field))
    # the Podman lowering names its scratch mounts (`/run`, `/tmp`, `/var/tmp`) so that
    # Podman's own unbounded, executable ones are replaced; say so if a payload lacks them
    if plan.engine is Engine.PODMAN and not set(podman.SCRATCH) <= set(_host(plan)["Tmpfs"]):
        yield _row("podman-tmpfs", field, ENGINE)


def _namespaces(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    host = _host(plan)
    shared = [(key, word) for key, word in _NAMESPACES if host.get(key) == "host"]
    if shared:
        field = f"HostConfig.{shared[0][0]}"
        names = ", ".join(word for _, word in shared)
        yield _row("host-namespace", field, _at(plan, field), names=names)
    else:
        yield _row("own-namespaces", "HostConfig.IpcMode", _at(plan, "HostConfig.IpcMode"))


def _network(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    field = "HostConfig.NetworkMode"
    value, mode = _host(plan)["NetworkMode"], policy.network.mode.value
    names = ", ".join(f"`{n['Name']}`" for n in plan.networks)
    if value == "host":
        kind = "host-network"
    elif mode is NetworkMode.OPEN:
        kind = "open-network"
    elif mode is NetworkMode.ALLOW_LIST:
        kind = "allow-list"
    else:
        kind = "gate-only" if value.startswith("container:") else "no-network"
    yield _row(kind, field, _at(plan, field), names=names)


def _egress(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    if policy.network.mode.value is not NetworkMode.ALLOW_LIST:
        return
    for i, rule in enumerate(policy.network.rules):
        covers = rule.covers or ((),) * len(rule.hosts)  # an IR not made by `build`
        for j, (host, covered) in enumerate(zip(rule.hosts, covers, strict=True)):
            yield _destination(f"gate:egress.rules[{i}].hosts[{j}]", host, rule, covered)


def _destination(
    field: str, host: Value[str], rule: EgressRule, covered: tuple[addresses.AddressClass, ...]
) -> Finding:
    """One allowed destination, named by every class of addresses it covers."""
    name = host.value
    net = addresses.network(name)
    dangerous = addresses.ordered(set(covered) & addresses.DANGEROUS)
    if addresses.own_loopback(name):
        kind = "loopback"
    elif dangerous:
        kind = "egress-special"
    elif covered:
        kind = "egress-private"
    elif net is not None and net.num_addresses > 1:
        kind = "egress-network"
    else:
        kind = "egress-wildcard" if name.startswith("*.") else "egress-host"
    ports = ", ".join(f"{p.value}/{t.value.value}" for p in rule.ports for t in rule.protocols)
    never = {addresses.AddressClass.LOOPBACK, addresses.AddressClass.UNSPECIFIED} & set(covered)
    note = f"; mcp-lok never dials {addresses.in_words(never)} on the host" if never else ""
    return _row(
        kind,
        field,
        host.origin,
        host=name,
        suffix=name[2:],
        ports=ports,
        classes=addresses.in_words(covered) if covered else "",
        note=note,
        covered=covered,
    )


def _deny(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    net = policy.network
    denied = [(f"deny_hosts[{i}]", f"`{v.value}`", v.origin) for i, v in enumerate(net.deny_hosts)]
    denied += [
        (f"deny_ports[{i}]", f"port {v.value}", v.origin) for i, v in enumerate(net.deny_ports)
    ]
    for key, what, origin in denied:
        if net.mode.value is NetworkMode.ALLOW_LIST:
            yield _row("deny", f"gate:egress.{key}", origin, what=what)
        else:
            kind = "deny-unenforced" if net.mode.value is NetworkMode.OPEN else "deny-moot"
            yield _row(kind, "HostConfig.NetworkMode", origin, what=what)


def _gate(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    if plan.gate is None:
        return
    config, container = plan.gate.config, plan.gate.container
    duties, origin = [], _at(plan, "Labels[mcp-lok-transport]")
    if config.egress is not None:
        origin = container.trace["HostConfig.NetworkMode"]
        duties.append(
            "serves DNS and an HTTP proxy for allowed destinations only and relays "
            "each connection to mcp-lok on the host, which checks it again, never dials "
            "loopback or the unspecified address, dials the host's own, link-local and "
            "metadata addresses only through a rule that names them and acknowledged them "
            "with `insecure`, and private ones only through a rule that names them"
        )
    if config.ingress is not None:
        duties.append(
            f"relays the host proxy's connections to the server's port "
            f"{config.ingress.port}, so nothing is published"
        )
    uid = container.body["User"].partition(":")[0]
    yield _row("gate", "gate", origin, name=container.name, uid=uid, duties="; it ".join(duties))


def _ports(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    field = "HostConfig.PortBindings"
    bindings = _host(plan).get("PortBindings")
    if bindings:
        ports = ", ".join(f"`{port}`" for port in sorted(bindings))
        yield _row("published", field, _at(plan, field), ports=ports)
    else:
        yield _row("unpublished", field, BASELINE)


def _mounts(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    granted = {(m.source, m.target): m for m in policy.mounts}
    masks = {m.path for m in policy.masks}
    for i, spec in enumerate(_host(plan)["Mounts"]):
        source, target, writable = spec["Source"], spec["Target"], not spec["ReadOnly"]
        if target in baseline.OWN_PATHS:
            continue  # mcp-lok's own files: `_own_files`, `_resolver`
        field = f"HostConfig.Mounts[{i}]"
        mount = granted.get((source, target))
        if target in masks and not writable:
            yield _row("mask", field, _at(plan, field), target=target)
        else:
            found = mount.host if mount else HostPath(source, source, PathKind.DIRECTORY)
            yield from _mount(found, target, writable, field, _at(plan, field))


def _mount(
    found: HostPath, target: str, writable: bool, field: str, origin: Origin
) -> Iterator[Finding]:
    """A granted bind's row, named by the path as written and where it leads, and a
    second row when another user could change where it leads."""
    shown = f"`{found.written}`"
    if found.resolved != found.written:
        shown += f" (leads to `{found.resolved}`)"
    where = "" if target == found.written else f" at `{target}`"
    beneath = first_beneath(found)
    yield _row(
        mount_kind(found, writable),
        field,
        origin,
        path=shown,
        where=where,
        what=found.kind.value,
        found=beneath.path if beneath else "",
        holds=beneath.what.value if beneath else "",
        nested=_nested(found),
    )
    if found.replaceable is not None:
        yield _row("replaceable-mount", field, origin, path=shown, why=found.replaceable)


def _nested(found: HostPath) -> str:
    """What a non-recursive bind of a folder leaves out, in words."""
    if found.kind is not PathKind.DIRECTORY:
        return ""
    points = [f"`{point}`" for point in mount_points(found)]
    if not points:
        return " (non-recursive: no host mount beneath it is carried in)"
    if len(points) == 1:
        return f" (non-recursive: the mount point {points[0]} beneath it is not carried in)"
    return f" (non-recursive: the mount points {', '.join(points)} beneath it are not carried in)"


def _tmpfs(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    for target, options in sorted(_host(plan)["Tmpfs"].items()):
        field, flags = f"HostConfig.Tmpfs[{target}]", options.split(",")
        sizes = [_bytes(int(flag[5:])) + " " for flag in flags if flag.startswith("size=")]
        kind = "scratch"
        noexec = ", not executable" if "noexec" in flags else ""
        size = "".join(sizes[:1])
        yield _row(kind, field, _at(plan, field), target=target, size=size, noexec=noexec)


def _own_files(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    mounts = _host(plan)["Mounts"]
    own = {m["Target"] for m in mounts if m["Target"] in baseline.OWN_PATHS}
    files = ["`/etc/hosts` (the loopback names only)", f"`/etc/hostname` (`{plan.name}`)"]
    if "/run/.containerenv" in own:
        files.append("an empty `/run/.containerenv`")
    listed = ", ".join(files[:-1]) + f" and {files[-1]}"
    yield _row("own-files", "HostConfig.Mounts", BASELINE, files=listed)


def _resolver(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    mounts = _host(plan)["Mounts"]
    at = [i for i, m in enumerate(mounts) if m["Target"] == "/etc/resolv.conf"]
    field = f"HostConfig.Mounts[{at[0]}]" if at else "engine_mounts"
    origin = _at(plan, field) if at else policy.network.mode.origin
    mode = policy.network.mode.value
    if mode is NetworkMode.ALLOW_LIST:
        yield _row("resolver-gate", field, origin)
    elif mode is NetworkMode.NONE:
        yield _row("resolver-none", field, origin)
    else:
        yield _row("resolver-engine", field, origin, engine=plan.engine.value.capitalize(),
                   more=_ENGINE_RESOLVER[plan.engine])  # fmt: skip


def _shm(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    field = "HostConfig.ShmSize"
    yield _row("shm", field, _at(plan, field), size=_bytes(_host(plan)["ShmSize"]))


def _engine_mounts(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    # Podman's own resolv.conf (a server on its bridge) is the `resolver-engine` row's
    named = [m for m in plan.server.engine_mounts if m.target != "/etc/resolv.conf"]
    kernel = sum(
        m.optional and not m.beneath and m.target.startswith(("/proc/", "/sys/")) for m in named
    )
    yield _row("engine-mounts", "engine_mounts", ENGINE_DEFAULT, count=len(named), kernel=kernel)


def _limits(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    host = _host(plan)
    memory, swap, cpus, pids = (host[k] for k in ("Memory", "MemorySwap", "NanoCpus", "PidsLimit"))
    count = f"{cpus / 1e9:g} CPU" + ("" if cpus == 10**9 else "s")
    yield _limit(plan, "Memory", memory > 0, "memory", "no-memory-limit", size=_bytes(memory))
    yield _limit(plan, "MemorySwap", swap == memory, "swap", "more-swap", swap=swap)
    yield _limit(plan, "NanoCpus", cpus > 0, "cpus", "no-cpu-limit", cpus=count)
    yield _limit(plan, "PidsLimit", pids > 0, "pids", "no-pids-limit", pids=pids)


def _limit(plan: LaunchPlan, key: str, ok: bool, good: str, bad: str, **words: object) -> Finding:
    field = f"HostConfig.{key}"
    return _row(good if ok else bad, field, _at(plan, field), **words)


def _ulimits(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    for i, limit in enumerate(_host(plan)["Ulimits"]):
        name, field = limit["Name"], f"HostConfig.Ulimits[{i}]"
        kind = name if name in ("nofile", "nproc") else "ulimit"
        yield _row(kind, field, _at(plan, field), name=name, n=limit["Hard"])


def _env(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    secrets = {s.name: s for s in policy.secrets}
    own: dict[Origin, list[str]] = {}
    for i, entry in enumerate(plan.server.body["Env"]):
        name, field = entry.partition("=")[0], f"Env[{i}]"
        if name in secrets:
            source = _secret_provider(secrets[name])
            yield _row("secret", field, _at(plan, field), name=name, source=source)
        elif name in baseline.RESERVED_ENV:
            own.setdefault(_at(plan, field), []).append(f"`{name}`")
        else:
            yield _row("env", field, _at(plan, field), name=name)
    for origin, names in own.items():
        yield _row("own-env", "Env", origin, names=", ".join(names))


def _secret_provider(secret: SecretRef) -> str:
    if secret.provider is SecretProvider.FILE:
        return f"the host file `{secret.ref}`"
    return f"mcp-lok's environment variable `{secret.ref}`"


def _init(policy: IR, plan: LaunchPlan) -> Iterator[Finding]:
    kind = "init" if _host(plan)["Init"] else "no-init"
    yield _row(kind, "HostConfig.Init", _at(plan, "HostConfig.Init"))


def _bytes(size: int) -> str:
    for unit, word in ((1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
        if size % unit == 0:
            return f"{size // unit} {word}"
    return f"{size} bytes"


__all__ = ["Finding", "collect"]
