"""A running container's bind mounts judged by where their sources lead on the host, with
the policy compiler's own rules (`mcp_lok.policy.paths`): one judgement for `policy
check`, the launch and `audit`, never a copy.

`where` asks a `Host` (this machine, in `collect`) what each source leads to now;
`dangerous` and `sockets` are what CIS 5.6 and 5.32 report, in the compiler's words;
`changed` finds a planned source that leads elsewhere since the plan was made.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from mcp_lok.policy.host import Host, HostPath, PathKind
from mcp_lok.policy.paths import askable, mount_kind, normal, path_dangers

from .normalise import View
from .record import Record

if TYPE_CHECKING:  # `cis` imports this module
    from .cis import Context

# the rows of a bind that hands the server a socket or a device of the host, or an engine
_SOCKETS: Final = frozenset(
    {"engine-socket", "engine-folder", "host-socket", "holds-socket", "unsearched-mount"}
)


def where(view: View, host: Host) -> dict[str, HostPath]:
    """Where each mount's source in `view` leads on `host`."""
    sources = {
        str(v["Source"]) for k, v in view.fields.items() if k.startswith("HostConfig.Mounts[")
    }
    return {source: host.path(normal(source)) for source in sources if askable(source)}


def granted(c: Context) -> Iterator[tuple[HostPath, bool]]:
    """Every bind that is not mcp-lok's own: where its source leads, and whether it is
    writable."""
    for _, mount in sorted(c.mounts.items()):
        if not c.own(mount["Source"]):
            yield c.where(mount["Source"]), not mount["ReadOnly"]


def dangerous(c: Context) -> list[str]:
    """Each bind that leads somewhere the compiler refuses without `insecure`, in its words."""
    found = []
    for reached, writable in granted(c):
        dangers = path_dangers(reached, writable=writable)
        if dangers:
            found.append(dangers[0][1])
    return found


def sockets(c: Context) -> list[str]:
    """Each bind that reaches a socket or a device of the host, or an engine's folder."""
    return [
        path_dangers(reached, writable=writable)[0][1]
        for reached, writable in granted(c)
        if mount_kind(reached, writable) in _SOCKETS
    ]


def changed(record: Record, runtime_dir: str, host: Host) -> list[str]:
    """A host path the plan bound must still lead where it led when the plan was made; one
    that leads elsewhere now was moved or swapped since, and a launch from the same policy
    would get something else. What changed, a sentence per path."""
    body = record.body("server") or {}
    own = runtime_dir.rstrip("/") + "/"
    notes = []
    for spec in (body.get("HostConfig") or {}).get("Mounts") or ():
        source, target = str(spec["Source"]), str(spec["Target"])
        if source.startswith(own) or not askable(source):
            continue
        now = host.path(normal(source))
        if now.kind is PathKind.MISSING:
            change = "no longer exists on the host"
        elif now.kind is PathKind.UNRESOLVABLE:
            change = "can no longer be resolved on the host"
        elif now.resolved != source:
            change = f"now leads to `{now.resolved}`"
        else:
            continue
        notes.append(
            f"the host path `{source}` mounted at `{target}` {change}: it changed since the "
            "plan was made"
        )
    return notes


__all__ = ["changed", "dangerous", "sockets", "where"]
