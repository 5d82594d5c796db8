"""The MCP clients mcp-lok can configure: one row each, with where its configuration file
is on this OS, where in that file its servers are, and the entry it takes for a server
reached at a URL with a bearer token (and how to read one back).

Each shape is the client's own documented one for a remote server (docs/clients.md has
the table, with the files on Linux and macOS): `type`/`url`/`headers` (Claude Code, VS Code,
Cline, each with its own name for Streamable HTTP), `url`/`headers` (Cursor),
`serverUrl`/`headers` (Windsurf), and for Claude Desktop, whose file takes only commands,
the `mcp-remote` bridge it documents.

Reading and writing the files is `files.py`'s job; which entries mcp-lok wrote, the
record's (`record.py`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# the environment variable the bridge's header reads the token from: in `env`, not in
# `args`, so that it is not on the bridge's command line for every local user to see
BRIDGE_VARIABLE = "MCP_LOK_AUTHORIZATION"
BEARER = "Bearer "


@dataclass(frozen=True)
class Endpoint:
    """What an entry points at: the proxy's client URL, whether it speaks legacy SSE
    there (an `sse` server) rather than Streamable HTTP, and the bearer token (None:
    a server started with `--no-auth`)."""

    url: str
    sse: bool
    token: str | None

    def headers(self) -> dict[str, str]:
        return {"Authorization": BEARER + self.token} if self.token else {}


Entry = dict[str, Any]


@dataclass(frozen=True)
class Client:
    """One MCP client: its name on the command line, its own name, the files it reads
    (the first is the one named when none exists yet), the folder whose presence says it
    is installed, the path of keys to its servers in a file, and its entry shape."""

    name: str
    title: str
    files: Callable[[], list[Path]]
    installed: Callable[[], list[Path]]
    servers: tuple[str, ...]
    write: Callable[[Endpoint], Entry]
    read: Callable[[Entry], Endpoint | None]
    note: str | None = None  # said whenever its entry is written


def home() -> Path:
    return Path.home()


def _config_home() -> Path:
    """Where an Electron app keeps its folder: `~/Library/Application Support` on macOS,
    else `$XDG_CONFIG_HOME`, by default `~/.config`."""
    if sys.platform == "darwin":
        return home() / "Library" / "Application Support"
    return Path(os.environ.get("XDG_CONFIG_HOME") or home() / ".config")


def _claude_code() -> Path:
    folder = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(folder) / ".claude.json" if folder else home() / ".claude.json"


def _headers(entry: Entry) -> str | None:
    headers = entry.get("headers")
    value = headers.get("Authorization") if isinstance(headers, dict) else None
    return value[len(BEARER) :] if isinstance(value, str) and value.startswith(BEARER) else None


def _typed(http: str) -> tuple[Callable[[Endpoint], Entry], Callable[[Entry], Endpoint | None]]:
    """The shape most clients document: `type` (`sse`, or `http` under the client's own
    name for Streamable HTTP), `url`, `headers`."""

    def write(at: Endpoint) -> Entry:
        entry: Entry = {"type": "sse" if at.sse else http, "url": at.url}
        return {**entry, "headers": at.headers()} if at.token else entry

    def read(entry: Entry) -> Endpoint | None:
        url = entry.get("url")
        if not isinstance(url, str):
            return None
        return Endpoint(url, entry.get("type") == "sse", _headers(entry))

    return write, read


def _keyed(key: str) -> tuple[Callable[[Endpoint], Entry], Callable[[Entry], Endpoint | None]]:
    """A client that tells SSE from Streamable HTTP itself: only the URL (under `key`)
    and the headers."""

    def write(at: Endpoint) -> Entry:
        entry: Entry = {key: at.url}
        return {**entry, "headers": at.headers()} if at.token else entry

    def read(entry: Entry) -> Endpoint | None:
        url = entry.get(key)
        if not isinstance(url, str):
            return None
        return Endpoint(url, url.endswith("/sse"), _headers(entry))

    return write, read


def _bridge_write(at: Endpoint) -> Entry:
    """Claude Desktop's file takes only commands: `mcp-remote` (run by Node's `npx`)
    bridges its stdio to the URL, with the header read from the environment (no space in
    `Authorization:${…}`: Claude Desktop on Windows splits arguments at spaces)."""
    args = ["-y", "mcp-remote", at.url, "--transport", "sse-only" if at.sse else "http-only"]
    if not at.token:
        return {"command": "npx", "args": args}
    args += ["--header", f"Authorization:${{{BRIDGE_VARIABLE}}}"]
    return {"command": "npx", "args": args, "env": {BRIDGE_VARIABLE: BEARER + at.token}}


def _bridge_read(entry: Entry) -> Endpoint | None:
    args = entry.get("args")
    if not isinstance(args, list):
        return None
    url = next((a for a in args if isinstance(a, str) and a.startswith("http")), None)
    if url is None:
        return None
    env = entry.get("env")
    value = env.get(BRIDGE_VARIABLE) if isinstance(env, dict) else None
    token = value[len(BEARER) :] if isinstance(value, str) and value.startswith(BEARER) else None
    return Endpoint(url, "sse-only" in args, token)


def _cline_files() -> list[Path]:
    storage = "globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json"
    return [
        _config_home() / "Code" / "User" / storage,
        home() / ".cline" / "data" / "settings" / "cline_mcp_settings.json",
    ]


def _cline_installed() -> list[Path]:
    return [
        _config_home() / "Code" / "User" / "globalStorage" / "saoudrizwan.claude-dev",
        home() / ".cline",
    ]


CLIENTS: tuple[Client, ...] = (
    Client(
        "claude-code",
        "Claude Code",
        lambda: [_claude_code()],
        lambda: [_claude_code(), home() / ".claude"],
        ("mcpServers",),
        *_typed("http"),
    ),
    Client(
        "claude-desktop",
        "Claude Desktop",
        lambda: [_config_home() / "Claude" / "claude_desktop_config.json"],
        lambda: [_config_home() / "Claude"],
        ("mcpServers",),
        _bridge_write,
        _bridge_read,
        note=(
            "Claude Desktop takes no URL in its configuration file: it reaches the server "
            "through the `mcp-remote` bridge, which needs Node.js (`npx` fetches it from "
            "npm on first use); restart Claude Desktop to load it"
        ),
    ),
    Client(
        "vscode",
        "VS Code",
        lambda: [_config_home() / "Code" / "User" / "mcp.json"],
        lambda: [_config_home() / "Code" / "User"],
        ("servers",),
        *_typed("http"),
    ),
    Client(
        "vscode-insiders",
        "VS Code Insiders",
        lambda: [_config_home() / "Code - Insiders" / "User" / "mcp.json"],
        lambda: [_config_home() / "Code - Insiders" / "User"],
        ("servers",),
        *_typed("http"),
    ),
    Client(
        "cursor",
        "Cursor",
        lambda: [home() / ".cursor" / "mcp.json"],
        lambda: [home() / ".cursor"],
        ("mcpServers",),
        *_keyed("url"),
    ),
    Client(
        "windsurf",
        "Windsurf",
        lambda: [home() / ".codeium" / "windsurf" / "mcp_config.json"],
        lambda: [home() / ".codeium" / "windsurf"],
        ("mcpServers",),
        *_keyed("serverUrl"),
    ),
    Client(
        "cline",
        "Cline",
        _cline_files,
        _cline_installed,
        ("mcpServers",),
        *_typed("streamableHttp"),
    ),
)

BY_NAME = {client.name: client for client in CLIENTS}


def detected() -> list[Client]:
    """The clients installed for this user: a folder (or file) of theirs exists."""
    return [c for c in CLIENTS if any(p.exists() for p in c.installed())]


def targets(client: Client) -> list[Path]:
    """The files of `client` to write: each whose folder exists (Cline's extension and
    its CLI keep one each); none when no folder of it exists."""
    return [path for path in client.files() if path.parent.is_dir()]


def entry_name(server: str) -> str:
    """The name of a server's entry in a client's file: marked as mcp-lok's."""
    return f"mcp-lok-{server}"


__all__ = [
    "BY_NAME",
    "CLIENTS",
    "Client",
    "Endpoint",
    "Entry",
    "detected",
    "entry_name",
    "home",
    "targets",
]
