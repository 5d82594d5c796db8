"""`make demo`: the real MCP server `mcp-server-time`, locked down by mcp-lok, answering
the official MCP Python SDK client through mcp-lok's proxy.

1. `mcp-lok start` compiles the built-in `stdio` policy, creates the container from the
   compiled payload (capabilities dropped, read-only, no network, uid 65534, seccomp,
   limits), attaches the proxy and prints the client URL and the bearer token the proxy
   requires.
2. The SDK client initializes a session at `http://127.0.0.1:PORT/mcp` with that token,
   lists the tools and calls `get_current_time`.
3. `mcp-lok rm --force` removes everything that was created, whatever happened.

Progress goes to stderr; the tool result goes to stdout.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

IMAGE = "mcp-lok/mcp-server-time:latest"
MCP_LOK = str(Path(sys.executable).parent / "mcp-lok")


def log(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


def mcp_lok(*args: str) -> str:
    log("$ mcp-lok " + " ".join(args))
    done = subprocess.run([MCP_LOK, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(done.returncode)
    return done.stdout


async def talk(url: str, token: str) -> str:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with (
        streamable_http_client(url, http_client=http) as (read, write, *_),
        ClientSession(read, write) as session,
    ):
        init = await session.initialize()
        log(
            f"initialized {init.server_info.name} {init.server_info.version} "
            f"(protocol {init.protocol_version}) through the proxy"
        )
        tools = await session.list_tools()
        log("tools: " + ", ".join(tool.name for tool in tools.tools))
        result = await session.call_tool("get_current_time", {"timezone": "Europe/Paris"})
        return "\n".join(getattr(part, "text", "") for part in result.content)  # type: ignore[union-attr]


def main() -> int:
    name = f"demo-{uuid.uuid4().hex[:8]}"
    started = json.loads(mcp_lok("start", "--name", name, "--format", "json", IMAGE))
    try:
        log(f"{name} serves MCP at {started['url']} (bearer token required)")
        text = asyncio.run(talk(started["url"], started["token"]))
    finally:
        mcp_lok("rm", "--force", name)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
