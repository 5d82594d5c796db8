"""`mcp-lok` as an MCP server: tools that list, run, stop, remove, tail, explain and audit
mcp-lok's servers, for an MCP client (Claude Desktop, Claude Code, VS Code, …) that
starts `mcp-lok` as a subprocess.

It speaks MCP over **stdio only**, never HTTP. Its tools start containers and read host
files (policy files, logs) with the rights of the user who runs it; an HTTP endpoint,
even on 127.0.0.1, would hand those rights to every local process and to any web page
that can reach localhost (DNS rebinding, a missing `Origin` check), with no user to
authenticate. Over stdio, the only peer is the client that spawned this process, and it
asks its user to approve each tool call.

On stdio, stdout is the protocol: the SDK's `stdio_server` serves it from a private
descriptor and points fd 1 at stderr (fd 0 at /dev/null) while it runs, so a stray print
or a child's output cannot corrupt a message; logs go to stderr. Servers it starts are
detached, like `mcp-lok start`'s: they outlive it until `stop_server`/`remove_server` or
`mcp-lok stop`/`rm`.

The SDK is imported only here, when serving: `mcp-lok policy …` never loads it.
"""

from __future__ import annotations

import contextlib


def serve() -> None:
    """Serve the tools on stdin/stdout until the client closes stdin (or Ctrl-C)."""
    from .app import build  # the MCP SDK: only this command pays for it

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C on a terminal: just stop
        build().run("stdio")


__all__ = ["serve"]
