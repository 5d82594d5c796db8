"""Benchmark checks on a running container: CIS Docker Benchmark v1.6.0 section 5 (the
container-runtime checks that `inspect` can answer) and the Kubernetes Pod Security
Standards' *restricted* profile, translated to engine fields.

Each check reads one `normalise.View` of what the engine reports, so Docker and Podman
are judged alike; a mount by where its source leads on the host (`mounts.py`). Numbering
as in v1.6.0 (docs/audit.md says what `audit` reports). Left out: 5.1 (swarm mode:
the engine's, not a container's), 5.2/5.3 (AppArmor, SELinux: host-dependent), 5.7 (sshd:
needs `exec`), 5.23/5.24 (`exec` options: not in inspect), 5.25 (cgroup parent: site
policy), 5.27 (health checks), 5.28 (image freshness). Pure: no engine, no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from mcp_lok.policy import baseline
from mcp_lok.policy.host import HostPath, PathKind
from mcp_lok.policy.layout import RUNTIME_ROOT

from . import mounts
from .normalise import DEFAULT_CAPS, PODMAN_DEFAULT_CAPS, View

# Pod Security's "safe" sysctls (namespaced, and allowed by the baseline profile)
SAFE_SYSCTLS: Final = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
DEFAULT_BRIDGES: Final = frozenset({"bridge", "podman"})  # docker0's and Podman's default


class Status(enum.Enum):
    PASS = "pass"  # noqa: S105 (a check's outcome, not a password)
    FAIL = "fail"
    WARN = "warn"  # cannot be decided from inspect, or a deliberate, bounded opening


@dataclass(frozen=True)
class Check:
    id: str  # "CIS 5.5", "PSS restricted/capabilities"
    title: str
    status: Status
    finding: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "finding": self.finding,
            "fix": self.fix,
        }


class Context:
    """What the checks read: the view, where mcp-lok's own host files live, and what the
    host said of each mount's source (`paths`; a source it was not asked about is judged
    as a folder that leads to itself)."""

    def __init__(
        self,
        view: View,
        runtime_dir: str = RUNTIME_ROOT,
        paths: Mapping[str, HostPath] | None = None,
    ) -> None:
        self.fields = view.fields
        self.unreported = view.unreported
        self.runtime_dir = runtime_dir.rstrip("/")
        self.paths = paths or {}

    def entries(self, prefix: str) -> dict[str, Any]:
        head = prefix + "["
        return {k[len(head) : -1]: v for k, v in self.fields.items() if k.startswith(head)}

    @property
    def caps(self) -> set[str]:
        return set(self.entries("HostConfig.Capabilities"))

    @property
    def mounts(self) -> dict[str, dict[str, Any]]:
        return self.entries("HostConfig.Mounts")

    @property
    def privileged(self) -> bool:
        return bool(self.fields.get("HostConfig.Privileged"))

    @property
    def no_new_privileges(self) -> bool:
        return bool(self.fields.get("HostConfig.SecurityOpt[no-new-privileges]"))

    @property
    def seccomp(self) -> str:
        """The seccomp profile in force: "unconfined" when privileged, whatever it says."""
        if self.privileged:
            return "unconfined"
        return str(self.fields.get("HostConfig.SecurityOpt[seccomp]", "engine default"))

    def own(self, source: str) -> bool:
        return source == self.runtime_dir or source.startswith(self.runtime_dir + "/")

    def where(self, source: str) -> HostPath:
        """Where a mount's source leads on the host, as the compiler judges it."""
        return self.paths.get(source) or HostPath(source, source, PathKind.DIRECTORY)


def _check(cid: str, title: str, ok: bool, good: str, bad: str, fix: str) -> Check:
    return Check(
        cid, title, Status.PASS if ok else Status.FAIL, good if ok else bad, "" if ok else fix
    )


# --- CIS Docker Benchmark v1.6.0, section 5 ---------------------------------------------


def _cis_process(c: Context) -> Iterator[Check]:
    caps = c.caps
    extra = sorted(caps - DEFAULT_CAPS) if "ALL" not in caps else ["ALL"]
    # holding an engine's whole default set means nothing was dropped
    restricted = not extra and not (caps >= PODMAN_DEFAULT_CAPS)
    yield _check(
        "CIS 5.4", "Linux kernel capabilities are restricted", restricted,
        f"holds {_words(sorted(caps)) or 'no capability'}",
        f"holds {_words(extra) if extra else 'every default capability'}",
        "drop all capabilities (`CapDrop: [ALL]`) and add back only what a rule names",
    )  # fmt: skip
    yield _check(
        "CIS 5.5", "privileged containers are not used", not c.privileged,
        "not privileged", "the container is privileged",
        "recreate it without `--privileged`: `mcp-lok rm` and launch it again",
    )  # fmt: skip
    yield _check(
        "CIS 5.26", "the container cannot acquire additional privileges", c.no_new_privileges,
        "no-new-privileges is set", "no-new-privileges is not set",
        "add `--security-opt no-new-privileges`",
    )  # fmt: skip
    yield _check(
        "CIS 5.22", "the default seccomp profile is not disabled", c.seccomp != "unconfined",
        f"seccomp: {_seccomp_words(c.seccomp)}",
        "no seccomp filter (unconfined or privileged)",
        "remove `seccomp=unconfined`; mcp-lok's baseline profile applies by default",
    )  # fmt: skip
    yield _check(
        "CIS 5.13", "the root filesystem is mounted read-only",
        bool(c.fields.get("HostConfig.ReadonlyRootfs")), "read-only root filesystem",
        "the root filesystem is writable", "add `--read-only`, with a tmpfs for scratch space",
    )  # fmt: skip


def _cis_namespaces(c: Context) -> Iterator[Check]:
    mode = str(c.fields.get("HostConfig.NetworkMode", "none"))
    yield _check(
        "CIS 5.10", "the host's network namespace is not shared", mode != "host",
        f"network: {mode}", "shares the host's network namespace",
        "recreate it without `--network host`",
    )  # fmt: skip
    for cid, key, word in (
        ("CIS 5.16", "PidMode", "process"),
        ("CIS 5.17", "IpcMode", "IPC"),
        ("CIS 5.21", "UTSMode", "UTS"),
        ("CIS 5.31", "UsernsMode", "user"),
    ):
        shared = c.fields.get(f"HostConfig.{key}") == "host"
        yield _check(
            cid, f"the host's {word} namespace is not shared", not shared,
            f"own {word} namespace", f"shares the host's {word} namespace",
            f"recreate it without `--{key[:-4].lower()} host`",
        )  # fmt: skip
    networks = sorted(set(c.fields.get("Networks") or ()) & DEFAULT_BRIDGES)
    yield _check(
        "CIS 5.30", "the engine's default bridge is not used", not networks,
        "not on a default bridge", f"attached to the default network {_words(networks)}",
        f"disconnect it from {_words(networks)} (the engine's `network disconnect`), or "
        "remove it and launch it again with mcp-lok, whose servers never join one",
    )  # fmt: skip


def _cis_resources(c: Context) -> Iterator[Check]:
    memory = int(c.fields.get("HostConfig.Memory") or 0)
    yield _check(
        "CIS 5.11", "memory usage is limited", memory > 0, f"memory limit {_mib(memory)}",
        "no memory limit", "set `--memory`",
    )  # fmt: skip
    cpus = int(c.fields.get("HostConfig.NanoCpus") or 0)
    count = f"{cpus / 1e9:g} CPU" + ("" if cpus == 10**9 else "s")
    yield _check(
        "CIS 5.12", "CPU usage is limited", cpus > 0, count, "no CPU limit", "set `--cpus`",
    )  # fmt: skip
    pids = int(c.fields.get("HostConfig.PidsLimit") or 0)
    yield _check(
        "CIS 5.29", "the PIDs cgroup limit is used", pids > 0, f"at most {pids} processes",
        "no PIDs limit", "set `--pids-limit`",
    )  # fmt: skip
    limits = sorted(c.entries("HostConfig.Ulimits"))
    yield Check(
        "CIS 5.19", "default ulimits are overridden where needed",
        Status.PASS if limits else Status.WARN,
        f"ulimits set: {_words(limits)}" if limits else "the engine's default ulimits apply",
        ""
        if limits
        else f"set `--ulimit nofile={baseline.NOFILE}:{baseline.NOFILE}` and "
        f"`--ulimit nproc={baseline.NPROC}:{baseline.NPROC}`, as mcp-lok's baseline does",
    )  # fmt: skip
    restart = str(c.fields.get("HostConfig.RestartPolicy", "no"))
    name, _, count = restart.partition(":")
    ok = name == "no" or (name == "on-failure" and 0 < int(count or 0) <= 5)
    yield _check(
        "CIS 5.15", "the restart policy is `no` or `on-failure` at most 5 times", ok,
        f"restart policy `{restart}`", f"restart policy `{restart}` restarts without bound",
        "use `--restart on-failure:5` or no restart policy",
    )  # fmt: skip


def _cis_host_access(c: Context) -> Iterator[Check]:
    # INVARIANT: a mount is judged where its source leads on the host now, by the
    # compiler's own rules, never by the text of its path
    bad = mounts.dangerous(c)
    yield _check(
        "CIS 5.6", "sensitive host directories are not mounted", not bad,
        "no sensitive host path is mounted", f"mounts {'; '.join(bad)}",
        "remove the mount; grant the server a narrower folder",
    )  # fmt: skip
    reached = mounts.sockets(c)
    yield _check(
        "CIS 5.32", "the engine socket is not mounted", not reached,
        "no engine socket is mounted", f"mounts {'; '.join(reached)}",
        "remove the mount: control of the engine is control of the host",
    )  # fmt: skip
    shared = sorted(t for t, m in c.mounts.items() if m["Propagation"] in ("shared", "rshared"))
    yield _check(
        "CIS 5.20", "mount propagation is not shared", not shared,
        "no mount propagates to the host", f"shared propagation on {_words(shared)}",
        "mount with the default `rprivate` propagation",
    )  # fmt: skip
    devices = list(c.fields.get("HostConfig.Devices") or ())
    yield _check(
        "CIS 5.18", "host devices are not exposed", not devices, "no host device",
        f"host devices {_words(devices)}", "remove `--device`",
    )  # fmt: skip
    yield from _cis_ports(c)


def _cis_ports(c: Context) -> Iterator[Check]:
    ports = list(c.fields.get("HostConfig.PortBindings") or ())
    everything = bool(c.fields.get("HostConfig.PublishAllPorts"))
    yield _check(
        "CIS 5.9", "only needed ports are open", not ports and not everything,
        "no port is published", f"published: {_words(ports) or 'every exposed port'}",
        "publish nothing: mcp-lok's proxy reaches the server through the engine",
    )  # fmt: skip
    low = [p for p in ports if 0 < _host_port(p) < 1024]
    yield _check(
        "CIS 5.8", "privileged ports are not mapped", not low, "no privileged host port",
        f"privileged host ports {_words(low)}", "publish on a port of 1024 or more, or not at all",
    )  # fmt: skip
    wide = [p for p in ports if p.split(":", 1)[0] in ("0.0.0.0", "::", "[::]", "")]  # noqa: S104 (compares, binds nothing)
    yield _check(
        "CIS 5.14", "incoming traffic is bound to a specific host interface", not wide,
        "no port listens on every interface", f"listens on every interface: {_words(wide)}",
        "publish on `127.0.0.1:PORT`, or not at all",
    )  # fmt: skip


def _host_port(binding: str) -> int:
    port = binding.split("->", 1)[0].rsplit(":", 1)[-1]
    return int(port) if port.isdigit() else 0


# --- Kubernetes Pod Security Standards, restricted --------------------------------------


def _pss(c: Context) -> Iterator[Check]:
    caps = c.caps
    extra = sorted(caps - baseline.SAFE_CAPABILITIES)
    yield _check(
        "PSS restricted/capabilities", "drop ALL, add back only NET_BIND_SERVICE", not extra,
        f"holds {_words(sorted(caps)) or 'no capability'}", f"holds {_words(extra)}",
        "drop `ALL` and add back at most `NET_BIND_SERVICE`",
    )  # fmt: skip
    yield _check(
        "PSS baseline/privileged", "privileged containers are disallowed",
        not c.privileged, "not privileged", "privileged",
        "recreate it unprivileged",
    )  # fmt: skip
    yield _check(
        "PSS restricted/privilege-escalation", "privilege escalation is disallowed",
        c.no_new_privileges,
        "allowPrivilegeEscalation: false (no-new-privileges)", "privilege escalation is allowed",
        "add `--security-opt no-new-privileges`",
    )  # fmt: skip
    yield _check(
        "PSS restricted/seccomp", "a seccomp profile is set (RuntimeDefault or Localhost)",
        c.seccomp != "unconfined", f"seccomp: {_seccomp_words(c.seccomp)}", "seccomp is Unconfined",
        "remove `seccomp=unconfined`",
    )  # fmt: skip
    yield _user(c)
    shared = [
        word
        for key, word in (("NetworkMode", "network"), ("PidMode", "PID"), ("IpcMode", "IPC"))
        if c.fields.get(f"HostConfig.{key}") == "host"
    ]
    yield _check(
        "PSS baseline/host-namespaces", "host namespaces are not shared", not shared,
        "no host namespace", f"shares the host's {_words(shared)} namespace",
        "recreate it without `--network/--pid/--ipc host`",
    )  # fmt: skip
    yield from _pss_host(c)


def _user(c: Context) -> Check:
    user = str(c.fields.get("User") or "")
    uid = user.partition(":")[0]
    title = "runs as a non-root user"
    fix = "run as a numeric non-root user, e.g. `--user 65534:65534`"
    if uid.isdigit():
        return _check(
            "PSS restricted/run-as-non-root", title, uid != "0", f"uid {uid}", "uid 0 (root)", fix
        )
    if not uid or uid == "root":
        finding = "the image's default user (may be root)" if not uid else "root"
        return Check("PSS restricted/run-as-non-root", title, Status.FAIL, finding, fix)
    return Check(
        "PSS restricted/run-as-non-root", title, Status.WARN,
        f"the named user `{uid}`: whether it is root depends on the image", fix,
    )  # fmt: skip


def _pss_host(c: Context) -> Iterator[Check]:
    paths = sorted(m["Source"] for m in c.mounts.values() if not c.own(m["Source"]))
    yield Check(
        "PSS restricted/volume-types", "no hostPath volumes",
        Status.WARN if paths else Status.PASS,
        f"host folders granted by policy: {_words(paths)}" if paths else "no host path",
        "grant only what the server needs, read-only where it can" if paths else "",
    )  # fmt: skip
    ports = list(c.fields.get("HostConfig.PortBindings") or ())
    yield _check(
        "PSS baseline/host-ports", "no host ports", not ports, "no host port",
        f"host ports {_words(ports)}", "publish nothing",
    )  # fmt: skip
    sysctls = c.entries("HostConfig.Sysctls")
    unsafe = sorted(set(sysctls) - SAFE_SYSCTLS)
    if "HostConfig.Sysctls" in c.unreported:
        yield Check(
            "PSS baseline/sysctls", "only safe sysctls", Status.WARN,
            "this engine does not report sysctls",
        )  # fmt: skip
    else:
        yield _check(
            "PSS baseline/sysctls", "only safe sysctls", not unsafe,
            f"sysctls: {_words(sorted(sysctls)) or 'none'}", f"unsafe sysctls {_words(unsafe)}",
            "remove the unsafe `--sysctl`",
        )  # fmt: skip


CHECKS: Final[tuple[Callable[[Context], Iterator[Check]], ...]] = (
    _cis_process,
    _cis_namespaces,
    _cis_resources,
    _cis_host_access,
    _pss,
)


def check(
    view: View,
    runtime_dir: str = RUNTIME_ROOT,
    paths: Mapping[str, HostPath] | None = None,
) -> list[Check]:
    """Every check, in benchmark order (CIS by number, then Pod Security). `paths`: where
    each mount's source leads on the host."""
    context = Context(view, runtime_dir, paths)
    found = [c for group in CHECKS for c in group(context)]
    cis = sorted((c for c in found if c.id.startswith("CIS")), key=lambda c: _number(c.id))
    return cis + [c for c in found if not c.id.startswith("CIS")]


def _number(cid: str) -> tuple[int, ...]:
    return tuple(int(part) for part in cid.split()[-1].split("."))


def _words(items: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f"`{i}`" for i in items)


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB" if size % (1024 * 1024) == 0 else f"{size} bytes"


def _seccomp_words(value: str) -> str:
    if value.startswith("inline:"):
        return "mcp-lok's profile (inline)"
    return "the engine's default profile" if value == "engine default" else f"`{value}`"


def summary(checks: Mapping[str, Check] | list[Check]) -> dict[str, int]:
    items = list(checks.values()) if isinstance(checks, Mapping) else checks
    return {s.value: sum(c.status is s for c in items) for s in Status}


__all__ = ["CHECKS", "Check", "Context", "Status", "check", "summary"]
