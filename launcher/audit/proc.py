"""Read a running container from the host, through its process: its mount table
(`/proc/<pid>/mountinfo`) and files as the container sees them (`/proc/<pid>/root/…`).

A file inside is reached one path component at a time with `O_NOFOLLOW`, from the
container's root: a symbolic link the container planted (an absolute one would resolve
against the host's root, not the container's) makes the file unreadable, never a window
onto a host file. Only regular files are read, and at most `LIMIT` bytes of each. Used by
`audit` and by the end-to-end checks; what they compare is `inside`'s.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from .inside import Locate, locator, parse

LIMIT: Final = 64 * 1024
PROC: Final = Path("/proc")


def mount_table(pid: int, proc: Path = PROC) -> str | None:
    """The mountinfo of process `pid` (None when it cannot be read: gone, or not ours)."""
    if pid <= 0:
        return None
    try:
        return (proc / str(pid) / "mountinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def host_locator(proc: Path = PROC) -> Locate | None:
    """Where a host path lies (`inside.locator`), from this process's own mount table,
    after resolving symbolic links; None when the table cannot be read."""
    text = mount_table(os.getpid(), proc)
    if text is None:
        return None
    locate = locator(parse(text))
    return lambda path: locate(os.path.realpath(path))


def files(pid: int, paths: Iterable[str], proc: Path = PROC) -> dict[str, bytes | None]:
    """What each absolute `path` holds inside the container of process `pid`."""
    return {path: read(pid, path, proc) for path in paths}


def read(pid: int, path: str, proc: Path = PROC) -> bytes | None:
    """The regular file `path` as the container of `pid` sees it; None when it cannot be
    read, is not a regular file, or a component is a symbolic link."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if pid <= 0 or not parts or ".." in parts:
        return None
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        folder = os.open(proc / str(pid) / "root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            step = os.open(part, os.O_PATH | os.O_DIRECTORY | flags, dir_fd=folder)
            os.close(folder)
            folder = step
        fd = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=folder)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            data = b""
            while len(data) < LIMIT and (chunk := os.read(fd, LIMIT - len(data))):
                data += chunk
            return data
        finally:
            os.close(fd)
    except OSError:
        return None
    finally:
        os.close(folder)


__all__ = ["LIMIT", "files", "host_locator", "mount_table", "read"]
