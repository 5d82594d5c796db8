"""The build pass: fold checked rules, in order, onto the hardened baseline into the IR.

Later rules override earlier ones for single values (user, limits, environment), lists
accumulate, and a `write` of a path that is also `read` makes that mount writable. The
one thing left to decide here is the network mode, since it depends on rule order.
"""

from __future__ import annotations

from collections.abc import Sequence
from posixpath import normpath

from . import addresses, baseline, hosts, identity, rules
from .dangers import LITERAL, dangers
from .diagnostics import Code, Collector
from .host import Host
from .ir import (
    IR,
    Acknowledged,
    Capability,
    EgressRule,
    EnvVar,
    Limits,
    Mask,
    Mount,
    Network,
    NetworkMode,
    SecretRef,
    Tmpfs,
    User,
    Value,
)
from .origin import BASELINE, Origin, position
from .paths import where
from .record import replace

_LIMIT_DEFAULTS = {
    rules.LimitKind.MEMORY: baseline.MEMORY,
    rules.LimitKind.CPUS: baseline.CPUS_MILLI,
    rules.LimitKind.PIDS: baseline.PIDS,
    rules.LimitKind.NOFILE: baseline.NOFILE,
}


class _Draft:
    """The mutable state of one build, starting from the baseline; frozen into an `IR`
    at the end."""

    def __init__(self) -> None:
        self.user = User(baseline.USER, BASELINE)
        self.mounts: dict[str, Mount] = {}
        self.tmpfs = {baseline.TMP_TARGET: Tmpfs(baseline.TMP_TARGET, baseline.TMP_SIZE, BASELINE)}
        self.masks: dict[str, Mask] = {}
        self.mode = Value(NetworkMode.NONE, BASELINE)
        self.egress: list[EgressRule] = []
        self.deny_hosts: dict[str, Value[str]] = {}
        self.deny_ports: dict[int, Value[int]] = {}
        self.capabilities: dict[str, Capability] = {}
        self.seccomp = Value(True, BASELINE)
        self.seccomp_deny: dict[str, Value[str]] = {}
        self.no_new_privileges = Value(True, BASELINE)
        self.privileged = Value(False, BASELINE)
        self.read_only_rootfs = Value(True, BASELINE)
        self.limits = {kind: Value(value, BASELINE) for kind, value in _LIMIT_DEFAULTS.items()}
        self.env: dict[str, EnvVar | SecretRef] = {"HOME": EnvVar("HOME", baseline.HOME, BASELINE)}
        self.insecure: list[Acknowledged] = []


def build(ruleset: Sequence[rules.Rule], source: str, host: Host = LITERAL) -> IR:
    """The IR for checked rules, their grants as they lead on `host`. Raises `PolicyError`
    for contradictions between rules."""
    draft, out = _Draft(), Collector()
    reached = addresses.reach(ruleset, host)
    for index, rule in enumerate(ruleset):
        _apply(draft, rule, out, host, reached.get(index, ()))
        draft.insecure.extend(
            Acknowledged(what, subject, rule.insecure or rule.origin)
            for what, subject in dangers(rule, host, reached.get(index))
        )
    _check_result(draft, out)
    out.raise_if_errors()
    draft.user = _privileged(draft.user, host)
    return _freeze(draft, source)


def _privileged(user: User, host: Host) -> User:
    """`user`, saying why its group is root by another name on `host` when it is (a group
    the image decides is judged when `identity.resolve` finds it)."""
    numbers = identity.numeric(user.value)
    why = numbers and identity.group_privilege(*numbers, host.privileged_groups())
    return replace(user, privileged=why) if why else user


def _check_result(draft: _Draft, out: Collector) -> None:
    """Contradictions only visible once every rule is applied."""
    if draft.mode.value is NetworkMode.OPEN:
        # INVARIANT: a deny nobody enforces is an error, never a silent no-op
        denies: list[Origin] = [v.origin for v in draft.deny_hosts.values()]
        denies += [v.origin for v in draft.deny_ports.values()]
        for origin in denies:
            out.error(
                Code.NETWORK_CONFLICT,
                "a `deny` rule cannot be enforced on an open network",
                origin,
                help="only the gate enforces denies; replace the open network by `allow` rules",
            )
    for target, mask in draft.masks.items():
        if target in draft.tmpfs:
            out.error(
                Code.MOUNT_CONFLICT,
                f"`{target}` is both hidden and a tmpfs",
                mask.origin,
                help=f"the tmpfs comes from {draft.tmpfs[target].origin.render()}; "
                "a tmpfs already starts empty",
            )
    for target, mount in draft.mounts.items():
        clash = draft.tmpfs.get(target) or draft.masks.get(target)
        if clash is not None:
            out.error(
                Code.MOUNT_CONFLICT,
                f"`{target}` is both a bind mount and a tmpfs",
                mount.origin,
                help=f"the tmpfs comes from {clash.origin.render()}; choose another target",
            )
    _check_own_paths(draft, out)


def _check_own_paths(draft: _Draft, out: Collector) -> None:
    """INVARIANT: the files an engine would write (`/etc/hosts`, `/etc/resolv.conf`, …) and
    `/dev/shm` are mcp-lok's alone: no rule mounts, hides or replaces them."""
    grants: list[tuple[str, Origin]] = [(t, m.origin) for t, m in draft.mounts.items()]
    grants += [(t, m.origin) for t, m in draft.masks.items()]
    grants += [(t, m.origin) for t, m in draft.tmpfs.items()]
    for target, origin in sorted(grants, key=lambda grant: position(grant[1])):
        path = "/" + target.lstrip("/")  # `//etc/hosts` is `/etc/hosts` to the engine
        if path not in baseline.OWN_PATHS:
            _check_kernel_target(path, origin, out)
            continue
        gate = path == "/etc/resolv.conf" and draft.mode.value is NetworkMode.ALLOW_LIST
        out.error(
            Code.MOUNT_CONFLICT,
            f"`{path}` is mcp-lok's own: {baseline.OWN_PATHS[path]}",
            origin,
            help="the gate's resolver is what enforces allowed names; remove this rule"
            if gate
            else "mcp-lok puts its own there on every engine; remove this rule",
        )


def _check_kernel_target(path: str, origin: Origin, out: Collector) -> None:
    """INVARIANT: nothing is mounted over the container's root, nor at or below the
    kernel's own /proc, /sys and /dev."""
    if path == "/":
        out.error(
            Code.MOUNT_CONFLICT,
            "`/` is the image's root filesystem: a mount cannot take its place",
            origin,
            help="mount at a folder of its own, e.g. `/data`",
        )
    for tree in baseline.KERNEL_TARGETS:
        if path == tree or path.startswith(tree + "/"):
            out.error(
                Code.MOUNT_CONFLICT,
                f"`{path}` is inside the kernel's `{tree}`: mcp-lok mounts nothing there",
                origin,
                help="choose a container path outside /proc, /sys and /dev",
            )


def _apply(  # noqa: C901 - a dispatch
    draft: _Draft, rule: rules.Rule, out: Collector, host: Host, reached: addresses.Reach
) -> None:
    match rule:
        case rules.Read() | rules.Write():
            _mount(draft, rule, host)
        case rules.Tmpfs(target=target, size=size):
            draft.tmpfs[normpath(target)] = Tmpfs(
                normpath(target), size or baseline.TMP_SIZE, rule.origin
            )
        case rules.DenyPath(path=path):
            draft.masks[normpath(path)] = Mask(normpath(path), rule.origin)
        case rules.Allow() | rules.NetworkOpen() | rules.NetworkNone():
            _network(draft, rule, out, reached)
        case rules.DenyHost(host=item):
            name = hosts.normalise(item.value)
            draft.deny_hosts[name] = Value(name, item.origin)
        case rules.DenyPort(port=item):
            draft.deny_ports[int(item.value)] = Value(int(item.value), item.origin)
        case rules.User(spec=spec):
            numbers = identity.numeric(spec)
            # numbers are written as numbers (`01000` is uid 1000); words stay words
            value = f"{numbers[0]}:{numbers[1]}" if numbers else spec
            draft.user = User(value, rule.origin, insecure=rule.insecure)
        case rules.Limit(kind=kind, value=value):
            draft.limits[kind] = Value(value, rule.origin)
        case rules.Env(name=name, value=value):
            draft.env[name] = EnvVar(name, value, rule.origin)
        case rules.Secret(name=name, provider=provider, ref=ref):
            draft.env[name] = SecretRef(name, provider, ref, rule.origin)
        case rules.Capability(name=name):
            draft.capabilities[name] = Capability(name, rule.reason, rule.origin)
        case rules.SeccompDeny(syscalls=items):
            draft.seccomp_deny.update((i.value, Value(i.value, i.origin)) for i in items)
        case rules.SeccompOff():
            draft.seccomp = Value(False, rule.origin)
        case rules.Privileged():
            draft.privileged = Value(True, rule.origin)
        case rules.AllowPrivilegeEscalation():
            draft.no_new_privileges = Value(False, rule.origin)
        case rules.WritableRoot():
            draft.read_only_rootfs = Value(False, rule.origin)


def _mount(draft: _Draft, rule: rules.Read | rules.Write, host: Host) -> None:
    # INVARIANT: the engine binds the path the check judged: the one the written path
    # leads to, every symlink resolved; the container sees it where the rule wrote it
    found = where(rule, host)
    source = found.resolved
    target = normpath(rule.target or rule.path)
    writable = isinstance(rule, rules.Write)
    known = draft.mounts.get(target)
    # INVARIANT: a mount is writable only when a `write` rule names it; `read` never
    # downgrades what a `write` granted, and never upgrades.
    if known is not None and known.source == source and known.writable and not writable:
        return
    draft.mounts[target] = Mount(source, target, writable, rule.origin, found)


def _network(
    draft: _Draft,
    rule: rules.Allow | rules.NetworkOpen | rules.NetworkNone,
    out: Collector,
    reached: addresses.Reach,
) -> None:
    if isinstance(rule, rules.NetworkNone):
        draft.mode, draft.egress = Value(NetworkMode.NONE, rule.origin), []
        return
    if isinstance(rule, rules.NetworkOpen):
        if draft.egress:
            _conflict(rule, draft.egress[-1], out)
        draft.mode = Value(NetworkMode.OPEN, rule.origin)
        return
    if draft.mode.value is NetworkMode.OPEN:
        _conflict(rule, draft.mode, out)
        return
    if draft.mode.value is NetworkMode.NONE:
        draft.mode = Value(NetworkMode.ALLOW_LIST, rule.origin)
    draft.egress.append(
        EgressRule(
            hosts=tuple(Value(hosts.normalise(h.value), h.origin) for h in rule.hosts),
            ports=tuple(Value(int(p.value), p.origin) for p in rule.ports),
            protocols=tuple(Value(rules.IpProtocol(t.value), t.origin) for t in rule.protocols),
            origin=rule.origin,
            covers=tuple(addresses.ordered(classes) for classes in reached),
            acknowledged=_acknowledged(rule, reached),
        )
    )


def _acknowledged(
    rule: rules.Allow, reached: addresses.Reach
) -> tuple[addresses.AddressClass, ...]:
    """The classes the host may dial through this rule: those it covers that its
    `insecure` marker acknowledged."""
    if rule.insecure is None:
        return ()
    covered = frozenset().union(*reached)
    return addresses.ordered(covered & addresses.ACKNOWLEDGEABLE)


def _conflict(rule: rules.Rule, other: EgressRule | Value[NetworkMode], out: Collector) -> None:
    out.error(
        Code.NETWORK_CONFLICT,
        "open egress and an allow-list cannot be combined",
        rule.origin,
        help=f"an open network allows every host, so the allow-list at "
        f"{other.origin.render()} would mean nothing; keep one of them",
    )


def _freeze(draft: _Draft, source: str) -> IR:
    env = sorted(draft.env.values(), key=lambda e: e.name)
    return IR(
        compiled_from=source,
        user=draft.user,
        mounts=tuple(sorted(draft.mounts.values(), key=lambda m: m.target)),
        tmpfs=tuple(sorted(draft.tmpfs.values(), key=lambda t: t.target)),
        masks=tuple(sorted(draft.masks.values(), key=lambda m: m.path)),
        network=Network(
            mode=draft.mode,
            rules=tuple(draft.egress),
            deny_hosts=tuple(sorted(draft.deny_hosts.values(), key=lambda v: v.value)),
            deny_ports=tuple(sorted(draft.deny_ports.values(), key=lambda v: v.value)),
        ),
        capabilities=tuple(sorted(draft.capabilities.values(), key=lambda c: c.name)),
        seccomp=draft.seccomp,
        seccomp_deny=tuple(sorted(draft.seccomp_deny.values(), key=lambda v: v.value)),
        no_new_privileges=draft.no_new_privileges,
        privileged=draft.privileged,
        read_only_rootfs=draft.read_only_rootfs,
        limits=Limits(
            memory=draft.limits[rules.LimitKind.MEMORY],
            cpus=draft.limits[rules.LimitKind.CPUS],
            pids=draft.limits[rules.LimitKind.PIDS],
            nofile=draft.limits[rules.LimitKind.NOFILE],
        ),
        env=tuple(e for e in env if isinstance(e, EnvVar)),
        secrets=tuple(e for e in env if isinstance(e, SecretRef)),
        insecure=tuple(draft.insecure),
    )
