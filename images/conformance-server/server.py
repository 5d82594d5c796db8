"""mcp-lok's conformance server: what the server scenarios of the official MCP conformance
suite (`@modelcontextprotocol/conformance`) call, built on the official MCP Python SDK's
low-level server, so every answer is exactly the one written here.

Transport from the environment (the names mcp-lok sets for an HTTP server):
  MCP_TRANSPORT      stdio (default) | streamable-http
  MCP_HOST, MCP_PORT bind address and port for streamable-http (127.0.0.1, 8080); the
                     endpoint is /mcp, with resumable SSE streams (an in-memory event store)
  MCP_ALLOWED_HOSTS  optional comma-separated Host values (e.g. "127.0.0.1:*"); when set,
                     the SDK's DNS-rebinding protection is on. Off by default: in a
                     container behind mcp-lok, Host/Origin checks are the proxy's job.
  MCP_BACK_CHANNEL   request (default): the server's requests and notifications during a
                     tool call ride that call's stream, as the transport says they SHOULD;
                     session: they go to the session's GET stream (what many servers do)

What it serves, by scenario (the suite's `list --server`):
  tools      test_simple_text, test_image_content, test_audio_content,
             test_embedded_resource, test_multiple_content_types, test_tool_with_logging,
             test_tool_with_progress, test_error_handling, test_sampling,
             test_elicitation, test_elicitation_sep1034_defaults,
             test_elicitation_sep1330_enums, test_reconnection, json_schema_2020_12_tool
  resources  test://static-text, test://static-binary, test://watched-resource
             (subscribable), template test://template/{id}/data
  prompts    test_simple_prompt, test_prompt_with_arguments,
             test_prompt_with_embedded_resource, test_prompt_with_image
  also       logging/setLevel, completion/complete, ping
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import sys
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from content import (
    AUDIO_WAV,
    IMAGE_PNG,
    PROMPTS,
    RESOURCES,
    TEMPLATE,
    TOOLS,
    prompt_messages,
    template_text,
)

# Sampling, elicitation's older forms and logging are what the suite tests; the SDK warns
# that a newer protocol version deprecates them.
warnings.simplefilter("ignore", MCPDeprecationWarning)

TRANSPORT = os.environ.get("MCP_TRANSPORT", "stdio").strip() or "stdio"
HOST = os.environ.get("MCP_HOST", "127.0.0.1")
PORT = int(os.environ.get("MCP_PORT", "8080"))
BACK_CHANNEL = os.environ.get("MCP_BACK_CHANNEL", "request").strip() or "request"
LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")

Context = Any  # the SDK's ServerRequestContext
state: dict[str, Any] = {"level": "debug", "subscribed": set()}


def related(ctx: Context) -> types.RequestId | None:
    """The request a server request or notification relates to (MCP_BACK_CHANNEL)."""
    return ctx.request_id if BACK_CHANNEL == "request" else None


async def log(ctx: Context, level: str, text: str) -> None:
    """A `notifications/message`, unless below the level the client set."""
    if LEVELS.index(level) >= LEVELS.index(state["level"]):
        await ctx.session.send_log_message(level, text, "conformance", related(ctx))


# --- tools -------------------------------------------------------------------------------


def text(value: str) -> types.TextContent:
    return types.TextContent(type="text", text=value)


def image() -> types.ImageContent:
    return types.ImageContent(type="image", data=IMAGE_PNG, mime_type="image/png")


def embedded(uri: str, mime_type: str, body: str) -> types.EmbeddedResource:
    contents = types.TextResourceContents(uri=uri, mime_type=mime_type, text=body)
    return types.EmbeddedResource(type="resource", resource=contents)


async def simple_text(ctx: Context, args: dict[str, Any]) -> list[Any]:
    return [text("This is a simple text response for testing.")]


async def image_content(ctx: Context, args: dict[str, Any]) -> list[Any]:
    return [image()]


async def audio_content(ctx: Context, args: dict[str, Any]) -> list[Any]:
    return [types.AudioContent(type="audio", data=AUDIO_WAV, mime_type="audio/wav")]


async def embedded_resource(ctx: Context, args: dict[str, Any]) -> list[Any]:
    return [
        embedded("test://embedded-resource", "text/plain", "This is an embedded resource content.")
    ]


async def multiple_content_types(ctx: Context, args: dict[str, Any]) -> list[Any]:
    body = json.dumps({"test": "data", "value": 123})
    return [
        text("Multiple content types test:"),
        image(),
        embedded("test://mixed-content-resource", "application/json", body),
    ]


async def with_logging(ctx: Context, args: dict[str, Any]) -> list[Any]:
    messages = ("Tool execution started", "Tool processing data", "Tool execution completed")
    for step, message in enumerate(messages):
        if step:
            await asyncio.sleep(0.05)
        await log(ctx, "info", message)
    return [text("Tool with logging executed successfully")]


async def with_progress(ctx: Context, args: dict[str, Any]) -> list[Any]:
    for step in (0, 50, 100):
        if step:
            await asyncio.sleep(0.05)
        await ctx.session.report_progress(step, 100, f"Completed step {step} of 100")
    token = (ctx.meta or {}).get("progress_token")
    return [text(f"progress reported to {token}" if token is not None else "no progress token")]


async def sampling(ctx: Context, args: dict[str, Any]) -> list[Any]:
    prompt = types.SamplingMessage(role="user", content=text(str(args.get("prompt", ""))))
    result = await ctx.session.create_message(
        [prompt], max_tokens=100, related_request_id=related(ctx)
    )
    answer = result.content
    return [text(f"LLM response: {getattr(answer, 'text', answer)}")]


async def elicit(ctx: Context, message: str, schema: dict[str, Any], prefix: str) -> list[Any]:
    result = await ctx.session.elicit_form(message, schema, related(ctx))
    content = json.dumps(result.content or {}, sort_keys=True)
    return [text(f"{prefix}: action={result.action}, content={content}")]


def string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


async def elicitation(ctx: Context, args: dict[str, Any]) -> list[Any]:
    schema = {
        "type": "object",
        "properties": {
            "username": string("User's response"),
            "email": string("User's email address"),
        },
        "required": ["username", "email"],
    }
    return await elicit(ctx, str(args.get("message", "")), schema, "User response")


async def elicitation_defaults(ctx: Context, args: dict[str, Any]) -> list[Any]:
    """SEP-1034: a default for every primitive type."""
    schema = {
        "type": "object",
        "properties": {
            "name": string("User name", default="John Doe"),
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": string(
                "User status", enum=["active", "inactive", "pending"], default="active"
            ),
            "verified": {"type": "boolean", "description": "Verification status", "default": True},
        },
    }
    return await elicit(ctx, "Please provide user information", schema, "Elicitation result")


def titled(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"const": const, "title": title} for const, title in pairs]


async def elicitation_enums(ctx: Context, args: dict[str, Any]) -> list[Any]:
    """SEP-1330: the five ways an elicitation schema spells a choice."""
    levels = [("low", "Low Priority"), ("medium", "Medium Priority"), ("high", "High Priority")]
    kinds = [("feature", "New Feature"), ("bug", "Bug Fix"), ("docs", "Documentation")]
    schema = {
        "type": "object",
        "properties": {
            "untitledSingle": string("Plain choice", enum=["active", "inactive", "pending"]),
            "titledSingle": string("Choice with titles", oneOf=titled(levels)),
            "legacyEnum": string(
                "Choice with enumNames",
                enum=["small", "medium", "large"],
                enumNames=["Small Size", "Medium Size", "Large Size"],
            ),
            "untitledMulti": {
                "type": "array",
                "description": "Plain multiple choice",
                "items": {"type": "string", "enum": ["read", "write", "execute"]},
            },
            "titledMulti": {
                "type": "array",
                "description": "Multiple choice with titles",
                "items": {"anyOf": titled(kinds)},
            },
        },
    }
    message = "Please select values using different enum schema types"
    return await elicit(ctx, message, schema, "Elicitation completed")


async def reconnection(ctx: Context, args: dict[str, Any]) -> list[Any]:
    """SEP-1699: over HTTP, close the call's SSE stream mid-call; the client comes back
    with Last-Event-ID and gets the rest from the event store. Over stdio there is no
    stream of the server's to close, and the answer comes on the one the proxy holds."""
    await log(ctx, "info", "Before disconnect")
    if ctx.close_sse_stream is not None:
        await ctx.close_sse_stream()
    await asyncio.sleep(0.2)
    await log(ctx, "info", "After reconnect")
    return [text("Reconnection test completed")]


async def schema_2020_12(ctx: Context, args: dict[str, Any]) -> list[Any]:
    return [text(f"received {json.dumps(args, sort_keys=True)}")]


HANDLERS: dict[str, Callable[[Context, dict[str, Any]], Awaitable[list[Any]]]] = {
    "test_simple_text": simple_text,
    "test_image_content": image_content,
    "test_audio_content": audio_content,
    "test_embedded_resource": embedded_resource,
    "test_multiple_content_types": multiple_content_types,
    "test_tool_with_logging": with_logging,
    "test_tool_with_progress": with_progress,
    "test_sampling": sampling,
    "test_elicitation": elicitation,
    "test_elicitation_sep1034_defaults": elicitation_defaults,
    "test_elicitation_sep1330_enums": elicitation_enums,
    "test_reconnection": reconnection,
    "json_schema_2020_12_tool": schema_2020_12,
}


async def list_tools(ctx: Context, params: Any) -> types.ListToolsResult:
    return types.ListToolsResult(tools=[types.Tool.model_validate(tool) for tool in TOOLS])


async def call_tool(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
    if params.name == "test_error_handling":
        message = "This tool intentionally returns an error for testing"
        return types.CallToolResult(content=[text(message)], is_error=True)
    handler = HANDLERS.get(params.name)
    if handler is None:
        raise MCPError(types.INVALID_PARAMS, f"unknown tool {params.name!r}")
    return types.CallToolResult(content=await handler(ctx, params.arguments or {}))


# --- resources, prompts, completion, logging -----------------------------------------------


async def list_resources(ctx: Context, params: Any) -> types.ListResourcesResult:
    listed = [types.Resource.model_validate(r, strict=False) for r in RESOURCES.values()]
    return types.ListResourcesResult(resources=listed)


async def list_templates(ctx: Context, params: Any) -> types.ListResourceTemplatesResult:
    templates = [types.ResourceTemplate.model_validate(TEMPLATE)]
    return types.ListResourceTemplatesResult(resource_templates=templates)


async def read_resource(
    ctx: Context, params: types.ReadResourceRequestParams
) -> types.ReadResourceResult:
    uri = str(params.uri)
    contents: types.TextResourceContents | types.BlobResourceContents
    if uri == "test://static-binary":
        contents = types.BlobResourceContents(uri=uri, mime_type="image/png", blob=IMAGE_PNG)
    elif uri in RESOURCES:
        body = RESOURCES[uri]["text"]
        contents = types.TextResourceContents(uri=uri, mime_type="text/plain", text=body)
    elif match := re.fullmatch(r"test://template/([^/]+)/data", uri):
        body = template_text(match[1])
        contents = types.TextResourceContents(uri=uri, mime_type="application/json", text=body)
    else:
        raise MCPError(-32002, f"no resource {uri}")  # MCP's "resource not found"
    return types.ReadResourceResult(contents=[contents])


async def subscribe(ctx: Context, params: types.SubscribeRequestParams) -> types.EmptyResult:
    state["subscribed"].add(str(params.uri))
    return types.EmptyResult()


async def unsubscribe(ctx: Context, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    state["subscribed"].discard(str(params.uri))
    return types.EmptyResult()


async def list_prompts(ctx: Context, params: Any) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=[types.Prompt.model_validate(p) for p in PROMPTS])


async def get_prompt(ctx: Context, params: types.GetPromptRequestParams) -> types.GetPromptResult:
    messages = prompt_messages(params.name, dict(params.arguments or {}))
    if messages is None:
        raise MCPError(types.INVALID_PARAMS, f"unknown prompt {params.name!r}")
    parsed = [types.PromptMessage.model_validate(m) for m in messages]
    return types.GetPromptResult(messages=parsed)


async def complete(ctx: Context, params: types.CompleteRequestParams) -> types.CompleteResult:
    """Values of the argument that start with what the client typed so far."""
    known = {"arg1": ["paris", "park", "party"], "arg2": ["world", "word"]}
    typed = params.argument.value
    values = [v for v in known.get(params.argument.name, []) if v.startswith(typed)]
    return types.CompleteResult(completion=types.Completion(values=values, total=len(values)))


async def set_level(ctx: Context, params: types.SetLevelRequestParams) -> types.EmptyResult:
    state["level"] = params.level
    return types.EmptyResult()


server: Server[Any] = Server(
    "mcp-lok-conformance-server",
    version="1.0.0",
    on_list_tools=list_tools,
    on_call_tool=call_tool,
    on_list_resources=list_resources,
    on_list_resource_templates=list_templates,
    on_read_resource=read_resource,
    on_subscribe_resource=subscribe,
    on_unsubscribe_resource=unsubscribe,
    on_list_prompts=list_prompts,
    on_get_prompt=get_prompt,
    on_completion=complete,
    on_set_logging_level=set_level,
)


# --- transports ----------------------------------------------------------------------------


class MemoryEventStore(EventStore):
    """The last 1000 events of every stream, so a client that lost a stream can resume it."""

    def __init__(self) -> None:
        self.events: collections.deque[tuple[str, str, Any]] = collections.deque(maxlen=1000)
        self.counter = 0

    async def store_event(self, stream_id: str, message: Any) -> str:
        self.counter += 1
        self.events.append((stream_id, str(self.counter), message))
        return str(self.counter)

    async def replay_events_after(
        self, last_event_id: str, send_callback: EventCallback
    ) -> str | None:
        stream = next((s for s, e, _ in self.events if e == last_event_id), None)
        if stream is None:
            return None
        for s, event_id, message in list(self.events):
            if s == stream and int(event_id) > int(last_event_id) and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream


def serve_http() -> None:
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    allowed = [h.strip() for h in os.environ.get("MCP_ALLOWED_HOSTS", "").split(",") if h.strip()]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=bool(allowed),
        allowed_hosts=allowed,
        allowed_origins=[f"http://{h}" for h in allowed],
    )
    app = server.streamable_http_app(
        event_store=MemoryEventStore(),
        retry_interval=100,  # ms a client waits before it resumes a closed stream
        transport_security=security,
        host=HOST,
    )
    print(f"conformance server: streamable-http on {HOST}:{PORT}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=HOST, port=PORT, log_level="warning")


async def serve_stdio() -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def main() -> None:
    if BACK_CHANNEL not in ("request", "session"):
        sys.exit(f"MCP_BACK_CHANNEL must be request or session, not {BACK_CHANNEL!r}")
    if TRANSPORT == "stdio":
        asyncio.run(serve_stdio())
    elif TRANSPORT == "streamable-http":
        serve_http()
    else:
        sys.exit(f"MCP_TRANSPORT must be stdio or streamable-http, not {TRANSPORT!r}")


if __name__ == "__main__":
    main()
