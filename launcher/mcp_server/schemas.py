"""The shape of each tool's `structuredContent`, published as its `outputSchema`.

The SDK checks every successful result against these before it is sent, so they are
what `tools` returns, key for key (extra keys would pass, missing ones would not). Error
results are not checked: they carry `error`, `hint` or `diagnostics` instead.
"""

from __future__ import annotations

# pydantic, which reads these for the SDK, needs typing_extensions' TypedDict before 3.12
# for nested ones (it is pydantic's own dependency)
from typing_extensions import TypedDict


class ServerRow(TypedDict):
    """One server, as `mcp-lok list --format json` prints it."""

    name: str
    status: str
    transport: str
    url: str | None
    sse_url: str | None
    image: str
    engine: str
    profile: str
    created: str
    container: str | None


class ServerList(TypedDict):
    servers: list[ServerRow]


class ControlRow(TypedDict):
    """One row of `policy explain --format json`."""

    ok: bool
    mark: str
    field: str
    description: str
    origin: str
    weight: float


class Exposure(TypedDict):
    """A profile's exposure score, and its rows that go beyond the built-in `stdio`."""

    source: str
    engine: str
    score: float
    level: str
    stdio_score: float
    beyond_stdio: list[ControlRow]
    risks: list[str]


class Explained(Exposure):
    controls: list[ControlRow]


class Launched(TypedDict):
    """`run_server`'s answer; `started` is false for a dry run, and then no URL."""

    name: str
    engine: str
    image: str
    transport: str
    profile: str
    started: bool
    url: str | None
    sse_url: str | None
    exposure: Exposure
    warnings: list[str]


class Stopped(TypedDict):
    name: str
    stopped: bool


class Removed(TypedDict):
    name: str
    removed: bool


class Logs(TypedDict):
    name: str
    proxy_log: list[str]
    server_log: list[str]


__all__ = [
    "ControlRow",
    "Explained",
    "Exposure",
    "Launched",
    "Logs",
    "Removed",
    "ServerList",
    "ServerRow",
    "Stopped",
]
