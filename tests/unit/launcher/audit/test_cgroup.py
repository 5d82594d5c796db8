from __future__ import annotations

from pathlib import Path

from mcp_lok.launcher.audit.cgroup import live, members
from mcp_lok.launcher.audit.normalise import Live


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_cgroup_v1_limits_are_read_per_controller(tmp_path: Path) -> None:
    proc, root = tmp_path / "proc", tmp_path / "cg"
    write(
        proc / "42" / "cgroup", "8:pids:/docker/c1\n4:memory:/docker/c1\n1:cpu,cpuacct:/docker/c1"
    )
    write(root / "memory" / "docker/c1" / "memory.limit_in_bytes", "268435456")
    write(root / "pids" / "docker/c1" / "pids.max", "128")
    write(root / "cpu" / "docker/c1" / "cpu.cfs_quota_us", "50000")
    write(root / "cpu" / "docker/c1" / "cpu.cfs_period_us", "100000")
    assert live(42, proc, root) == Live(memory=268435456, nano_cpus=500_000_000, pids=128)


def test_no_limit_reads_as_zero(tmp_path: Path) -> None:
    proc, root = tmp_path / "proc", tmp_path / "cg"
    write(proc / "7" / "cgroup", "4:memory:/x\n8:pids:/x\n1:cpu:/x")
    write(root / "memory" / "x" / "memory.limit_in_bytes", "9223372036854771712")
    write(root / "pids" / "x" / "pids.max", "max")
    write(root / "cpu" / "x" / "cpu.cfs_quota_us", "-1")
    write(root / "cpu" / "x" / "cpu.cfs_period_us", "100000")
    assert live(7, proc, root) == Live(memory=0, nano_cpus=0, pids=0)


def test_cgroup_v2_reads_the_unified_hierarchy(tmp_path: Path) -> None:
    proc, root = tmp_path / "proc", tmp_path / "cg"
    write(proc / "9" / "cgroup", "0::/system.slice/libpod-c2.scope")
    folder = root / "system.slice/libpod-c2.scope"
    write(folder / "memory.max", "536870912")
    write(folder / "cpu.max", "100000 100000")
    write(folder / "pids.max", "2048")
    assert live(9, proc, root) == Live(memory=536870912, nano_cpus=1_000_000_000, pids=2048)
    write(folder / "cpu.max", "max 100000")
    (folder / "memory.max").unlink()
    assert live(9, proc, root) == Live(memory=None, nano_cpus=0, pids=2048)


def test_unreadable_limits_are_none(tmp_path: Path) -> None:
    assert live(0) is None
    assert live(12345678, tmp_path, tmp_path) is None
    write(tmp_path / "5" / "cgroup", "3:cpuset:/x")
    assert live(5, tmp_path, tmp_path) is None
    write(tmp_path / "6" / "cgroup", "4:memory:/x")
    assert live(6, tmp_path, tmp_path) == Live(None, None, None)


def test_the_members_of_a_containers_cgroup_are_listed(tmp_path: Path) -> None:
    proc, root = tmp_path / "proc", tmp_path / "cg"
    write(proc / "42" / "cgroup", "8:pids:/docker/c1\n4:memory:/docker/c1")
    write(root / "pids" / "docker/c1" / "cgroup.procs", "42\n43\n77")
    assert members(42, proc, root) == [42, 43, 77]
    write(proc / "9" / "cgroup", "0::/system.slice/libpod-c2.scope")
    write(root / "system.slice/libpod-c2.scope" / "cgroup.procs", "9")
    assert members(9, proc, root) == [9]


def test_the_root_cgroup_or_an_unreadable_one_has_no_members(tmp_path: Path) -> None:
    proc, root = tmp_path / "proc", tmp_path / "cg"
    write(proc / "1" / "cgroup", "8:pids:/\n0::/")
    write(root / "pids" / "cgroup.procs", "1\n2\n3")  # the host's: never read
    assert members(1, proc, root) == []
    write(proc / "5" / "cgroup", "8:pids:/docker/gone")
    assert members(5, proc, root) == []
    assert members(0, proc, root) == []
    assert members(6, proc, root) == []
