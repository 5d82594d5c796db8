"""mcp-lok's MCP test server, built with the official MCP Python SDK.

Transport from the environment:
  MCP_TRANSPORT      stdio (default) | sse | streamable-http
  MCP_HOST           bind address for sse/streamable-http (default 127.0.0.1)
  MCP_PORT           port (default 8080)
  MCP_ALLOWED_HOSTS  optional comma-separated Host header values (e.g.
                     "127.0.0.1:*,localhost:*"); when set, the SDK's DNS-rebinding
                     protection is on. Off by default: Host/Origin checks are the
                     mcp-lok proxy's job, and the proxy may forward any Host.
  MCP_LOG_LEVEL      DEBUG | INFO | WARNING (default) | ERROR
  MCP_TEST_TOOLS     "protocol" adds the tools below that exercise a proxy's routing
                     (off by default, so the default tool list stays echo, add, whoami)
  MCP_TEST_ON_INITIALIZED
                     "roots": the moment a client sends `notifications/initialized`, ask it
                     for its roots (`roots/list`, on the standalone stream: over Streamable
                     HTTP, the client's GET stream) and keep the answer for `first_roots`
                     (mcp 2.x only; off by default)

Tools:
  echo(text)   -> text
  add(a, b)    -> a + b
  whoami()     -> uid/gid/cwd and other facts about the process, so tests can
                  check the container's isolation from the inside.

With MCP_TEST_TOOLS=protocol (mcp 2.x only):
  ask_llm(prompt)     -> the client's sampling answer (sampling/createMessage)
  ask_user(question)  -> the client's elicitation answer (elicitation/create)
  roots()             -> the client's roots, comma-separated (roots/list)
  count(steps)        -> "counted N", after N progress notifications
  sleep(seconds)      -> "slept", unless cancelled first
  cancelled()         -> how many sleeps were cancelled so far
  touch(uri)          -> "updated" after notifications/resources/updated for `uri`,
                         sent only while subscribed to it (else "not subscribed")
  log(level_name, text) -> "sent" after notifications/message at `level_name`, sent
                         only at the level logging/setLevel last set or a less verbose
                         one (every level before any setLevel), else "filtered"
  server_state()      -> {"subscribed": [URIs], "level": last setLevel or null}: what
                         its client (a proxy) told it
  grow()              -> adds a tool `grown_N`, with no notifications/tools/list_changed
and resources/subscribe, resources/unsubscribe (any `test://` URI) and logging/setLevel,
and one resource, test://note.

With MCP_TEST_ON_INITIALIZED=roots (mcp 2.x only):
  first_roots()       -> what the client answered the `roots/list` sent as it initialized:
                         its roots, comma-separated; "asked" while no answer has come

Works with mcp 2.x (MCPServer) and mcp 1.x (FastMCP).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import sys
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings

# mcp >= 2 renamed FastMCP to MCPServer and moved the HTTP options to run();
# both APIs are used through Any so one file serves either major version.
server_cls: Any
try:
    from mcp.server.mcpserver import MCPServer

    server_cls, _MCP_V2 = MCPServer, True
except ImportError:  # mcp 1.x
    server_cls, _MCP_V2 = importlib.import_module("mcp.server.fastmcp").FastMCP, False


TRANSPORTS = ("stdio", "sse", "streamable-http")

TRANSPORT = os.environ.get("MCP_TRANSPORT", "stdio").strip() or "stdio"
HOST = os.environ.get("MCP_HOST", "127.0.0.1")
PORT = int(os.environ.get("MCP_PORT", "8080"))
LOG_LEVEL = os.environ.get("MCP_LOG_LEVEL", "WARNING").upper()

server: Any = server_cls("mcp-lok-test-server", log_level=LOG_LEVEL)


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def add(a: int | float, b: int | float) -> int | float:
    """Return a + b."""
    return a + b


def _status_fields() -> dict[str, str]:
    fields: dict[str, str] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp"):
                    fields[key] = value.strip()
    except OSError:
        pass
    return fields


def _rlimit(name: str) -> list[int] | None:
    try:
        import resource

        soft, hard = resource.getrlimit(getattr(resource, name))
        return [soft, hard]
    except (ImportError, AttributeError, ValueError, OSError):
        return None


def _writable(path: str) -> bool:
    try:
        fd = os.open(
            os.path.join(path, f".mcp-lok-probe-{os.getpid()}"),
            os.O_CREAT | os.O_WRONLY | os.O_EXCL,
            0o600,
        )
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(path, f".mcp-lok-probe-{os.getpid()}"))
    return True


@server.tool()
def whoami() -> dict[str, Any]:
    """Describe the server process: ids, cwd, capabilities, network, limits."""
    status = _status_fields()
    try:
        interfaces = sorted(os.listdir("/sys/class/net"))
    except OSError:
        interfaces = []
    return {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "euid": os.geteuid(),
        "egid": os.getegid(),
        "groups": sorted(os.getgroups()),
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "home": os.environ.get("HOME", ""),
        "transport": TRANSPORT,
        "cap_eff": status.get("CapEff", ""),
        "cap_bnd": status.get("CapBnd", ""),
        "no_new_privs": status.get("NoNewPrivs", "") == "1",
        "seccomp": status.get("Seccomp", ""),
        "interfaces": interfaces,
        "root_writable": _writable("/"),
        "tmp_writable": _writable("/tmp"),
        "nofile": _rlimit("RLIMIT_NOFILE"),
        "nproc": _rlimit("RLIMIT_NPROC"),
    }


def _protocol_tools() -> None:
    """Tools whose answers depend on the client: a proxy must route the server's requests,
    progress and cancellation to and from the right session."""
    import anyio
    from mcp_types import SamplingMessage, TextContent
    from pydantic import BaseModel

    cancelled = [0]

    class Answer(BaseModel):
        answer: str

    @server.tool()
    async def ask_llm(prompt: str, ctx: Context) -> str:
        """Ask the client's model (sampling) and return its text."""
        message = SamplingMessage(role="user", content=TextContent(type="text", text=prompt))
        result = await ctx.session.create_message([message], max_tokens=64)
        content = result.content
        return content.text if isinstance(content, TextContent) else str(content)

    @server.tool()
    async def ask_user(question: str, ctx: Context) -> str:
        """Ask the client's user (elicitation) and return the answer."""
        result = await ctx.elicit(question, schema=Answer)
        return result.data.answer if result.action == "accept" and result.data else result.action

    @server.tool()
    async def roots(ctx: Context) -> str:
        """The client's roots, comma-separated."""
        listed = await ctx.session.list_roots()
        return ",".join(str(root.uri) for root in listed.roots)

    @server.tool()
    async def count(steps: int, ctx: Context) -> str:
        """Report `steps` progress notifications, then answer."""
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps, f"step {step}")
        return f"counted {steps}"

    @server.tool()
    async def sleep(seconds: float) -> str:
        """Sleep (at most 60 s); a cancelled sleep is counted."""
        try:
            await anyio.sleep(min(seconds, 60.0))
        except anyio.get_cancelled_exc_class():
            cancelled[0] += 1
            raise
        return "slept"

    @server.tool(name="cancelled")
    def cancelled_sleeps() -> int:
        """How many sleeps were cancelled so far."""
        return cancelled[0]

    _audience_tools()


def _audience_tools() -> None:
    """What one client (a proxy shared by many) subscribed to and the level it set, and
    tools that notify accordingly, as a server that keeps them per client does."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import (
        INVALID_PARAMS,
        EmptyResult,
        SetLevelRequestParams,
        SubscribeRequestParams,
        UnsubscribeRequestParams,
    )

    levels = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
    subscribed: set[str] = set()
    level: list[str | None] = [None]
    grown = [0]

    async def subscribe(ctx: Any, params: Any) -> EmptyResult:
        if not params.uri.startswith("test://"):
            raise MCPError(INVALID_PARAMS, f"no resource {params.uri}")
        subscribed.add(params.uri)
        return EmptyResult()

    async def unsubscribe(ctx: Any, params: Any) -> EmptyResult:
        subscribed.discard(params.uri)
        return EmptyResult()

    async def set_level(ctx: Any, params: Any) -> EmptyResult:
        level[0] = params.level
        return EmptyResult()

    lowlevel = server._lowlevel_server
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)

    @server.resource("test://note")
    def note() -> str:
        """A note whose updates a client may subscribe to."""
        return "a note"

    @server.tool()
    async def touch(uri: str, ctx: Context) -> str:
        """Report `uri` updated, if subscribed to it."""
        if uri not in subscribed:
            return "not subscribed"
        await ctx.session.send_resource_updated(uri)
        return "updated"

    @server.tool()
    async def log(level_name: str, text: str, ctx: Context) -> str:
        """Send a log message at `level_name` unless the level set filters it out."""
        if level[0] is not None and levels.index(level_name) < levels.index(level[0]):
            return "filtered"
        await ctx.log(level_name, text)
        return "sent"

    @server.tool()
    def server_state() -> dict[str, Any]:
        """What the client told this server: its subscriptions and log level."""
        return {"subscribed": sorted(subscribed), "level": level[0]}

    @server.tool()
    def grow() -> str:
        """Add a tool without telling anyone the list changed."""
        grown[0] += 1
        name = f"grown_{grown[0]}"
        server.add_tool(lambda: name, name=name, description="grown")
        return name


def _ask_at_once() -> None:
    """Ask each client for its roots the moment it has initialized: a server request on the
    standalone stream, which a client that opens its GET stream late never sees unless
    someone holds it for it."""
    import anyio

    answers: dict[str, str] = {}  # by the client's session (`Mcp-Session-Id`; "-" on stdio)

    def session_of(context: Any) -> str:
        request = getattr(context, "request", None)
        headers = getattr(request, "headers", None)
        return str(headers.get("mcp-session-id", "-")) if headers is not None else "-"

    async def ask(ctx: Any, call_next: Any) -> Any:
        result = await call_next(ctx)
        if ctx.method == "notifications/initialized":
            key = session_of(ctx)
            answers[key] = "asked"
            try:
                with anyio.fail_after(60):
                    listed = await ctx.session.list_roots()
            except Exception as error:  # the answer is what the test reads
                answers[key] = f"failed: {error}"
            else:
                answers[key] = ",".join(str(root.uri) for root in listed.roots)
        return result

    server.middleware.append(ask)

    @server.tool()
    def first_roots(ctx: Context) -> str:
        """What the client answered the `roots/list` sent as it initialized."""
        return answers.get(session_of(ctx.request_context), "never asked")


if os.environ.get("MCP_TEST_TOOLS", "") == "protocol":
    # at module level: the SDK resolves the tools' annotations in this module's globals
    from mcp.server.mcpserver import Context

    _protocol_tools()

if os.environ.get("MCP_TEST_ON_INITIALIZED", "") == "roots":
    from mcp.server.mcpserver import Context

    _ask_at_once()


def main() -> None:
    if TRANSPORT not in TRANSPORTS:
        sys.exit(f"MCP_TRANSPORT must be one of {', '.join(TRANSPORTS)}, not {TRANSPORT!r}")
    if TRANSPORT == "stdio":
        server.run("stdio")
        return
    allowed = [h.strip() for h in os.environ.get("MCP_ALLOWED_HOSTS", "").split(",") if h.strip()]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=bool(allowed),
        allowed_hosts=allowed,
        allowed_origins=[f"http://{h}" for h in allowed],
    )
    print(f"mcp-lok test server: {TRANSPORT} on {HOST}:{PORT}", file=sys.stderr, flush=True)
    if _MCP_V2:
        server.run(TRANSPORT, host=HOST, port=PORT, transport_security=security)
    else:  # mcp 1.x keeps these on the settings object
        server.settings.host = HOST
        server.settings.port = PORT
        server.settings.transport_security = security
        server.run(TRANSPORT)


if __name__ == "__main__":
    main()
