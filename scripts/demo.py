"""`make demo`: the real MCP server `mcp-server-time`, locked down by mcp-lok's compiled
`stdio` policy, answering the official MCP Python SDK client.

1. `mcp-lok policy compile stdio` prints the plan; the container is created from the
   printed payload unchanged (POST /containers/create on Docker).
2. The SDK client starts a session over the container's stdio (`docker start -ai`),
   lists the tools and calls `get_current_time`.
3. The container is removed, whatever happens.

The host proxy (`mcp-lok run`) replaces step 2's direct attach in the launcher issue.
Progress goes to stderr; the tool result goes to stdout.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import docker
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

IMAGE = "mcp-lok/mcp-server-time:latest"
MCP_LOK = str(Path(sys.executable).parent / "mcp-lok")


def log(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


def compile_plan(name: str) -> dict[str, object]:
    command = [MCP_LOK, "policy", "compile", "stdio", "--image", IMAGE, "--name", name]
    log("$ " + " ".join(command[1:]).replace(MCP_LOK, "mcp-lok"))
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    plan: dict[str, object] = json.loads(done.stdout)
    return plan


async def talk(container: str) -> str:
    params = StdioServerParameters(command="docker", args=["start", "-ai", container])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        log(
            f"initialized {init.server_info.name} {init.server_info.version} "
            f"(protocol {init.protocol_version})"
        )
        tools = await session.list_tools()
        log("tools: " + ", ".join(tool.name for tool in tools.tools))
        result = await session.call_tool("get_current_time", {"timezone": "Europe/Paris"})
        return "\n".join(getattr(part, "text", "") for part in result.content)  # type: ignore[union-attr]


def main() -> int:
    api = docker.APIClient(base_url="unix:///var/run/docker.sock", version="1.41")
    plan = compile_plan(f"demo-{uuid.uuid4().hex[:8]}")
    body, name = plan["container"], str(plan["container_name"])
    created = api.create_container_from_config(body, name=name)
    log(
        f"created {name} from the compiled payload (caps dropped, read-only, no network, "
        f"user 65534, seccomp, limits)"
    )
    try:
        text = asyncio.run(talk(created["Id"]))
    finally:
        api.remove_container(created["Id"], force=True)
        log(f"removed {name}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
