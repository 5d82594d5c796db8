"""The shape of each tool's `structuredContent`, published as its `outputSchema`.

The SDK checks every successful result against these before it is sent, so they are
what `tools` returns, key for key (extra keys would pass, missing ones would not). Error
results are not checked: they carry `error`, `hint` or `diagnostics` instead.
"""

from __future__ import annotations

# pydantic, which reads these for the SDK, needs typing_extensions' TypedDict before 3.12
# for nested ones (it is pydantic's own dependency)
from typing import Any, NotRequired

from typing_extensions import TypedDict


class ServerRow(TypedDict):
    """One server, as `mcp-lok list --format json` prints it (status `degraded` with a
    `note`, the reason); or (status `foreign`, with a `note`) a container that carries
    mcp-lok's labels but that no launch created."""

    name: str
    status: str
    transport: str | None
    url: str | None
    sse_url: str | None
    image: str | None
    engine: str
    profile: str | None
    created: str | None
    container: str | None
    auth: bool | None  # whether its proxy requires a bearer token; None for `foreign`
    note: NotRequired[str]


class ServerList(TypedDict):
    """`mcp-lok list --format json`, and the engines that did not answer (their servers
    are `unknown`)."""

    servers: list[ServerRow]
    not_answering: list[str]


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
    """`run_server`'s answer; `started` is false for a dry run, and then no URL and no
    token. Clients must send `Authorization: Bearer <token>` to the URL."""

    name: str
    engine: str
    image: str
    transport: str
    profile: str
    started: bool
    url: str | None
    sse_url: str | None
    token: str | None
    exposure: Exposure
    warnings: list[str]


class Stopped(TypedDict):
    name: str
    stopped: bool


class Removed(TypedDict):
    name: str
    removed: bool
    left: list[str]  # containers with its labels that mcp-lok did not create, left alone


class Logs(TypedDict):
    name: str
    proxy_log: list[str]
    server_log: list[str]


class AuditNote(TypedDict):
    """Something about a server as a whole; `drift`: it differs from what was launched."""

    message: str
    hint: str
    drift: bool


class DriftRow(TypedDict):
    """One field that differs from the plan, and the rule that set the expected value."""

    container: str
    field: str
    kind: str
    expected: Any
    found: Any
    origin: str
    description: str


class CheckRow(TypedDict):
    """One CIS Docker Benchmark §5 or Pod Security restricted check."""

    id: str
    title: str
    status: str
    finding: str
    fix: str


class ContainerAudit(TypedDict):
    role: str
    name: str
    id: str | None
    drift: list[DriftRow]
    checks: list[CheckRow]


class ExposureRow(TypedDict):
    kind: str
    field: str
    weight: float


class ServerAudit(TypedDict):
    """One server, as `mcp-lok audit --format json` prints it."""

    name: str
    engine: str
    recorded: bool
    compared: bool
    drifted: bool
    score: float
    level: str
    notes: list[AuditNote]
    containers: list[ContainerAudit]
    exposure: list[ExposureRow]


class Audit(TypedDict):
    """`mcp-lok audit --format json`, plus the engines audited, the servers left out
    because they run on another one than `engine` named, and the engines that did not
    answer."""

    engines: list[str]
    servers: list[ServerAudit]
    drifted: list[str]
    threshold: float | None
    exceeded: list[str]
    elsewhere: list[str]
    not_answering: list[str]


__all__ = [
    "Audit",
    "AuditNote",
    "CheckRow",
    "ContainerAudit",
    "ControlRow",
    "DriftRow",
    "Explained",
    "Exposure",
    "ExposureRow",
    "Launched",
    "Logs",
    "Removed",
    "ServerAudit",
    "ServerList",
    "ServerRow",
    "Stopped",
]
