"""Lowering for Podman.

Its differences from Docker, all measured on Podman 4.3's Docker-compatible API:
- it takes a seccomp profile *path*, not inline JSON, so the profile becomes a file the
  launcher writes first, named by its content digest so that equal profiles share one file;
- with `ReadonlyRootfs` it mounts its own writable, executable, unbounded tmpfs on `/run`,
  `/tmp` and `/var/tmp` (seen by `audit` on the gate, which names no `/tmp`); naming them
  in `Tmpfs` replaces them with bounded, `noexec` ones;
- it writes `/run/.containerenv` (mcp-lok binds an empty one in its place) and, when the
  image's `/etc/passwd` has no line for the container's uid, binds its own copies of
  `/etc/passwd` and `/etc/group` with one (the gate's uid, for one);
- its resolver on a bridge network is the network's gateway, known only once the network
  exists, so a server on its own bridge keeps Podman's `/etc/resolv.conf` (named among the
  engine mounts); it lists the host's nameservers as well;
- its `/dev` is `noexec`; it masks eleven kernel paths and makes six read-only (read from
  the OCI spec it hands runc: its compat inspect reports neither list).
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import baseline, layout, seccomp
from ..digest import sha256_hex
from ..ir import IR
from ..origin import Default
from . import mounts
from .payloads import ContainerCreate
from .plan import EngineMount, Payload, PlanFile, Target

PODMAN = Default("podman")
# where Podman would otherwise add its own writable tmpfs to a read-only root
SCRATCH = ("/run", "/tmp", "/var/tmp")
SCRATCH_SIZE = 16 * 1024 * 1024
# its resolver on a bridge is at the network's gateway: Podman's own file stays (named)
OPEN_RESOLVER: str | None = None
# files Podman writes besides /etc/hosts, /etc/hostname and /etc/resolv.conf
OWN_FILES: Mapping[str, str] = {"/run/.containerenv": ""}
MASKED_FOLDERS = ("/proc/acpi", "/proc/scsi", "/sys/dev/block", "/sys/firmware", "/sys/fs/selinux")
READ_ONLY = (
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)


def seccomp_option(policy: IR, target: Target) -> tuple[str, tuple[PlanFile, ...]]:
    content = seccomp.rendered(frozenset(v.value for v in policy.seccomp_deny), 2)
    digest = sha256_hex(content.encode())[:16]
    path = layout.seccomp(target.runtime_dir, digest)
    return f"seccomp={path}", (PlanFile(path, content + "\n"),)


def harden(payload: Payload, read_only: bool) -> None:
    """Replace Podman's own scratch mounts of a read-only root with bounded ones."""
    if not read_only:
        return
    for target in SCRATCH:
        if target not in payload.body["HostConfig"]["Tmpfs"]:
            # INVARIANT: nothing writable in a Podman container is executable or unbounded
            options = f"{baseline.TMPFS_OPTIONS},size={SCRATCH_SIZE}"
            payload.host.add(PODMAN, Tmpfs={target: options})


def engine_mounts(body: ContainerCreate) -> tuple[EngineMount, ...]:
    """Every mount Podman adds to a container created from `body`."""
    return (
        *mounts.kernel(body, ("nosuid", "noexec")),
        *mounts.init(body, "/run/podman-init", "catatonit"),
        *_files(body),
        *mounts.hidden(body, MASKED_FOLDERS, mounts.MASKED_FILES),
        *mounts.read_only(body, READ_ONLY),
    )


def _files(body: ContainerCreate) -> tuple[EngineMount, ...]:
    found = tuple(
        EngineMount(
            path,
            (),
            mounts.READ_ONLY,
            f"Podman's copy of the image's `{path}` with a line for the container's uid, "
            "added only when the image has none",
            optional=True,
        )
        for path in ("/etc/group", "/etc/passwd")
    )
    if not any(m["Target"] == "/etc/resolv.conf" for m in body["HostConfig"]["Mounts"]):
        found += (
            EngineMount(
                "/etc/resolv.conf",
                (),
                mounts.READ_ONLY,
                "Podman's own: its resolver on the server's bridge (the network's gateway, "
                "known once the network exists) and the host's nameservers",
            ),
        )
    return found
