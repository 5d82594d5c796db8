"""The seccomp profile mcp-lok gives every server: a deny list on top of the engine's
capability checks, plus the syscalls a policy adds with `seccomp deny`.

Why a deny list and not Docker's allow list: with every capability dropped and
`no-new-privileges` set, the kernel already refuses most privileged calls; this list closes
what an unprivileged process can still reach — namespaces (user namespaces are the classic
way to regain capabilities), kernel keyrings, `ptrace` and cross-process memory access,
`io_uring`, `userfaultfd`, `bpf`, `perf_event_open`, and mount APIs. It stays short enough
to read in `policy compile` output. Pure data and one pure function.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

EPERM = 1
ENOSYS = 38

DENIED: tuple[str, ...] = tuple(
    sorted(
        {
            # namespaces and mounts: the usual ways back to capabilities
            "unshare",
            "setns",
            "mount",
            "umount",
            "umount2",
            "pivot_root",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            # other processes' memory and tracing
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "kcmp",
            "pidfd_getfd",
            # kernel attack surface unprivileged code can reach
            "bpf",
            "perf_event_open",
            "userfaultfd",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "keyctl",
            "add_key",
            "request_key",
            # host-wide state (already denied by capabilities; listed so the profile says so)
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "reboot",
            "swapon",
            "swapoff",
            "acct",
            "settimeofday",
            "clock_settime",
            "clock_adjtime",
            "adjtimex",
            "syslog",
            "quotactl",
            "quotactl_fd",
            "open_by_handle_at",
            "name_to_handle_at",
            "lookup_dcookie",
            "iopl",
            "ioperm",
            "vhangup",
            "uselib",
            "ustat",
            "sysfs",
            "_sysctl",
            "nfsservctl",
            "create_module",
            "get_kernel_syms",
            "query_module",
            "vm86",
            "vm86old",
            "stime",
        }
    )
)

# clone(2) flags that create namespaces. Each gets its own rule because seccomp can only
# compare `(arg & mask) == value`, so "any of these bits set" is one rule per bit.
CLONE_NAMESPACE_FLAGS: tuple[tuple[str, int], ...] = (
    ("CLONE_NEWTIME", 0x00000080),
    ("CLONE_NEWNS", 0x00020000),
    ("CLONE_NEWCGROUP", 0x02000000),
    ("CLONE_NEWUTS", 0x04000000),
    ("CLONE_NEWIPC", 0x08000000),
    ("CLONE_NEWUSER", 0x10000000),
    ("CLONE_NEWPID", 0x20000000),
    ("CLONE_NEWNET", 0x40000000),
)


@functools.lru_cache(maxsize=64)
def rendered(extra: frozenset[str], indent: int | None) -> str:
    """The profile as deterministic JSON. Memoised: it is a pure function of the extra
    denials, and rendering it is most of what lowering costs."""
    return json.dumps(
        profile(extra),
        sort_keys=True,
        indent=indent,
        ensure_ascii=False,
        separators=(",", ": ") if indent else (",", ":"),
    )


def profile(extra: Iterable[str] = ()) -> dict[str, Any]:
    """The profile as the engines read it (runtime-spec / Docker seccomp JSON)."""
    # clone3 has its own rule below: listed twice with two errnos, the engine either refuses
    # the profile or returns EPERM, and glibc falls back to clone(2) only on ENOSYS
    names = sorted((set(DENIED) | set(extra)) - {"clone3"})
    rules: list[dict[str, Any]] = [
        {"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM},
        # glibc falls back to clone(2) when clone3 says ENOSYS; clone3's flags live in
        # memory seccomp cannot read, so it is refused as a whole.
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
    ]
    rules.extend(
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": EPERM,
            "args": [{"index": 0, "value": bit, "valueTwo": bit, "op": "SCMP_CMP_MASKED_EQ"}],
            "comment": f"refuse {flag}",
        }
        for flag, bit in CLONE_NAMESPACE_FLAGS
    )
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [
            {
                "architecture": "SCMP_ARCH_X86_64",
                "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            },
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": rules,
    }
