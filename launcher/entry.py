"""The `mcp-lok` console script: the `policy` commands' fast path, else the click CLI.

Imports neither click nor logging itself, so that an ordinary `mcp-lok policy compile …`
runs without them (`fastpath` says why and how); every other command line goes to
`cli.main`, unchanged.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["policy"]:
        from .fastpath import run

        code = run(argv)
        if code is not None:
            # `run` has flushed stdout and stderr, and nothing else is left to finish: skip
            # the interpreter's finalisation (a few ms of freeing modules and objects).
            os._exit(code)
    from .cli import main as cli_main

    cli_main()
