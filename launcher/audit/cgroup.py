"""Live resource limits of a container, read from its cgroup on the host.

Podman 4.3 keeps reporting the create-time `Memory`, `NanoCpus` and `PidsLimit` in
inspect after `podman update` changed the cgroup (measured here: `podman update
--memory 200m` set `memory.limit_in_bytes` to 209715200 while inspect still said
536870912), so `audit` reads the limits the kernel enforces. Works for cgroup v1 and v2;
anything unreadable (another host's engine, a stopped container) is None, and inspect's
value stands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from .normalise import Live

ROOT: Final = Path("/sys/fs/cgroup")
_UNLIMITED_V1: Final = 1 << 62  # cgroup v1 reports "no limit" as a huge page-aligned number


def live(pid: int, proc: Path = Path("/proc"), root: Path = ROOT) -> Live | None:
    """The limits of the cgroup that process `pid` (on the host) is in."""
    paths = _paths(pid, proc)
    if paths is None:
        return None
    if "memory" in paths:  # cgroup v1
        return Live(
            memory=_limit(root / "memory" / paths["memory"] / "memory.limit_in_bytes"),
            nano_cpus=_cpu_v1(root / "cpu" / paths.get("cpu", paths["memory"])),
            pids=_limit(root / "pids" / paths.get("pids", paths["memory"]) / "pids.max"),
        )
    if "" in paths:  # cgroup v2: one unified hierarchy
        folder = root / paths[""]
        return Live(
            memory=_limit(folder / "memory.max"),
            nano_cpus=_cpu_v2(folder / "cpu.max"),
            pids=_limit(folder / "pids.max"),
        )
    return None


def members(pid: int, proc: Path = Path("/proc"), root: Path = ROOT) -> list[int]:
    """Every process in the cgroup process `pid` is in (a container's: its init, the init's
    children and whatever `exec` started in it), as host pids; none for the root cgroup,
    which holds the host's own."""
    paths = _paths(pid, proc) or {}
    for controller in ("pids", "memory", ""):  # any v1 controller names the same members
        path = paths.get(controller)
        if path:
            text = _read(root / controller / path / "cgroup.procs")
            if text is not None:
                return [int(p) for p in text.split() if p.isdigit()]
    return []


def _paths(pid: int, proc: Path) -> dict[str, str] | None:
    """Controller → cgroup path of process `pid` ("" is cgroup v2's unified hierarchy)."""
    if pid <= 0:
        return None
    try:
        lines = (proc / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return None
    paths: dict[str, str] = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path.lstrip("/")
    return paths


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _limit(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    if text == "max":
        return 0
    value = int(text)
    return 0 if value >= _UNLIMITED_V1 else value


def _cpu_v1(folder: Path) -> int | None:
    quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
    if quota is None or period is None:
        return None
    return _nano(quota, period)


def _cpu_v2(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    quota, _, period = text.partition(" ")
    return _nano(quota, period or "100000")


def _nano(quota: str, period: str) -> int:
    if quota in ("max", "-1") or int(period) <= 0:
        return 0
    return int(quota) * 10**9 // int(period)


__all__ = ["live", "members"]
