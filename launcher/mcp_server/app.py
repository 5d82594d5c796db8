"""The tools' wiring to the official MCP SDK (`MCPServer`): names, input schemas,
descriptions and hints, and every outcome as a `CallToolResult`.

The SDK derives each tool's input schema from the signature below and refuses arguments
that do not fit it as a tool error; its output schema is the `schemas` type named in its
return annotation. `run_server`'s arguments are what a `LaunchRequest` judges itself
(`problems()`): their schema names the allowed values, and the request reports a wrong
one in a sentence, as the CLI does. Each tool then calls its handler in `tools` (the SDK
runs these plain functions on a worker thread, so a launch does not stall the session)
and returns its text, the same facts as JSON text, and `structuredContent`. A failure the
CLI would report (`tools.FAILURES`) becomes a result with `isError`; anything else is a
bug, which the SDK logs on stderr and answers with `isError` too, without details.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from mcp_lok.launcher.version import __version__
from mcp_lok.policy.baseline import DEFAULT_TARGET_PORT

from . import tools
from .schemas import Audit, Explained, Launched, Logs, Removed, ServerList, Stopped
from .tools import FAILURES, MAX_LOG_LINES, Outcome, failure, launch_request

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
mcp-lok runs MCP servers in locked-down Docker or Podman containers (no capabilities,
read-only root, seccomp, no network unless the profile allows it) and serves each to MCP
clients through a proxy on 127.0.0.1. `run_server` launches one in the background and
returns its URL and the bearer token its clients must send; its result states, in the
words of `mcp-lok policy explain`, everything its profile grants beyond the built-in
`stdio` profile. To show that before anything runs,
call `explain_policy`, or `run_server` with `dry_run`. `audit_servers` checks that running
servers still match the plan they were launched from."""

Name = Annotated[
    str, Field(description="The server's name, as `list_servers` shows it.", max_length=63)
]
TransportName = Literal["stdio", "sse", "streamable-http"]
TRANSPORTS = ["stdio", "sse", "streamable-http"]
Profile = Annotated[
    str | None,
    Field(
        description="A built-in profile (`stdio`, `none`, `network`) or the path of a "
        "`.json` profile or `.lok` policy file on the host; default `stdio`. "
        "Not with `profile_json`."
    ),
]
ProfileJson = Annotated[
    dict[str, Any] | None,
    Field(
        description="An inline JSON permission profile, e.g. "
        '{"network": {"outbound": {"allow_host": ["api.github.com"], "allow_port": [443]}}}. '
        "Not with `profile`."
    ),
]
Env = Annotated[
    list[str] | None,
    Field(description="Environment variables for the server, each `KEY=VALUE` (like `-e`)."),
]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)


def answer(call: Callable[[], Outcome]) -> CallToolResult:
    """`call`'s outcome as a result; a failure the CLI would report as an error result."""
    try:
        outcome = call()
    except FAILURES as error:
        failed = failure(error)
        log.info("tool failed: %s", failed.data.get("error"))
        return CallToolResult(
            content=[TextContent(type="text", text=failed.text)],
            structured_content=failed.data,
            is_error=True,
        )
    as_json = json.dumps(outcome.data, indent=2, sort_keys=True, ensure_ascii=False)
    texts = (outcome.text, as_json)
    return CallToolResult(
        content=[TextContent(type="text", text=text) for text in texts],
        structured_content=outcome.data,
    )


def list_servers(include_stopped: bool = False) -> Annotated[CallToolResult, ServerList]:
    """List mcp-lok's servers: name, status, transport, client URL, image, engine, profile
    (`mcp-lok list`). Stopped servers only with `include_stopped`."""
    return answer(lambda: tools.list_servers(include_stopped))


def run_server(
    image: Annotated[str, Field(description="The server's image, built or pulled already.")],
    transport: Annotated[str, Field(json_schema_extra={"enum": TRANSPORTS})] = "stdio",
    name: Annotated[str | None, Field(description="Default: from the image.")] = None,
    profile: Profile = None,
    profile_json: ProfileJson = None,
    env: Env = None,
    args: Annotated[list[str] | None, Field(description="The server's command.")] = None,
    engine: Annotated[
        str | None, Field(description="`docker`, `podman` or `unix:///…` (default: found).")
    ] = None,
    target_port: Annotated[
        int, Field(json_schema_extra={"minimum": 1, "maximum": 65535})
    ] = DEFAULT_TARGET_PORT,
    port: Annotated[
        int,
        Field(
            description="Proxy port; 0: a free one.",
            json_schema_extra={"minimum": 0, "maximum": 65535},
        ),
    ] = 0,
    dry_run: Annotated[bool, Field(description="Check and explain only; start nothing.")] = False,
) -> Annotated[CallToolResult, Launched]:
    """Start a server locked down in the background (`mcp-lok start`) and return its client
    URL and the bearer token (`token`) the proxy requires. The result states what the
    profile grants beyond the built-in `stdio` profile."""

    def call() -> Outcome:
        request = launch_request(
            image,
            profile,
            profile_json,
            env or [],
            name=name,
            transport=transport,
            args=tuple(args or []),
            engine=engine,
            target_port=target_port,
            port=port,
        )
        return tools.run_server(request, dry_run=dry_run)

    return answer(call)


def stop_server(name: Name) -> Annotated[CallToolResult, Stopped]:
    """Stop a server's proxy and containers, keeping them for `remove_server`."""
    return answer(lambda: tools.stop_server(name))


def remove_server(
    name: Name,
    force: Annotated[bool, Field(description="Remove it even while it runs.")] = False,
) -> Annotated[CallToolResult, Removed]:
    """Remove the containers, networks, files and state mcp-lok created for a server."""
    return answer(lambda: tools.remove_server(name, force))


def server_logs(
    name: Name, lines: Annotated[int, Field(ge=1, le=MAX_LOG_LINES)] = 100
) -> Annotated[CallToolResult, Logs]:
    """The last lines of a server's proxy log (a stdio server's stderr is in it) and, for
    an HTTP server, of its container's output."""
    return answer(lambda: tools.server_logs(name, lines))


def explain_policy(
    profile: Profile = None,
    profile_json: ProfileJson = None,
    image: str = "IMAGE",
    engine: Literal["docker", "podman"] = "docker",
    transport: TransportName = "stdio",
    env: Env = None,
) -> Annotated[CallToolResult, Explained]:
    """Explain every security control a profile or policy sets, where it came from, its
    exposure score (0–10), and what it grants beyond `stdio` (`mcp-lok policy explain`)."""
    return answer(
        lambda: tools.explain_policy(profile, profile_json, image, engine, transport, env or [])
    )


def audit_servers(
    names: Annotated[
        list[Name] | None, Field(description="The servers to audit. Not with `all`.")
    ] = None,
    all: Annotated[  # the CLI's `--all`
        bool,
        Field(description="Audit every server, on every engine that answers. Not with `names`."),
    ] = False,
    threshold: Annotated[
        float | None,
        Field(ge=0, le=10, description="Name the servers whose exposure score is above it."),
    ] = None,
    engine: Annotated[
        str | None,
        Field(
            description="`docker`, `podman` or `unix:///…`: with `all`, audit only there; "
            "a named server is always audited where it was started."
        ),
    ] = None,
) -> Annotated[CallToolResult, Audit]:
    """Compare running servers with the plans they were launched from, field by field,
    check them against CIS Docker Benchmark section 5 and Pod Security's restricted
    profile, and score their exposure (`mcp-lok audit`). Drift is reported, not an error."""
    return answer(lambda: tools.audit_servers(names or [], all, threshold, engine))


class LokServer(MCPServer[Any]):
    """The SDK's server, with arguments that do not fit a tool's schema reported in one
    sentence per argument, as the CLI reports a bad option, rather than as pydantic's
    report (type names, the input echoed back, a link)."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as error:
            cause = error.__cause__
            if isinstance(cause, ValidationError) and not isinstance(error, UnexpectedToolError):
                raise ToolError(argument_problems(name, cause)) from cause
            raise


def argument_problems(tool: str, error: ValidationError) -> str:
    """What pydantic found wrong with a tool's arguments, one sentence each: the argument,
    then what it must be (never the value given: it is the caller's data)."""
    sentences = []
    for found in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in found["loc"]) or "the arguments"
        if found["type"] == "missing":
            sentences.append(f"`{tool}` needs the argument `{where}`")
        elif found["type"] == "extra_forbidden":
            sentences.append(f"`{tool}` takes no argument `{where}`")
        else:
            what = str(found["msg"]).removeprefix("Input should be ").removeprefix("Value error, ")
            sentences.append(f"the argument `{where}` of `{tool}` must be {what}")
    return "; ".join(sentences)


def build() -> MCPServer[Any]:
    """The server with every tool registered."""
    server: MCPServer[Any] = LokServer(
        "mcp-lok", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    destructive = ToolAnnotations(read_only_hint=False, destructive_hint=True)
    server.add_tool(list_servers, annotations=READ_ONLY)
    server.add_tool(
        run_server, annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False)
    )
    server.add_tool(stop_server, annotations=destructive)
    server.add_tool(remove_server, annotations=destructive)
    server.add_tool(server_logs, annotations=READ_ONLY)
    server.add_tool(explain_policy, annotations=READ_ONLY)
    server.add_tool(audit_servers, annotations=READ_ONLY)
    return server


__all__ = ["build"]
