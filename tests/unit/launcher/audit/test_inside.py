"""`inside`: a container's mount table and mcp-lok's files in it, against its plan. The
tables in `data/inside/` were captured from `/proc/<pid>/mountinfo` of servers and gates
launched with `mcp-lok start` on Docker 20.10 and Podman 4.3 (with this host's own table):
an allow-list on each engine (server and gate), and Podman's open network (its own
`/etc/resolv.conf` named among the engine mounts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mcp_lok.launcher.audit.inside import (
    Difference,
    Expected,
    Mount,
    compare_files,
    compare_mounts,
    expected,
    locator,
    parse,
    planned_files,
    unescape,
)

DATA = Path(__file__).parent / "data" / "inside"
CASES = ("docker-allow", "podman-allow", "podman-open")
HOST = parse((DATA / "host-mountinfo.txt").read_text())


def load(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{case}.json").read_text())
    return data


def roles(case: str) -> list[str]:
    return ["server", "gate"] if load(case)["plan"]["gate"] else ["server"]


def differences(case: str, role: str, table: str | None = None) -> list[Difference]:
    data = load(case)
    mounts = parse(table if table is not None else data["mountinfo"][role])
    return compare_mounts(mounts, expected(data["plan"], role), locator(HOST))


def edited(case: str, role: str, old: str, new: str) -> str:
    table: str = load(case)["mountinfo"][role]
    assert old in table
    return table.replace(old, new, 1)


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("/plain/path", "/plain/path"),
        ("/with\\040space", "/with space"),
        ("/tab\\011and\\012newline", "/tab\tand\nnewline"),
        ("/back\\134slash", "/back\\slash"),
        ("/not\\04an-escape\\", "/not\\04an-escape\\"),  # only three octal digits are one
    ],
)
def test_unescape(field: str, text: str) -> None:
    assert unescape(field) == text


def test_parse_reads_every_field_with_optional_fields_and_escapes() -> None:
    text = (
        "36 35 98:0 /mnt\\0401 /in\\040here rw,noatime master:1 shared:7 - ext3 /dev/my\\040disk "
        "rw,errors=continue\n"
        "\n"
        "40 36 0:50 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=16384k\n"
        "41 36 0:51 / /weird rw - none none\n"
    )
    first, shm, bare = parse(text)
    assert first == Mount(
        id=36,
        parent=35,
        device="98:0",
        root="/mnt 1",
        target="/in here",
        flags=frozenset({"rw", "noatime"}),
        fstype="ext3",
        source="/dev/my disk",
        options=("rw", "errors=continue"),
    )
    assert (first.size, shm.size) == (None, 16 * 1024 * 1024)
    assert (bare.fstype, bare.source, bare.options) == ("none", "none", ())


# --- the captured tables match their plans ------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_untampered_containers_are_exactly_their_plans(case: str) -> None:
    for role in roles(case):
        assert differences(case, role) == [], (case, role)


def test_the_plan_names_every_kind_of_mount() -> None:
    wanted = {e.target: e for e in expected(load("podman-allow")["plan"], "server")}
    bind = wanted["/etc/hosts"]
    assert (bind.types, bind.flags, bind.what) == (
        frozenset(),
        frozenset({"ro"}),
        "HostConfig.Mounts[/etc/hosts]",
    )
    assert bind.source == "/run/mcp-lok/cap-podman-allow/etc/server/hosts"
    tmp = wanted["/tmp"]
    assert (tmp.types, tmp.flags, tmp.size) == (
        frozenset({"tmpfs"}),
        frozenset({"rw", "noexec", "nosuid", "nodev"}),
        64 * 1024 * 1024,
    )
    shm = wanted["/dev/shm"]
    assert (shm.what, shm.size) == ("engine_mounts[/dev/shm]", 16 * 1024 * 1024)
    assert wanted["/proc/kcore"].optional


# --- what tampering looks like -----------------------------------------------------------

SHM = "/ /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=16384k"


def test_an_engine_default_that_came_back_is_unexpected() -> None:
    line = "999 104 254:0 /etc/hosts /etc/hosts ro,relatime - ext4 /dev/vda rw\n"
    table = load("podman-allow")["mountinfo"]["server"] + line
    hidden, visible = differences("podman-allow", "server", table)
    # the host's /etc/hosts over mcp-lok's: ours is hidden beneath it, and what the server
    # reads is bound from elsewhere
    assert (hidden.kind, hidden.target, hidden.what) == ("unexpected", "/etc/hosts", "")
    assert hidden.found is not None
    assert "/run/mcp-lok/cap-podman-allow/etc/server/hosts" in hidden.found
    assert hidden.describe().endswith("which the plan does not name")
    assert (visible.kind, visible.found) == ("changed", "bound from /etc/hosts on 254:0")


def test_a_mount_the_plan_does_not_name_is_unexpected() -> None:
    line = "998 104 0:99 / /mnt/x rw,relatime - tmpfs tmpfs rw\n"
    table = load("docker-allow")["mountinfo"]["server"] + line
    [found] = differences("docker-allow", "server", table)
    assert (found.kind, found.target, found.expected) == ("unexpected", "/mnt/x", None)
    assert found.found == "tmpfs mount (rw) of /"
    assert found.describe() == "`/mnt/x` is `tmpfs mount (rw) of /`, which the plan does not name"


def test_a_named_mount_that_is_gone_is_missing() -> None:
    table = "\n".join(
        line for line in load("docker-allow")["mountinfo"]["gate"].splitlines() if SHM not in line
    )
    [found] = differences("docker-allow", "gate", table)
    assert (found.kind, found.target, found.what) == (
        "missing",
        "/dev/shm",
        "engine_mounts[/dev/shm]",
    )
    assert found.describe() == (
        "`/dev/shm` should be `tmpfs mount (nodev,noexec,nosuid)` but is not there"
    )


def test_optional_kernel_paths_may_be_absent() -> None:
    # the kernel here has no /proc/kcore: named, optional, not mounted, no difference
    data = load("docker-allow")
    assert "/proc/kcore" in {e.target for e in expected(data["plan"], "server") if e.optional}
    assert " /proc/kcore " not in data["mountinfo"]["server"]


@pytest.mark.parametrize(
    ("old", "new", "want", "found"),
    [
        (SHM, SHM.replace("16384k", "65536k"), "16777216 bytes", "67108864 bytes"),
        (SHM, SHM.replace("noexec,", ""), "nodev,noexec,nosuid", "nodev,nosuid,rw"),
        (SHM, SHM.replace("tmpfs shm", "ramfs shm"), "tmpfs", "ramfs"),
    ],
)
def test_a_changed_mount_says_what_the_plan_says(old: str, new: str, want: str, found: str) -> None:
    table = edited("podman-allow", "server", old, new)
    [diff] = differences("podman-allow", "server", table)
    assert (diff.kind, diff.target, diff.expected, diff.found) == (
        "changed",
        "/dev/shm",
        want,
        found,
    )
    assert diff.what == "engine_mounts[/dev/shm]"


def test_a_writable_own_file_and_one_bound_from_elsewhere_are_changed() -> None:
    hosts = "/run/mcp-lok/cap-docker-allow/etc/server/hosts /etc/hosts ro,"
    writable = edited("docker-allow", "server", hosts, hosts.replace(" ro,", " rw,"))
    [diff] = differences("docker-allow", "server", writable)
    assert (diff.target, diff.expected, diff.found) == ("/etc/hosts", "ro", "rw")
    elsewhere = edited("docker-allow", "server", hosts, "/etc/hosts /etc/hosts ro,")
    [diff] = differences("docker-allow", "server", elsewhere)
    assert diff.expected == "bound from /run/mcp-lok/cap-docker-allow/etc/server/hosts"
    assert diff.found == "bound from /etc/hosts on 254:0"
    assert diff.describe().startswith("`/etc/hosts` is `bound from /etc/hosts on 254:0`, the plan")


def test_mounts_beneath_the_cgroup_tree_must_be_read_only_cgroups() -> None:
    cpu = "/sys/fs/cgroup/cpu ro,"
    table = edited("docker-allow", "server", cpu, "/sys/fs/cgroup/cpu rw,")
    [diff] = differences("docker-allow", "server", table)
    assert (diff.target, diff.what) == ("/sys/fs/cgroup/cpu", "engine_mounts[/sys/fs/cgroup]")


def test_without_a_locator_sources_are_not_checked() -> None:
    data = load("docker-allow")
    hosts = "/run/mcp-lok/cap-docker-allow/etc/server/hosts /etc/hosts ro,"
    table = edited("docker-allow", "server", hosts, "/etc/hosts /etc/hosts ro,")
    assert compare_mounts(parse(table), expected(data["plan"], "server")) == []


def test_the_locator_finds_the_deepest_mount_and_its_root() -> None:
    host = parse(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "2 1 0:30 / /run rw - tmpfs tmpfs rw\n"
        "3 1 8:1 /srv/data /data rw - ext4 /dev/sda1 rw\n"
        "4 2 0:31 / /run rw - tmpfs tmpfs rw\n"  # a second tmpfs over /run: the later counts
    )
    locate = locator(host)
    assert locate("/etc/hosts") == ("8:1", "/etc/hosts")
    assert locate("/run/mcp-lok/x/hosts") == ("0:31", "/mcp-lok/x/hosts")
    assert locate("/run") == ("0:31", "/")
    assert locate("/data/a/b") == ("8:1", "/srv/data/a/b")
    assert locate("/runner") == ("8:1", "/runner")
    assert locator([])("/x") is None


def test_expected_reads_a_plan_without_engine_mounts() -> None:
    plan = load("docker-allow")["plan"]
    del plan["engine_mounts"]
    assert all(e.what.startswith("HostConfig.") for e in expected(plan, "gate"))


def test_describe_each_kind() -> None:
    want = Expected("/x", frozenset({"tmpfs"}), frozenset({"ro"}), "engine_mounts[/x]")
    assert compare_mounts([], [want])[0].describe() == (
        "`/x` should be `tmpfs mount (ro)` but is not there"
    )
    bind = Expected("/y", frozenset(), frozenset({"rw"}), "HostConfig.Mounts[/y]")
    assert compare_mounts([], [bind])[0].describe() == (
        "`/y` should be `bind mount (rw)` but is not there"
    )


# --- files --------------------------------------------------------------------------------


def test_planned_files_are_the_binds_of_plan_files() -> None:
    plan = load("podman-allow")["plan"]
    server = planned_files(plan, "server")
    assert server == {
        "/etc/hostname": "cap-podman-allow\n",
        "/etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        "/etc/resolv.conf": "nameserver 127.0.0.53\noptions ndots:1\n",
        "/run/.containerenv": "",
    }
    gate = planned_files(plan, "gate")
    assert gate["/etc/resolv.conf"].startswith("# no nameserver")
    # Podman's own resolv.conf on a bridge is not the plan's to compare
    assert "/etc/resolv.conf" not in planned_files(load("podman-open")["plan"], "server")


def test_files_are_compared_by_digest_and_never_shown() -> None:
    planned = {"/etc/hosts": "127.0.0.1\tlocalhost\n", "/etc/hostname": "srv\n"}
    same = {k: v.encode() for k, v in planned.items()}
    assert compare_files(planned, same) == []
    secret = b"10.0.0.1 vault.internal\n"
    changed, missing = compare_files(planned, {"/etc/hosts": secret, "/etc/hostname": None})
    assert (changed.kind, changed.target, changed.what) == (
        "missing",
        "/etc/hostname",
        "file[/etc/hostname]",
    )
    assert (missing.kind, missing.target) == ("changed", "/etc/hosts")
    assert missing.expected is not None
    assert missing.found is not None
    assert missing.expected.startswith("sha256:")
    assert missing.found.startswith("sha256:")
    assert "vault" not in repr((changed, missing))
