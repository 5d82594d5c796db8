"""Lowering for Podman.

Two differences from Docker, both measured on Podman 4.3's Docker-compatible API:
- it takes a seccomp profile *path*, not inline JSON, so the profile becomes a file the
  launcher writes first, named by its content digest so that equal profiles share one file;
- with `ReadonlyRootfs` it mounts its own writable, executable, unbounded tmpfs on `/run`,
  `/tmp` and `/var/tmp` (seen by `audit` on the gate, which names no `/tmp`); naming them
  in `Tmpfs` replaces them with bounded, `noexec` ones.
"""

from __future__ import annotations

from .. import baseline, seccomp
from ..digest import sha256_hex
from ..ir import Policy
from ..origin import Default
from .plan import Payload, PlanFile, Target

PODMAN = Default("podman")
# where Podman would otherwise add its own writable tmpfs to a read-only root
SCRATCH = ("/run", "/tmp", "/var/tmp")
SCRATCH_SIZE = 16 * 1024 * 1024


def seccomp_option(policy: Policy, target: Target) -> tuple[str, tuple[PlanFile, ...]]:
    content = seccomp.rendered(frozenset(v.value for v in policy.seccomp_deny), 2)
    digest = sha256_hex(content.encode())[:16]
    path = f"{target.runtime_dir}/seccomp/{digest}.json"
    return f"seccomp={path}", (PlanFile(path, content + "\n"),)


def harden(payload: Payload, read_only: bool) -> None:
    """Replace Podman's own scratch mounts of a read-only root with bounded ones."""
    if not read_only:
        return
    for target in SCRATCH:
        if target not in payload.body["HostConfig"]["Tmpfs"]:
            # INVARIANT: nothing writable in a Podman container is executable or unbounded
            payload.put(
                "HostConfig.Tmpfs", target, f"{baseline.TMPFS_OPTIONS},size={SCRATCH_SIZE}", PODMAN
            )
