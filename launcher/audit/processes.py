"""Who a running container's processes really are: the uids, gids and supplementary groups
the kernel holds for its init, the init's children and every other process in its cgroup
(what `exec` started), read from the host's /proc.

Inspect reports the `User` a container was created with, which is words the image's files
(or a later `docker exec --user`, or a process that changed its ids) can turn into other
numbers; /proc says what the kernel checks. Each identity is judged by the compiler's own
rule (`mcp_lok.policy.identity.judge`: uid 0, gid 0, a group that may open an engine
socket or a device node on this host) and compared with the plan's `User`. Under a user
namespace the ids are mapped back into the container's to compare them with the plan, and
judged as the host sees them. A process that is gone, or a /proc that cannot be read (an
engine on another host), yields nothing: inspect's `User` stands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mcp_lok.policy.identity import Privilege, judge, numeric
from mcp_lok.policy.ir import Insecurity

from . import cgroup
from .report import Note

PROC: Final = Path("/proc")
CGROUPS: Final = cgroup.ROOT
MAX_PROCESSES: Final = 64  # the init and its children looked at, per container


@dataclass(frozen=True)
class Process:
    """One process's ids as the host sees them, and (`inside`) as its container does."""

    pid: int
    name: str
    uids: frozenset[int]  # real, effective, saved and filesystem uid
    gids: frozenset[int]  # real, effective, saved and filesystem gid
    groups: frozenset[int]  # supplementary groups
    inside: Mapping[str, frozenset[int]]  # the same three, mapped into the container

    @property
    def all_gids(self) -> frozenset[int]:
        return self.gids | self.groups


def read(pid: int, proc: Path | None = None) -> list[Process]:
    """The init `pid` and its children (at most `MAX_PROCESSES`), as /proc (or `proc`)
    reports them."""
    proc = PROC if proc is None else proc
    if pid <= 0:
        return []
    maps = {kind: _id_map(proc / str(pid) / f"{kind}_map") for kind in ("uid", "gid")}
    # the cgroup's members include what `exec` started, which is no child of the init
    pids = dict.fromkeys([pid, *_children(pid, proc), *cgroup.members(pid, proc, CGROUPS)])
    found = []
    for each in list(pids)[:MAX_PROCESSES]:
        process = _status(each, proc, maps)
        if process is not None:
            found.append(process)
    return found


def _children(pid: int, proc: Path) -> list[int]:
    children: list[int] = []
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return []
    for task in tasks:
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return sorted(set(children))


def _status(pid: int, proc: Path, maps: Mapping[str, list[tuple[int, int, int]]]) -> Process | None:
    try:
        lines = (proc / str(pid) / "status").read_text().splitlines()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    try:
        uids, gids, groups = (
            frozenset(map(int, fields[k].split())) for k in ("Uid", "Gid", "Groups")
        )
    except (KeyError, ValueError):
        return None
    inside = {
        "uids": _inside(uids, maps["uid"]),
        "gids": _inside(gids, maps["gid"]),
        "groups": _inside(groups, maps["gid"]),
    }
    return Process(pid, fields.get("Name", "").strip(), uids, gids, groups, inside)


def _id_map(path: Path) -> list[tuple[int, int, int]]:
    """A `uid_map`/`gid_map`: (inside, outside, count) ranges; empty when unreadable."""
    try:
        text = path.read_text()
    except OSError:
        return []
    ranges = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            ranges.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return ranges


def _inside(ids: Iterable[int], ranges: list[tuple[int, int, int]]) -> frozenset[int]:
    """`ids` as the container sees them (the host's ids when no map could be read); an id
    the namespace does not map is the overflow id, 65534, as the kernel shows it."""
    if not ranges:
        return frozenset(ids)
    mapped = set()
    for host_id in ids:
        found = [i + host_id - o for i, o, n in ranges if o <= host_id < o + n]
        mapped.add(found[0] if found else 65534)
    return frozenset(mapped)


# --- judging -------------------------------------------------------------------------------


def privileges(process: Process, groups: Mapping[int, str]) -> list[Privilege]:
    """What makes `process` dangerous on a host whose privileged groups are `groups`."""
    found: dict[tuple[object, int], Privilege] = {}
    for uid in sorted(process.uids):
        for p in judge(uid, process.all_gids, groups):
            found.setdefault((p.what, p.id), p)
    return list(found.values())


def notes(
    processes: list[Process], user: str | None, groups: Mapping[int, str], role: str
) -> list[Note]:
    """What an audit says of `role`'s (server, gate) processes: each privilege that the
    plan's `User` (None: no plan) did not acknowledge, and each process whose ids differ
    from it. With an explicit group, no supplementary group but that one is expected."""
    planned = numeric(user) if user is not None else None
    unacknowledged = (
        "and no plan acknowledges it" if user is None else ("which its plan does not acknowledge")
    )
    found = []
    for process in processes:
        who = f"the {role}'s process {process.pid} (`{process.name}`)"
        for privilege in privileges(process, groups):
            if not _acknowledged(privilege, process, planned):
                found.append(
                    Note(
                        f"{who} runs {_privilege(privilege)}, {unacknowledged}",
                        hint="find out who changed it; remove the container, and relaunch it "
                        "from its policy",
                    )
                )
        if planned is not None and _differs(process, planned):
            found.append(Note(f"{who} runs as {_ids(process)}; its plan says `User` {user}"))
    return found


def _privilege(privilege: Privilege) -> str:
    if privilege.what is Insecurity.ROOT_USER:
        return "as root (uid 0)"
    if privilege.id == 0:
        return "in root's group (gid 0)"
    return f"in the group {privilege.id} (it {privilege.why} on this host)"


def _acknowledged(privilege: Privilege, process: Process, planned: tuple[int, int] | None) -> bool:
    """Whether the plan's own uid or gid is the privilege: those were judged (and needed
    `insecure`) when the plan was compiled. A privileged supplementary group never is."""
    if planned is None:
        return False
    uid, gid = planned
    if privilege.what is Insecurity.ROOT_USER:
        return uid == 0
    return process.gids == {privilege.id} and process.inside["gids"] == {gid}


def _differs(process: Process, planned: tuple[int, int]) -> bool:
    uid, gid = planned
    inside = process.inside
    return inside["uids"] != {uid} or inside["gids"] != {gid} or not inside["groups"] <= {gid}


def _ids(process: Process) -> str:
    inside = process.inside
    uids = ",".join(map(str, sorted(inside["uids"])))
    gids = ",".join(map(str, sorted(inside["gids"])))
    groups = ", ".join(map(str, sorted(inside["groups"]))) or "none"
    return f"uid {uids}, gid {gids} with the supplementary groups {groups}"


__all__ = ["Process", "notes", "privileges", "read"]
