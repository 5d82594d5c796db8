"""Where the launcher keeps its per-server files on this host.

Apart from `state.py` so that `mcp-lok policy compile` can name the same paths a launch
would without loading the state machinery. `default_root_name` works on strings and
imports pathlib only for an unusual `XDG_RUNTIME_DIR`: it is on the path of every `policy`
command, whose start-up time is a goal (issue 2), and pathlib costs about 2 ms to import.
"""

from __future__ import annotations

import os

from mcp_lok.policy.layout import RUNTIME_ROOT

from .errors import LokError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from pathlib import Path

FOLDER = "mcp-lok"  # under XDG_RUNTIME_DIR


def default_root_name() -> str:
    """`/run/mcp-lok` as root, else `$XDG_RUNTIME_DIR/mcp-lok`, spelt as pathlib spells it."""
    if os.geteuid() == 0:
        return RUNTIME_ROOT
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime:
        raise LokError(
            "cannot tell where to keep runtime files: `XDG_RUNTIME_DIR` is not set",
            hint="log in through a session that sets it, or run mcp-lok as root",
        )
    return joined(runtime, FOLDER)


def joined(folder: str, name: str) -> str:
    """`str(Path(folder) / name)`; without pathlib when `folder` is already in the form
    pathlib would print it (absolute, no empty or `.` parts, no trailing slash)."""
    if folder.startswith("/") and all(part not in ("", ".") for part in folder[1:].split("/")):
        return f"{folder}/{name}"
    from pathlib import Path

    return str(Path(folder) / name)


def default_root() -> Path:
    """`/run/mcp-lok` as root, else `$XDG_RUNTIME_DIR/mcp-lok`."""
    from pathlib import Path

    return Path(default_root_name())
