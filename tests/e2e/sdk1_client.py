"""A session of the official MCP Python SDK 1.x client, run by the 1.x client's own
interpreter (a separate venv: the project's has the 2.x line). Prints one JSON object:
the server's name, the tools listed, and the answers to `echo` and `ask_llm` (its
sampling answered by this client as "llm of sdk1").

Usage: PYTHON sdk1_client.py URL   (a URL ending in /sse uses legacy SSE); the proxy's
bearer token, if any, in MCP_LOK_TEST_TOKEN (never on the command line).
Every wait is bounded; exits non-zero on any failure.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamablehttp_client


async def sampling(context, params):
    text = types.TextContent(type="text", text="llm of sdk1")
    return types.CreateMessageResult(role="assistant", content=text, model="sdk1")


def text(result):
    return "".join(getattr(part, "text", "") for part in result.content)


async def main(url):
    token = os.environ.get("MCP_LOK_TEST_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    if url.endswith("/sse"):
        transport = sse_client(url, headers=headers)
    else:
        transport = streamablehttp_client(url, headers=headers)
    async with (
        transport as streams,
        ClientSession(streams[0], streams[1], sampling_callback=sampling) as session,
    ):
        initialized = await session.initialize()
        tools = await session.list_tools()
        echoed = await session.call_tool("echo", {"text": "from 1.x"})
        asked = await session.call_tool("ask_llm", {"prompt": "hi"})
        return {
            "server": initialized.serverInfo.name,
            "version": initialized.protocolVersion,
            "tools": sorted(tool.name for tool in tools.tools),
            "echo": text(echoed),
            "ask_llm": text(asked),
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60))))
