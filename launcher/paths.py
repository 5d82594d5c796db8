"""Where the launcher keeps its per-server files on this host.

Apart from `state.py` so that `mcp-lok policy compile` can name the same paths a launch
would without loading the state machinery.
"""

from __future__ import annotations

import os
from pathlib import Path

from mcp_lok.policy.baseline import RUNTIME_DIR

from .errors import LokError


def default_root() -> Path:
    """`/run/mcp-lok` as root, else `$XDG_RUNTIME_DIR/mcp-lok`."""
    if os.geteuid() == 0:
        return Path(RUNTIME_DIR)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime:
        raise LokError(
            "cannot tell where to keep runtime files: `XDG_RUNTIME_DIR` is not set",
            hint="log in through a session that sets it, or run mcp-lok as root",
        )
    return Path(runtime) / "mcp-lok"
