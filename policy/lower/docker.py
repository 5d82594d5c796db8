"""Lowering for Docker: the seccomp profile travels inline in `SecurityOpt`."""

from __future__ import annotations

from .. import seccomp
from ..ir import Policy
from .plan import PlanFile, Target


def seccomp_option(policy: Policy, target: Target) -> tuple[str, tuple[PlanFile, ...]]:
    del target
    extra = frozenset(v.value for v in policy.seccomp_deny)
    return f"seccomp={seccomp.rendered(extra, None)}", ()
