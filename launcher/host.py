"""`ThisHost`: the host facts the compiler judges grants by, read from this machine.

Where a path leads (every symlink resolved, component by component, as the engine's bind
will resolve it), what a granted folder holds beneath it (sockets, device nodes, engine
folders, mount points), whether a user other than root or the invoking user could change
where it leads before the engine binds it, which groups own a device node or an engine
socket, and the host's own addresses. Judging the facts is the compiler's job
(`mcp_lok.policy.check`); this module only reads. It never follows a symlink it has not
resolved itself, and every walk is bounded.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from posixpath import join, normpath

from mcp_lok.policy import baseline
from mcp_lok.policy.host import Found, HostPath, Inside, PathKind

MAX_LINKS = 40  # as the kernel's MAXSYMLINKS
# entries looked at beneath one granted folder; beyond it the grant is refused, not trusted
SCAN_LIMIT = 200_000
MAX_FOUND = 20  # things reported per folder; more are summarised by the first ones
GROUP_SCAN_LIMIT = 20_000  # entries of /dev and the engines' folders read for groups


class ThisHost:
    """The facts of this machine, read when first asked and kept for one compile: every
    pass of a compile judges the same facts, and a big folder is searched once. A launch
    looks again with a new `ThisHost`."""

    def __init__(self, uid: int | None = None) -> None:
        # the users whose folders may lead anywhere: root and whoever runs mcp-lok
        self.trusted = frozenset({0, os.geteuid() if uid is None else uid})
        self._groups: dict[int, str] | None = None
        self._mounts: frozenset[str] | None = None
        self._paths: dict[str, HostPath] = {}

    def path(self, written: str) -> HostPath:
        known = self._paths.get(written)
        if known is None:
            known = self._paths[written] = self._look(written)
        return known

    def _look(self, written: str) -> HostPath:
        resolved, broken = resolve(written)
        if broken:
            return HostPath(written, resolved, PathKind.UNRESOLVABLE)
        try:
            info = os.lstat(resolved)
        except OSError:
            kind, identity = PathKind.MISSING, None
        else:
            kind, identity = _kind(info.st_mode), (info.st_dev, info.st_ino)
        found: tuple[Found, ...] = ()
        truncated = False
        if kind is PathKind.DIRECTORY:
            found, truncated = self._scan(resolved)
        return HostPath(
            written,
            resolved,
            kind,
            found,
            truncated,
            replaceable(resolved, self.trusted),
            identity,
        )

    def privileged_groups(self) -> Mapping[int, str]:
        if self._groups is None:
            self._groups = privileged_groups()
        return self._groups

    def own_addresses(self) -> frozenset[str]:
        # imported when first asked: only address rules ask, and it loads the proxy package
        # (asyncio, `socket`, `ipaddress`: tens of ms) that a `policy` command does without
        from mcp_lok.proxy.hostaddr import own_addresses

        return frozenset(str(address) for address in own_addresses())

    def mount_points(self) -> frozenset[str]:
        if self._mounts is None:
            self._mounts = mount_points()
        return self._mounts

    def _scan(self, folder: str) -> tuple[tuple[Found, ...], bool]:
        found: list[Found] = []
        if baseline.is_engine_folder(folder):
            found.append(Found(folder, Inside.ENGINE_FOLDER))
        mounts = self.mount_points()
        seen = 0
        for path, what in _beneath(folder, mounts):
            if what is None:  # an entry looked at: only counted
                seen += 1
                if seen > SCAN_LIMIT:
                    return tuple(found), True
            elif len(found) < MAX_FOUND:
                found.append(Found(path, what))
            elif what is not Inside.MOUNT_POINT and all(
                f.what is Inside.MOUNT_POINT for f in found
            ):
                # the list is full: keep its first entries, but a socket, device or engine
                # folder must be in it, so that the grant is judged by the worst it holds
                found[-1] = Found(path, what)
        return tuple(found), False


def resolve(path: str) -> tuple[str, bool]:
    """`path` with every symlink resolved, in every component, and whether resolving
    failed (a loop, or a folder mcp-lok may not look into). A missing tail is kept as
    written: the engine would refuse to bind it, and the check pass says so first."""
    pending = [p for p in reversed(path.split("/")) if p not in ("", ".")]
    done, links = "/", 0
    while pending:
        part = pending.pop()
        if part == "..":
            done = os.path.dirname(done)
            continue
        candidate = join(done, part)
        try:
            info = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            return normpath(join(candidate, *reversed(pending))), False
        except OSError:
            return normpath(join(candidate, *reversed(pending))), True
        if not stat.S_ISLNK(info.st_mode):
            done = candidate
            continue
        links += 1
        if links > MAX_LINKS:
            return path, True
        try:
            target = os.readlink(candidate)
        except OSError:
            return path, True
        if target.startswith("/"):
            done = "/"
        pending.extend(p for p in reversed(target.split("/")) if p not in ("", "."))
    return done, False


def replaceable(resolved: str, trusted: frozenset[int]) -> str | None:
    """Why a user outside `trusted` could make `resolved` lead elsewhere (None: none can).

    Every folder on the way must belong to a trusted user and be writable by nobody else,
    unless it is sticky (like /tmp) and the entry in it belongs to a trusted user. ACLs are
    not read: a folder that grants write through an ACL is not seen as writable."""
    current = "/"
    for part in [p for p in resolved.split("/") if p]:
        try:
            folder = os.lstat(current)
        except OSError:
            return None  # what does not exist cannot be replaced by anyone but its maker
        child = join(current, part)
        try:
            entry: os.stat_result | None = os.lstat(child)
        except OSError:
            entry = None
        if folder.st_uid not in trusted:
            return f"the folder `{current}` belongs to uid {folder.st_uid}"
        if folder.st_mode & 0o022:
            if not folder.st_mode & stat.S_ISVTX:
                who = "everyone" if folder.st_mode & 0o002 else f"group {folder.st_gid}"
                return f"the folder `{current}` is writable by {who}"
            if entry is not None and entry.st_uid not in trusted:
                return f"`{child}` belongs to uid {entry.st_uid}, in the shared folder `{current}`"
        if entry is None:
            return None
        current = child
    return None


def _kind(mode: int) -> PathKind:
    for test, kind in (
        (stat.S_ISDIR, PathKind.DIRECTORY),
        (stat.S_ISREG, PathKind.FILE),
        (stat.S_ISSOCK, PathKind.SOCKET),
        (stat.S_ISCHR, PathKind.CHAR_DEVICE),
        (stat.S_ISBLK, PathKind.BLOCK_DEVICE),
        (stat.S_ISFIFO, PathKind.FIFO),
    ):
        if test(mode):
            return kind
    return PathKind.OTHER


_INSIDE = {
    PathKind.SOCKET: Inside.SOCKET,
    PathKind.CHAR_DEVICE: Inside.CHAR_DEVICE,
    PathKind.BLOCK_DEVICE: Inside.BLOCK_DEVICE,
}


def _beneath(folder: str, mounts: frozenset[str]) -> Iterator[tuple[str, Inside | None]]:
    """Every entry beneath `folder` (None), and what among them matters. Symlinks are not
    followed: inside the container they resolve against its own filesystem. Mount points
    are reported and not entered: binds are non-recursive, so they are not carried in. A
    folder that cannot be read is reported: what it holds is unknown."""
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            yield current, Inside.UNREADABLE
            continue
        for entry in entries:
            yield entry.path, None
            if entry.is_symlink():
                continue
            if entry.name in baseline.CREDENTIAL_NAMES:
                yield entry.path, Inside.CREDENTIALS  # `.ssh`, `.netrc`: file or folder
                continue
            if entry.is_file(follow_symlinks=False):
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.path in mounts:
                    yield entry.path, Inside.MOUNT_POINT
                elif baseline.is_engine_folder(entry.path):
                    yield entry.path, Inside.ENGINE_FOLDER
                else:
                    stack.append(entry.path)
                continue
            try:
                kind = _kind(entry.stat(follow_symlinks=False).st_mode)
            except OSError:
                continue
            if kind in _INSIDE:
                yield entry.path, _INSIDE[kind]


def mount_points() -> frozenset[str]:
    """Every mount point of mcp-lok's mount namespace (the engines' too, on this host)."""
    found: set[str] = set()
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
            for line in table:
                fields = line.split(" ")
                if len(fields) > 4:
                    found.add(_unescape(fields[4]))
    except OSError:
        pass
    return frozenset(found)


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (`\\040`)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def privileged_groups() -> dict[int, str]:
    """Groups that are root by another name: root's own, and every group that may open a
    device node (under /dev) or an engine's socket (under /run and the engines' folders)."""
    groups = {0: "is root's group"}
    seen = 0
    for root in ("/dev", "/run"):
        stack = [root]
        while stack and seen < GROUP_SCAN_LIMIT:
            current = stack.pop()
            try:
                entries = list(os.scandir(current))
            except OSError:
                continue
            for entry in entries:
                seen += 1
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                mode = info.st_mode
                if stat.S_ISDIR(mode):
                    stack.append(entry.path)
                    continue
                device = stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                engine = stat.S_ISSOCK(mode) and baseline.is_engine_socket(entry.path)
                if (device or engine) and mode & 0o060 and info.st_gid != 0:
                    groups.setdefault(info.st_gid, f"may open `{entry.path}`")
    return groups


__all__ = ["ThisHost", "mount_points", "privileged_groups", "replaceable", "resolve"]
