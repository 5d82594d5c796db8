"""Diff two launch plans: what changed, field by field, and which rule set each side.

Payloads are compared as trees: the server's create body, the gate's create body and its
config, and the networks (keyed by name), in that order, each level in sorted key order.
Paths use the trace's notation (`HostConfig.Memory`, `Labels[mcp-lok-policy]`), except
that elements of lists whose order means nothing (`Env`, `CapAdd`, `CapDrop`, `Mounts`,
`SecurityOpt`, `Ulimits`, and the gate's host and port lists) are keyed by what identifies
them (`Env[HOME]`, `HostConfig.Mounts[/srv]`, `HostConfig.SecurityOpt[seccomp]`) rather
than by position, so adding a mount is one change, not a shift of every later index. An
element on one side only is one change carrying the whole element; one on both sides is
compared inside. The seccomp profile is compared by its rules
(`HostConfig.SecurityOpt[seccomp].syscalls[ptrace]`), whether it travels inline (Docker) or
as a plan file (Podman), instead of as two opaque blobs.

Origins come from each plan's trace: the entry for the path or else its nearest traced
parent, looked up through the element's index in that plan. The gate's config has no trace;
the networks take the origin of the server's network mode. JSON `null` counts as absent.
Plan files are not compared on their own: `gate.json` is the gate's config, seccomp files
are compared through `SecurityOpt`, and `resolv.conf` is fixed text.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from .lower.plan import LaunchPlan, canonical_json
from .origin import Origin
from .record import record

Path = tuple[str, ...]  # rendered segments: `.Field` or `[key]`

_MAPS: Final = frozenset({"Labels", "Tmpfs", "Sysctls", "networks", "syscalls", "conditional"})
_KEYS: Final[Mapping[str, Callable[[Any], str]]] = {
    "Env": lambda item: str(item).partition("=")[0],
    "SecurityOpt": lambda item: re.split("[=:]", str(item), maxsplit=1)[0],
    "Mounts": lambda item: str(item["Target"]),
    "Ulimits": lambda item: str(item["Name"]),
    **dict.fromkeys(
        ("CapAdd", "CapDrop", "hosts", "ports", "protocols", "deny_hosts", "deny_ports"), str
    ),
}
_SECCOMP: Final = "seccomp="


@record
class Change:
    path: str
    before: Any  # None when absent
    after: Any  # None when absent
    origin_before: Origin | None = None
    origin_after: Origin | None = None

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        return "removed" if self.after is None else "changed"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "change": self.kind,
            "before": self.before,
            "after": self.after,
            "origin_before": _render_origin(self.origin_before),
            "origin_after": _render_origin(self.origin_after),
        }


@record
class _Side:
    """One plan's view of one payload: its trace and the files a seccomp path names."""

    trace: Mapping[str, Origin]
    files: Mapping[str, str]

    def origin(self, at: Path) -> Origin | None:
        for end in range(len(at), 0, -1):
            found = self.trace.get(_render(at[:end]))
            if found is not None:
                return found
        return None


def diff(a: LaunchPlan, b: LaunchPlan) -> list[Change]:
    """Every difference from `a` to `b`, in a deterministic order."""
    files_a = {f.path: f.content for f in a.files}
    files_b = {f.path: f.content for f in b.files}
    changes: list[Change] = []
    if a.engine is not b.engine:
        changes.append(Change("engine", a.engine.value, b.engine.value))
    server = _Differ(_Side(a.server.trace, files_a), _Side(b.server.trace, files_b))
    changes += server.walk((), a.server.body, b.server.body, (), ())
    changes += _gates(a, b, files_a, files_b)
    networks = _Differ(
        _Side({"networks": a.server.trace["HostConfig.NetworkMode"]}, files_a),
        _Side({"networks": b.server.trace["HostConfig.NetworkMode"]}, files_b),
    )
    changes += networks.walk(
        (".networks",),
        {n["Name"]: n for n in a.networks},
        {n["Name"]: n for n in b.networks},
        (".networks",),
        (".networks",),
    )
    return changes


def _gates(
    a: LaunchPlan, b: LaunchPlan, files_a: Mapping[str, str], files_b: Mapping[str, str]
) -> Iterator[Change]:
    """The gates' bodies when both plans have one, else one change for the gate itself;
    then their configs (a missing gate has an empty config, so its duties show)."""
    if a.gate is None and b.gate is None:
        return
    if a.gate is not None and b.gate is not None:
        gate = _Differ(
            _Side(a.gate.container.trace, files_a), _Side(b.gate.container.trace, files_b)
        )
        yield from gate.walk((".gate",), a.gate.container.body, b.gate.container.body, (), ())
    else:
        (name_a, origin_a), (name_b, origin_b) = _gate_summary(a), _gate_summary(b)
        yield Change("gate", name_a, name_b, origin_a, origin_b)
    config = _Differ(_Side({}, files_a), _Side({}, files_b))
    yield from config.walk(
        (".gate", ".config"),
        a.gate.config.to_dict() if a.gate else {},
        b.gate.config.to_dict() if b.gate else {},
        (),
        (),
    )


def _gate_summary(plan: LaunchPlan) -> tuple[str | None, Origin | None]:
    if plan.gate is None:
        return None, None
    return plan.gate.container.name, plan.gate.container.trace["HostConfig.NetworkMode"]


class _Differ:
    """Walks two payloads of the same kind, one plan's side each."""

    def __init__(self, a: _Side, b: _Side) -> None:
        self.a, self.b = a, b

    def walk(self, path: Path, x: Any, y: Any, at_x: Path, at_y: Path) -> Iterator[Change]:
        if x == y:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            yield from self._maps(path, x, y, at_x, at_y)
        elif isinstance(x, list) and isinstance(y, list):
            yield from self._lists(path, x, y, at_x, at_y)
        elif path[-2:] == (".SecurityOpt", "[seccomp]"):
            yield from self._seccomp(path, x, y, at_x, at_y)
        else:
            yield Change(
                _render(path),
                x,
                y,
                None if x is None else self.a.origin(at_x),
                None if y is None else self.b.origin(at_y),
            )

    def _maps(
        self, path: Path, x: dict[str, Any], y: dict[str, Any], at_x: Path, at_y: Path
    ) -> Iterator[Change]:
        keyed = _field(path) in _MAPS
        for key in sorted(x.keys() | y.keys()):
            part = f"[{key}]" if keyed else f".{key}"
            yield from self.walk(
                (*path, part), x.get(key), y.get(key), (*at_x, part), (*at_y, part)
            )

    def _lists(
        self, path: Path, x: list[Any], y: list[Any], at_x: Path, at_y: Path
    ) -> Iterator[Change]:
        key = _KEYS.get(_field(path))
        if key is None:  # order matters (`Cmd`, the gate's rules): compare by position
            for i in range(max(len(x), len(y))):
                part = f"[{i}]"
                yield from self.walk(
                    (*path, part),
                    x[i] if i < len(x) else None,
                    y[i] if i < len(y) else None,
                    (*at_x, part),
                    (*at_y, part),
                )
            return
        by_x, by_y = _keyed(x, key), _keyed(y, key)
        for name in sorted(by_x.keys() | by_y.keys()):
            i, item_x = by_x.get(name, (-1, None))
            j, item_y = by_y.get(name, (-1, None))
            yield from self.walk(
                (*path, f"[{name}]"), item_x, item_y, (*at_x, f"[{i}]"), (*at_y, f"[{j}]")
            )

    def _seccomp(self, path: Path, x: Any, y: Any, at_x: Path, at_y: Path) -> Iterator[Change]:
        profile_x, profile_y = _profile(x, self.a.files), _profile(y, self.b.files)
        if profile_x is not None and profile_y is not None:
            yield from self.walk(path, profile_x, profile_y, at_x, at_y)
            return
        yield Change(
            _render(path),
            _summary(x, profile_x),
            _summary(y, profile_y),
            None if x is None else self.a.origin(at_x),
            None if y is None else self.b.origin(at_y),
        )


def _render(path: Path) -> str:
    return "".join(path).removeprefix(".")


def _field(path: Path) -> str:
    """The field a value sits in; empty for an element of a list or map, which is a record."""
    return path[-1][1:] if path and path[-1].startswith(".") else ""


def _keyed(items: list[Any], key: Callable[[Any], str]) -> dict[str, tuple[int, Any]]:
    """Items by their key; a repeated key gets `#2`, `#3`… in order of appearance."""
    seen: Counter[str] = Counter()
    out: dict[str, tuple[int, Any]] = {}
    for i, item in enumerate(items):
        name = key(item)
        seen[name] += 1
        out[name if seen[name] == 1 else f"{name}#{seen[name]}"] = (i, item)
    return out


def _profile(option: Any, files: Mapping[str, str]) -> dict[str, Any] | None:
    """A seccomp option's profile in a comparable form, or None (unconfined, unreadable)."""
    if not isinstance(option, str) or not option.startswith(_SECCOMP):
        return None
    value = option.removeprefix(_SECCOMP)
    inline = value.startswith("{")
    text = value if inline else files.get(value)
    try:
        raw = json.loads(text) if text is not None else None
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        return None
    syscalls: dict[str, str] = {}
    conditional: dict[str, Any] = {}
    for rule in raw.get("syscalls", []):
        if rule.get("args"):
            conditional[rule.get("comment") or canonical_json(rule)] = rule
            continue
        errno = f" errno {rule['errnoRet']}" if "errnoRet" in rule else ""
        syscalls.update(dict.fromkeys(rule.get("names", []), f"{rule['action']}{errno}"))
    rest = {k: v for k, v in raw.items() if k != "syscalls"}
    return {
        **rest,
        "passed": "inline" if inline else "file",
        "syscalls": syscalls,
        "conditional": conditional,
    }


def _summary(option: Any, profile: dict[str, Any] | None) -> str | None:
    if profile is not None:
        return f"seccomp profile with {len(profile['syscalls'])} system call rules"
    if option is None or len(str(option)) <= 80:
        return None if option is None else str(option)
    return f"{str(option)[:77]}..."


def _render_origin(origin: Origin | None) -> str | None:
    return None if origin is None else origin.render()


def render_human(changes: list[Change]) -> str:
    """`- path: before  (origin)` / `+ path: after  (origin)` lines, ending with a newline."""
    if not changes:
        return "no differences\n"
    lines: list[str] = []
    for change in changes:
        for sign, value, origin in (
            ("-", change.before, change.origin_before),
            ("+", change.after, change.origin_after),
        ):
            if value is not None:
                where = f"  ({origin.render()})" if origin is not None else ""
                lines.append(f"{sign} {change.path}: {canonical_json(value)}{where}")
    return "\n".join(lines) + "\n"


def render_json(changes: list[Change]) -> str:
    """Deterministic JSON (sorted keys), ending with a newline."""
    return canonical_json([change.to_json() for change in changes], indent=2) + "\n"


__all__ = ["Change", "diff", "render_human", "render_json"]
