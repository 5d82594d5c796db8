"""Lowering for Docker: the seccomp profile travels inline in `SecurityOpt`; what Docker
mounts on its own, and its resolver on a bridge network.

Measured on Docker 20.10 (`/proc/<pid>/mountinfo` of servers and gates, and inspect's
`MaskedPaths` and `ReadonlyPaths`): besides the kernel's filesystems (`mounts.kernel`) it
binds its init (tini) at `/usr/sbin/docker-init`, hides ten kernel paths and makes five
read-only. Its `/dev` is not `noexec`. On a user-defined network it serves names at
127.0.0.11 in the container's own namespace, and keeps doing so when `/etc/resolv.conf`
is mcp-lok's file naming it (measured: a server on its bridge resolves through it).
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import seccomp
from ..ir import IR
from . import mounts
from .payloads import ContainerCreate
from .plan import EngineMount, PlanFile, Target

# the engine's own resolver on a bridge network, at a fixed address: the only one that
# works from a private bridge wherever the host's own resolver is on its loopback
OPEN_RESOLVER: str | None = "nameserver 127.0.0.11\noptions ndots:0\n"
# files Docker writes besides /etc/hosts, /etc/hostname and /etc/resolv.conf: none (its
# empty `/.dockerenv` is part of its init layer, not a mount)
OWN_FILES: Mapping[str, str] = {}
MASKED_FOLDERS = ("/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware")
READ_ONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def seccomp_option(policy: IR, target: Target) -> tuple[str, tuple[PlanFile, ...]]:
    del target
    extra = frozenset(v.value for v in policy.seccomp_deny)
    return f"seccomp={seccomp.rendered(extra, None)}", ()


def engine_mounts(body: ContainerCreate) -> tuple[EngineMount, ...]:
    """Every mount Docker adds to a container created from `body`."""
    return (
        *mounts.kernel(body, ("nosuid",)),
        *mounts.init(body, "/usr/sbin/docker-init", "tini"),
        *mounts.hidden(body, MASKED_FOLDERS, mounts.MASKED_FILES),
        *mounts.read_only(body, READ_ONLY),
    )
