"""What a running container has inside, compared with its plan: its mount table
(`/proc/<pid>/mountinfo`, read from the host) and the files mcp-lok binds in place of the
engine's (`/etc/hosts`, `/etc/resolv.conf`, …).

The plan names every mount: the payload's `Mounts` and `Tmpfs`, and what the engine adds
on its own (`engine_mounts`, per container). A mount the plan does not name (an engine
default that came back), one it names that is missing, one of another type, without a
flag the plan promises (`ro`, `nosuid`, `nodev`, `noexec`), of another size, or bound
from somewhere else, is a difference; so is a file whose content is not the plan's.
`audit` and the end-to-end checks both judge with `compare_mounts` and `compare_files`.
Pure: `proc` reads.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from posixpath import normpath
from typing import Any, Final

FLAGS: Final = frozenset({"ro", "rw", "nosuid", "nodev", "noexec"})
PAGE: Final = 4096
_ESCAPE: Final = re.compile(r"\\([0-7]{3})")

# (major:minor, root within that filesystem) of a host path, as a mount of it shows
Locate = Callable[[str], "tuple[str, str] | None"]


@dataclass(frozen=True)
class Mount:
    """One line of `/proc/<pid>/mountinfo` (proc(5))."""

    id: int
    parent: int
    device: str  # major:minor
    root: str  # the path within its filesystem that is mounted
    target: str
    flags: frozenset[str]  # per-mount options
    fstype: str
    source: str
    options: tuple[str, ...]  # the filesystem's own options

    @property
    def size(self) -> int | None:
        """A tmpfs's size in bytes (the kernel shows it in KiB)."""
        for option in self.options:
            if option.startswith("size=") and option.endswith("k"):
                return int(option[5:-1]) * 1024
        return None


def unescape(field: str) -> str:
    """A mountinfo field with the kernel's octal escapes (`\\040` for a space) undone."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse(text: str) -> list[Mount]:
    """The mounts of a mountinfo table, in its order (later mounts stack on earlier)."""
    found = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split(" ")
        dash = fields.index("-", 6)
        found.append(
            Mount(
                id=int(fields[0]),
                parent=int(fields[1]),
                device=fields[2],
                root=unescape(fields[3]),
                target=unescape(fields[4]),
                flags=frozenset(fields[5].split(",")),
                fstype=fields[dash + 1],
                source=unescape(fields[dash + 2]),
                options=tuple(fields[dash + 3].split(",")) if len(fields) > dash + 3 else (),
            )
        )
    return found


@dataclass(frozen=True)
class Expected:
    """A mount the plan names for a container."""

    target: str
    types: frozenset[str]  # empty: any (a bind shows its source's filesystem)
    flags: frozenset[str]  # each must be set
    what: str  # where the plan names it
    size: int | None = None
    beneath: bool = False  # stands for the mounts beneath `target`, not at it
    optional: bool = False
    source: str | None = None  # a bind's host path


def expected(plan: Mapping[str, Any], role: str) -> list[Expected]:
    """Every mount the plan (`policy compile`'s JSON, or a launch record's `plan`) names
    for its `role` container ("server" or "gate")."""
    body = plan["container"] if role == "server" else plan["gate"]["container"]
    host = body["HostConfig"]
    found = [
        Expected(
            m["Target"],
            frozenset(),
            frozenset({"ro" if m.get("ReadOnly") else "rw"}),
            f"HostConfig.Mounts[{m['Target']}]",
            source=m["Source"],
        )
        for m in host.get("Mounts") or ()
    ]
    for target, options in sorted((host.get("Tmpfs") or {}).items()):
        words = options.split(",")
        sizes = [int(w[5:]) for w in words if w.startswith("size=") and w[5:].isdigit()]
        flags = frozenset(w for w in words if w in FLAGS)
        what = f"HostConfig.Tmpfs[{target}]"
        size = sizes[-1] if sizes else None
        found.append(Expected(target, frozenset({"tmpfs"}), flags, what, size))
    for m in (plan.get("engine_mounts") or {}).get(role, ()):
        found.append(
            Expected(
                m["target"],
                frozenset(m["types"]),
                frozenset(m["options"]),
                f"engine_mounts[{m['target']}]",
                m.get("size"),
                bool(m.get("beneath")),
                bool(m.get("optional")),
            )
        )
    return found


@dataclass(frozen=True)
class Difference:
    """One way the inside of a container differs from its plan."""

    kind: str  # "unexpected", "missing", "changed"
    target: str
    expected: str | None
    found: str | None
    what: str  # where the plan names it, or "" for what it does not name

    def describe(self) -> str:
        if self.kind == "unexpected":
            return f"`{self.target}` is `{self.found}`, which the plan does not name"
        if self.kind == "missing":
            return f"`{self.target}` should be `{self.expected}` but is not there"
        return f"`{self.target}` is `{self.found}`, the plan says `{self.expected}`"


def compare_mounts(
    mounts: Sequence[Mount], wanted: Sequence[Expected], locate: Locate | None = None
) -> list[Difference]:
    """How a container's mount table differs from what its plan names. `locate` gives a
    host path's device and root, to check where each bind comes from (None: unchecked)."""
    exact = {e.target: e for e in wanted if not e.beneath}
    below = [e for e in wanted if e.beneath]
    found: list[Difference] = []
    visible: dict[str, Mount] = {}
    for mount in mounts:
        hidden = visible.get(mount.target)
        if hidden is not None:  # a mount beneath another at the same place
            shown = f"{_show(hidden)}, hidden beneath another"
            found.append(Difference("unexpected", hidden.target, None, shown, ""))
        visible[mount.target] = mount
    for target, mount in visible.items():
        want = exact.get(target) or next(
            (e for e in below if target.startswith(e.target.rstrip("/") + "/")), None
        )
        if want is None:
            found.append(Difference("unexpected", target, None, _show(mount), ""))
        elif problem := _mismatch(mount, want, locate):
            found.append(Difference("changed", target, problem[0], problem[1], want.what))
    for want in wanted:
        if not (want.beneath or want.optional or want.target in visible):
            found.append(Difference("missing", want.target, _want(want), None, want.what))
    return found


def _mismatch(mount: Mount, want: Expected, locate: Locate | None) -> tuple[str, str] | None:
    """(expected, found) where `mount` is not what `want` names; None where it is."""
    if want.types and mount.fstype not in want.types:
        return " or ".join(sorted(want.types)), mount.fstype
    if want.flags - mount.flags:
        return ",".join(sorted(want.flags)), ",".join(sorted(mount.flags & FLAGS))
    if want.size is not None and mount.size != -(-want.size // PAGE) * PAGE:
        return f"{want.size} bytes", f"{mount.size} bytes"
    if want.source is not None and locate is not None:
        where = locate(want.source)
        if where is not None and where != (mount.device, mount.root):
            return f"bound from {want.source}", f"bound from {mount.root} on {mount.device}"
    return None


def _show(mount: Mount) -> str:
    flags = ",".join(sorted(mount.flags & FLAGS))
    return f"{mount.fstype} mount ({flags}) of {mount.root}"


def _want(want: Expected) -> str:
    kind = " or ".join(sorted(want.types)) or "bind"
    return f"{kind} mount ({','.join(sorted(want.flags))})"


def locator(host: Sequence[Mount]) -> Locate:
    """Where a (resolved) host path lies, from the host's own mount table: the device and
    the root a bind mount of it shows."""

    def locate(path: str) -> tuple[str, str] | None:
        best: Mount | None = None
        for mount in host:  # the last of the deepest mount points covers the path
            t = mount.target
            if (path == t or path.startswith(t.rstrip("/") + "/")) and (
                best is None or len(t) >= len(best.target)
            ):
                best = mount
        if best is None:
            return None
        rest = path[len(best.target.rstrip("/")) :]
        return best.device, normpath(best.root.rstrip("/") + rest) if rest else best.root

    return locate


def planned_files(plan: Mapping[str, Any], role: str) -> dict[str, str]:
    """What each file the plan binds into its `role` container holds: target → content."""
    body = plan["container"] if role == "server" else plan["gate"]["container"]
    content = {f["path"]: f["content"] for f in plan.get("files", ()) if not f.get("directory")}
    mounts = body["HostConfig"].get("Mounts") or ()
    return {m["Target"]: content[m["Source"]] for m in mounts if m["Source"] in content}


def compare_files(planned: Mapping[str, str], seen: Mapping[str, bytes | None]) -> list[Difference]:
    """The planned files whose content inside (`seen`: target → bytes, None if unreadable)
    is not the plan's. Contents are compared by digest and never shown: a file the
    container put there may hold anything."""
    found = []
    for target, content in sorted(planned.items()):
        data = seen.get(target)
        want = _digest(content.encode())
        if data is None:
            found.append(Difference("missing", target, want, None, f"file[{target}]"))
        elif _digest(data) != want:
            found.append(Difference("changed", target, want, _digest(data), f"file[{target}]"))
    return found


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


__all__ = [
    "Difference",
    "Expected",
    "Mount",
    "compare_files",
    "compare_mounts",
    "expected",
    "locator",
    "parse",
    "planned_files",
    "unescape",
]
