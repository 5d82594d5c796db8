"""What lowering returns: a `LaunchPlan` of Engine API payloads, plus the trace that
links every payload field to the origin that set it.

Payloads are `TypedDict`s with the Engine API's own field names (`POST /containers/create`,
`POST /networks/create`), defined in `payloads.py`. `LaunchPlan.to_json` is what `mcp-lok
policy compile` prints and what the launcher sends, byte for byte.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from typing import Any, Unpack, cast

from .. import baseline
from ..diagnostics import Code, Diagnostic
from ..gate_config import GateConfig
from ..layout import RUNTIME_ROOT, Layout
from ..origin import Argument, Origin
from ..record import field, record
from .payloads import (
    BindOptions,
    ContainerConfig,
    ContainerCreate,
    HostConfig,
    MountSpec,
    NetworkCreate,
)

LAUNCH_LABEL = "mcp-lok-launch"
LAUNCH_PLACEHOLDER = "${launch}"


class Engine(enum.Enum):
    DOCKER = "docker"
    PODMAN = "podman"


class Transport(enum.Enum):
    STDIO = "stdio"
    SSE = "sse"
    STREAMABLE_HTTP = "streamable-http"

    @property
    def is_http(self) -> bool:
        return self is not Transport.STDIO


@record
class Target:
    """Everything lowering needs besides the policy; all of it is explicit, so lowering
    never looks at the host."""

    image: str
    name: str
    engine: Engine = Engine.DOCKER
    transport: Transport = Transport.STDIO
    args: tuple[str, ...] = ()
    port: int = baseline.DEFAULT_TARGET_PORT  # where an HTTP server listens, in its namespace
    runtime_dir: str = RUNTIME_ROOT
    gate_image: str = "mcp-lok/gate:latest"
    # the launch's own nonce, on every object it creates (the `mcp-lok-launch` label): the
    # launcher records it before the first create, so that it removes exactly what this
    # launch made. `policy compile` prints the placeholder; a launch fills in its nonce.
    launch: str = LAUNCH_PLACEHOLDER

    @property
    def layout(self) -> Layout:
        """Where the server's files are on the host."""
        return Layout(self.runtime_dir, self.name)


@record
class PlanFile:
    """A file (or an empty directory) the launcher makes on the host before creating
    containers."""

    path: str
    content: str
    mode: int = 0o644
    directory: bool = False
    owner: str | None = None  # "uid:gid"; None: whoever runs the launcher


@record
class EngineMount:
    """A mount the engine adds to a container on its own, named so that the plan is the
    container's whole mount table: where, the filesystem types it may show, the per-mount
    flags it always has, its size where the payload sets one, and why it is there."""

    target: str
    types: tuple[str, ...]  # () for a bind: it shows its source's filesystem
    options: tuple[str, ...]  # flags every such mount has: `ro`, `nosuid`, `nodev`, `noexec`
    why: str
    size: int | None = None  # bytes
    beneath: bool = False  # it stands for every mount beneath `target` as well
    optional: bool = False  # only where the kernel (or the image) has the path

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "types": list(self.types),
            "options": list(self.options),
            "size": self.size,
            "beneath": self.beneath,
            "optional": self.optional,
            "why": self.why,
        }


@record
class Container:
    name: str
    body: ContainerCreate
    trace: dict[str, Origin] = field(compare=False)
    # what the engine mounts besides the body's `Mounts` and `Tmpfs` (`lower/docker.py`,
    # `lower/podman.py`)
    engine_mounts: tuple[EngineMount, ...] = ()


@record
class Gate:
    container: Container
    config: GateConfig


@record
class LaunchPlan:
    engine: Engine
    name: str
    server: Container
    networks: tuple[NetworkCreate, ...]
    gate: Gate | None
    files: tuple[PlanFile, ...]
    digest: str

    def to_dict(self) -> dict[str, Any]:
        engine_mounts = {"server": [m.to_dict() for m in self.server.engine_mounts]}
        if self.gate is not None:
            engine_mounts["gate"] = [m.to_dict() for m in self.gate.container.engine_mounts]
        return {
            "engine": self.engine.value,
            "engine_mounts": engine_mounts,
            "name": self.name,
            "policy_digest": self.digest,
            "container_name": self.server.name,
            "container": self.server.body,
            "networks": list(self.networks),
            "gate": None
            if self.gate is None
            else {
                "container_name": self.gate.container.name,
                "container": self.gate.container.body,
                "config": self.gate.config.to_dict(),
            },
            "files": [
                {
                    "path": f.path,
                    "mode": f"{f.mode:04o}",
                    "content": f.content,
                    "directory": f.directory,
                    "owner": f.owner,
                }
                for f in self.files
            ],
        }

    def to_json(self) -> str:
        return canonical_json(self.to_dict(), indent=2) + "\n"

    @property
    def launch(self) -> str:
        """The launch nonce the plan's objects carry (the placeholder, for `compile`)."""
        return self.server.body["Labels"][LAUNCH_LABEL]


def canonical_json(value: object, indent: int | None = None) -> str:
    """Deterministic JSON: sorted keys, fixed separators, UTF-8 kept readable."""
    separators = (",", ": ") if indent else (",", ":")
    return json.dumps(
        value, sort_keys=True, indent=indent, separators=separators, ensure_ascii=False
    )


class _Fields:
    """Sets the fields of one object of a payload and records, for each, the origin that set
    it, in the trace's notation: `HostConfig.Memory` for a field, `HostConfig.Mounts[0]` for
    a list's element, `Labels[mcp-lok]` for a map's entry."""

    def __init__(self, node: dict[str, Any], trace: dict[str, Origin], prefix: str) -> None:
        self._node, self._trace, self._prefix = node, trace, prefix

    def _set(self, origin: Origin, fields: Mapping[str, object]) -> None:
        for key, value in fields.items():
            self._node[key] = value
            self._trace[f"{self._prefix}{key}"] = origin

    def _add(self, origin: Origin, fields: Mapping[str, object]) -> None:
        for key, value in fields.items():
            if isinstance(value, list):
                items = self._node.setdefault(key, [])
                for item in value:
                    self._trace[f"{self._prefix}{key}[{len(items)}]"] = origin
                    items.append(item)
            else:
                assert isinstance(value, dict)  # the payloads' fields are lists, maps, values
                entries = self._node.setdefault(key, {})
                for name, item in value.items():
                    self._trace[f"{self._prefix}{key}[{name}]"] = origin
                    entries[name] = item


class HostConfigFields(_Fields):
    """`HostConfig`'s fields, by keyword: a name the Engine API lacks fails `mypy`."""

    def set(self, origin: Origin, /, **fields: Unpack[HostConfig]) -> None:
        """Set whole fields."""
        self._set(origin, fields)

    def add(self, origin: Origin, /, **fields: Unpack[HostConfig]) -> None:
        """Append the elements given to list fields, the entries given to map fields."""
        self._add(origin, fields)


class Payload(_Fields):
    """Builds one `POST /containers/create` body by keyword, with the Engine API's own
    field names (`payloads.py`), and its trace: the origin of every field it sets. The
    container's own fields are set here, `HostConfig`'s through `host`."""

    def __init__(self) -> None:
        self._body: dict[str, Any] = {}
        self.trace: dict[str, Origin] = {}
        super().__init__(self._body, self.trace, "")
        self.host = HostConfigFields(
            self._body.setdefault("HostConfig", {}), self.trace, "HostConfig."
        )

    def set(self, origin: Origin, /, **fields: Unpack[ContainerConfig]) -> None:
        """Set whole fields."""
        self._set(origin, fields)

    def add(self, origin: Origin, /, **fields: Unpack[ContainerConfig]) -> None:
        """Append the elements given to list fields, the entries given to map fields."""
        self._add(origin, fields)

    @property
    def body(self) -> ContainerCreate:
        # what `set` and `add` wrote, each value typed by the keyword that wrote it
        return cast(ContainerCreate, self._body)


def bind(source: str, target: str, *, read_only: bool) -> MountSpec:
    """A bind mount as mcp-lok makes every one: the host's `source` at `target`."""
    return MountSpec(
        Type="bind",
        Source=source,
        Target=target,
        ReadOnly=read_only,
        # INVARIANT: no mount propagates back to the host (CIS 5.19), and no host mount
        # nested beneath `source` is carried in: what is bound is exactly what was judged
        BindOptions=BindOptions(Propagation="rprivate", NonRecursive=True),
    )


_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")


def target_problems(target: Target) -> list[Diagnostic]:
    """What is wrong with the command-line inputs to lowering (empty when nothing)."""
    found: list[Diagnostic] = []
    if not _NAME.fullmatch(target.name):
        found.append(
            Diagnostic(
                Code.NAME_INVALID,
                f"`{target.name}` is not a valid server name",
                Argument("--name"),
                help="use letters, digits, `_`, `.` and `-`, starting with a letter or digit, "
                "at most 63 characters",
            )
        )
    if not target.image or any(c.isspace() or ord(c) < 32 for c in target.image):
        found.append(
            Diagnostic(
                Code.IMAGE_INVALID,
                f"`{target.image}` is not an image reference",
                Argument("--image"),
                help="e.g. `mcp-lok/mcp-server-time:latest`",
            )
        )
    if not 1 <= target.port <= 65535:
        found.append(
            Diagnostic(
                Code.PORT_INVALID,
                f"port `{target.port}` is outside 1–65535",
                Argument("--target-port"),
            )
        )
    return found


def default_name(image: str) -> str:
    """A server name from an image reference: `ghcr.io/acme/github-mcp:1.2` → `github-mcp`."""
    last = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    name = re.sub(r"[^a-zA-Z0-9_.-]+", "-", last).strip("-._")
    return name[:63] or "server"
