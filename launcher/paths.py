"""Where the launcher keeps its per-server files on this host: `/run/mcp-lok` as root,
else `$XDG_RUNTIME_DIR/mcp-lok` (the layout beneath it is `mcp_lok.policy.layout`'s)."""

from __future__ import annotations

import os
from pathlib import Path

from mcp_lok.policy.layout import RUNTIME_ROOT

from .errors import LokError

FOLDER = "mcp-lok"  # under XDG_RUNTIME_DIR


def default_root() -> Path:
    """`/run/mcp-lok` as root, else `$XDG_RUNTIME_DIR/mcp-lok`."""
    if os.geteuid() == 0:
        return Path(RUNTIME_ROOT)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime:
        raise LokError(
            "cannot tell where to keep runtime files: `XDG_RUNTIME_DIR` is not set",
            hint="log in through a session that sets it, or run mcp-lok as root",
        )
    return Path(runtime) / FOLDER
