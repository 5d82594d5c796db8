"""mcp-lok's host-side proxy: gives MCP clients Streamable HTTP and legacy SSE for a server
locked in a container, bridged to its stdio (engine attach) or forwarded to its own HTTP
port through the gate.

    ProxyConfig → serve (attach, bind, on_ready(url), serve until stop) / run (a process)

Protocol logic (framing, JSON-RPC routing, SSE) is sans-I/O; aiohttp handlers are thin.
It imports `policy` at most, never the launcher. This `__all__` is the public API.
"""

from .attach import attach
from .config import ProxyConfig
from .errors import AttachError, ProxyError
from .server import run, serve

__all__ = ["AttachError", "ProxyConfig", "ProxyError", "attach", "run", "serve"]
