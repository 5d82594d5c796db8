"""The `mcp-lok` console script. It loads the CLI itself, so that a Ctrl-C while Python is
still loading it (a fraction of a second, longer on a busy machine) ends as one during a
command does: `aborted`, exit 1, rather than a traceback and death by SIGINT."""

from __future__ import annotations

import sys
from typing import NoReturn


def main() -> NoReturn:
    try:
        from mcp_lok.launcher.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("aborted\n")
        sys.exit(1)
    run()
