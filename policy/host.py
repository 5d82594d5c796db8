"""What the compiler knows about the host: where a granted path really leads, which groups
are root by another name, and which addresses are the host's own.

A grant is judged by what it reaches, not by how it is spelled, and what it reaches is a
fact about the host the policy runs on: a symlink, a socket inside a folder, a group that
owns `/var/run/docker.sock`. The check pass asks a `Host` for these facts; `ThisHost`
(`thishost.py`) reads them from this machine, `FixedHost` states them (for tests, and for
snapshots that must not depend on the machine they are taken on). The compiler itself only
judges the facts; lowering never asks the host anything.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Protocol

from .record import field, record


class PathKind(enum.Enum):
    """What a resolved host path is (`lstat` of the path after every symlink)."""

    DIRECTORY = "folder"
    FILE = "file"
    SOCKET = "Unix socket"
    CHAR_DEVICE = "character device"
    BLOCK_DEVICE = "block device"
    FIFO = "named pipe"
    MISSING = "missing path"
    UNRESOLVABLE = "path that cannot be resolved"  # a symlink loop, or a folder mcp-lok cannot read
    OTHER = "special file"


class Inside(enum.Enum):
    """What a folder holds that makes granting it more than granting files."""

    SOCKET = "Unix socket"
    CHAR_DEVICE = "character device"
    BLOCK_DEVICE = "block device"
    ENGINE_FOLDER = "container engine's folder"
    MOUNT_POINT = "mount point"  # not carried into the container: binds are non-recursive
    UNREADABLE = "folder mcp-lok cannot read"  # what it holds is unknown
    CREDENTIALS = "store of credentials"  # keys, tokens, password hashes


@record
class Found:
    """One thing found beneath a granted folder, by its resolved path."""

    path: str
    what: Inside


@record
class HostPath:
    """A host path as the policy wrote it, and where it leads on this host.

    `resolved` has every symlink resolved, in every component (a missing tail is kept as
    written). `found` lists what a folder holds beneath it (sockets, devices, engine
    folders, mount points), `truncated` says the search stopped at its bound before the
    end. `replaceable` says why a user other than root or the invoking user could change
    where the path leads between the check and the engine's bind (None: nobody can)."""

    written: str
    resolved: str
    kind: PathKind
    found: tuple[Found, ...] = ()
    truncated: bool = False
    replaceable: str | None = None
    # the device and inode the path had when it was judged, so a launch can tell that it
    # changed since; not part of what a plan means
    identity: tuple[int, int] | None = field(default=None, compare=False)


class Host(Protocol):
    """The facts the check pass asks for. Implementations must not raise for a path that
    does not exist or cannot be read: they describe it (`PathKind.MISSING`, `replaceable`)."""

    def path(self, written: str) -> HostPath:
        """Where the absolute, normalised `written` path leads."""
        ...

    def privileged_groups(self) -> Mapping[int, str]:
        """Group ids that are root by another name, each with why (e.g. "owns
        `/var/run/docker.sock`"); gid 0 is always among them."""
        ...

    def own_addresses(self) -> frozenset[str]:
        """Every address of this host's interfaces (bridges included), as text."""
        ...


@record
class FixedHost:
    """A host described by its facts: paths resolve to themselves as empty folders unless
    `paths` says otherwise. For tests, and for snapshots that must mean the same on every
    machine."""

    paths: Mapping[str, HostPath] = field(default_factory=dict)
    groups: Mapping[int, str] = field(default_factory=lambda: {0: "is root's group"})
    addresses: frozenset[str] = frozenset({"127.0.0.1", "::1"})

    def path(self, written: str) -> HostPath:
        known = self.paths.get(written)
        if known is not None:
            return known
        return HostPath(written, written, PathKind.DIRECTORY)

    def privileged_groups(self) -> Mapping[int, str]:
        return self.groups

    def own_addresses(self) -> frozenset[str]:
        return self.addresses


__all__ = ["FixedHost", "Found", "Host", "HostPath", "Inside", "PathKind"]
