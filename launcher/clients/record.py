"""Which entries mcp-lok wrote into which client's file, for which server: so that `rm`
removes them (and only them) wherever they are, and `client list` finds them, even when
the server is long gone (after a reboot the runtime folder is empty; client files are not).

One JSON file, `$XDG_STATE_HOME/mcp-lok/clients.json` (by default under
`~/.local/state`), 0600 in a 0700 folder, changed under a lock that serialises mcp-lok
commands. It holds no token: the client files do.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.state import PRIVATE_FILE, make_private_dirs, write_atomic

FILE = "clients.json"
LOCK = ".clients.lock"


@dataclass(frozen=True)
class Entry:
    """One entry mcp-lok wrote: for the server `server`, in `client`'s file `path`, under
    the name `entry`, pointing at `url` (an entry whose URL someone changed since is
    theirs: left alone)."""

    server: str
    client: str
    path: str
    entry: str
    url: str

    def same_place(self, other: Entry) -> bool:
        return (self.path, self.entry) == (other.path, other.entry)


def folder() -> Path:
    state = os.environ.get("XDG_STATE_HOME")
    return (Path(state) if state else Path.home() / ".local" / "state") / "mcp-lok"


def kept() -> bool:
    """Whether there is a record (mcp-lok ever wrote a client entry here)."""
    return (folder() / FILE).exists()


def load() -> list[Entry]:
    path = folder() / FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [Entry(**item) for item in raw["entries"]]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise LokError(
            f"mcp-lok's record of the client entries it wrote is damaged ({path}): {error}",
            hint="remove it: mcp-lok then forgets which client entries it wrote",
        ) from error


def save(entries: list[Entry]) -> None:
    ordered = sorted(entries, key=lambda e: (e.server, e.client, e.path))
    text = json.dumps({"entries": [asdict(e) for e in ordered]}, indent=2) + "\n"
    make_private_dirs(folder())
    # INVARIANT: the record says which files hold tokens: its owner's alone
    write_atomic(folder() / FILE, text, PRIVATE_FILE)


@contextlib.contextmanager
def lock() -> Iterator[None]:
    """Serialise mcp-lok commands that change client files and the record."""
    make_private_dirs(folder())
    fd = os.open(folder() / LOCK, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


__all__ = ["Entry", "folder", "kept", "load", "lock", "save"]
