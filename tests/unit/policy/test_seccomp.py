"""The seccomp profile: a short deny list on top of dropped capabilities, with every
namespace-creating path closed."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_lok.policy import names, seccomp

ERRNO = "SCMP_ACT_ERRNO"


def _deny_list(profile: dict[str, Any]) -> list[str]:
    [rule] = [r for r in profile["syscalls"] if "args" not in r and r["errnoRet"] == seccomp.EPERM]
    return list(rule["names"])


def test_the_profile_allows_by_default_and_names_its_architectures() -> None:
    profile = seccomp.profile()
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    assert profile["archMap"] == [
        {
            "architecture": "SCMP_ARCH_X86_64",
            "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        },
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ]
    assert len(profile["syscalls"]) == 2 + len(seccomp.CLONE_NAMESPACE_FLAGS)


@pytest.mark.parametrize(
    "syscall",
    ["unshare", "setns", "ptrace", "mount", "bpf", "userfaultfd", "io_uring_setup", "keyctl"],
)
def test_the_escape_hatches_are_refused_with_eperm(syscall: str) -> None:
    assert syscall in _deny_list(seccomp.profile())


def test_clone3_is_refused_with_enosys_so_that_glibc_falls_back_to_clone() -> None:
    rules = [r for r in seccomp.profile()["syscalls"] if "clone3" in r["names"]]
    assert rules == [{"names": ["clone3"], "action": ERRNO, "errnoRet": 38}]
    assert seccomp.ENOSYS == 38


def test_one_clone_rule_per_namespace_flag() -> None:
    clone_rules = [r for r in seccomp.profile()["syscalls"] if r["names"] == ["clone"]]
    assert clone_rules == [
        {
            "names": ["clone"],
            "action": ERRNO,
            "errnoRet": 1,
            "args": [{"index": 0, "value": bit, "valueTwo": bit, "op": "SCMP_CMP_MASKED_EQ"}],
            "comment": f"refuse {flag}",
        }
        for flag, bit in seccomp.CLONE_NAMESPACE_FLAGS
    ]
    flags = dict(seccomp.CLONE_NAMESPACE_FLAGS)
    assert flags == {
        "CLONE_NEWTIME": 0x80,
        "CLONE_NEWNS": 0x20000,
        "CLONE_NEWCGROUP": 0x2000000,
        "CLONE_NEWUTS": 0x4000000,
        "CLONE_NEWIPC": 0x8000000,
        "CLONE_NEWUSER": 0x10000000,
        "CLONE_NEWPID": 0x20000000,
        "CLONE_NEWNET": 0x40000000,
    }
    # one bit each, so that `(flags & bit) == bit` means "this namespace"
    assert all(bin(bit).count("1") == 1 for bit in flags.values())


def test_the_deny_list_is_sorted_unique_and_made_of_real_syscalls() -> None:
    assert list(seccomp.DENIED) == sorted(set(seccomp.DENIED))
    assert set(seccomp.DENIED) <= names.SYSCALLS
    assert "clone3" not in seccomp.DENIED
    assert _deny_list(seccomp.profile()) == list(seccomp.DENIED)


def test_extra_denials_merge_sorted_without_repeats() -> None:
    deny = _deny_list(seccomp.profile(["personality", "acct", "personality", "chroot"]))
    assert deny == sorted({*seccomp.DENIED, "personality", "chroot"})
    assert deny.count("acct") == 1
    assert deny.index("chroot") < deny.index("personality")


def test_an_extra_clone3_keeps_its_enosys_rule_alone() -> None:
    profile = seccomp.profile(["clone3", "personality"])
    assert [r for r in profile["syscalls"] if "clone3" in r["names"]] == [
        {"names": ["clone3"], "action": ERRNO, "errnoRet": 38}
    ]
    assert profile == seccomp.profile(["personality"])


def test_the_profile_is_a_fresh_value_each_time() -> None:
    first = seccomp.profile()
    first["syscalls"][0]["names"].append("read")
    assert "read" not in _deny_list(seccomp.profile())
