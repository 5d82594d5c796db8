"""Lowering for Podman: its Docker-compatible API takes a seccomp profile *path*, not
inline JSON (measured on Podman 4.3), so the profile becomes a file the launcher writes
first, named by its content digest so that equal profiles share one file."""

from __future__ import annotations

import hashlib

from .. import seccomp
from ..ir import Policy
from .plan import PlanFile, Target


def seccomp_option(policy: Policy, target: Target) -> tuple[str, tuple[PlanFile, ...]]:
    content = seccomp.rendered(frozenset(v.value for v in policy.seccomp_deny), 2)
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    path = f"{target.runtime_dir}/seccomp/{digest}.json"
    return f"seccomp={path}", (PlanFile(path, content + "\n"),)
