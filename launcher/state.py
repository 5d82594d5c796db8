"""Per-server state on the host: what mcp-lok created for each server, so that `list`,
`stop`, `rm` and `logs` can find it again, and so that a crash leaves a record to reap.

One JSON file per server, `<root>/<name>/state.json`, written atomically (temp file,
fsync, rename, fsync of the folder). The root is the runtime dir the plan's files live in:
`/run/mcp-lok` as root, else `$XDG_RUNTIME_DIR/mcp-lok`. What the engine says about the
containers is merged in by `status_of`; this module never talks to the engine itself.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mcp_lok.policy.layout import LOCK, RESERVED, Layout
from mcp_lok.policy.lower import LAUNCH_LABEL

from .errors import LokError
from .paths import default_root

PRIVATE_DIR = 0o700  # every folder mcp-lok makes
PRIVATE_FILE = 0o600  # every file mcp-lok writes, but those a container reads (the plan's)
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")  # policy's `target_problems` rule
_NONCE = re.compile(r"[0-9a-f]{32}")
_TEMP = re.compile(r"\A\..+\.[0-9a-f]{16}\.tmp\Z")  # what `write_atomic` names its temp file


class Phase(enum.Enum):
    """What mcp-lok last did to a server (the engine may since disagree)."""

    STARTING = "starting"  # a launch is creating it; `launcher_pid` owns it
    RUNNING = "running"  # launched; `proxy_pid` serves it
    STOPPED = "stopped"  # `mcp-lok stop` stopped it on purpose


class Status(enum.Enum):
    """What `list` reports: mcp-lok's phase merged with what the engine and the OS say."""

    STARTING = "starting"
    RUNNING = "running"
    DEGRADED = "degraded"  # running, but its proxy refuses new client sessions: all busy
    UNHEALTHY = "unhealthy"  # the server runs, but its proxy (or gate) is gone
    EXITED = "exited"  # the server's container stopped by itself
    MISSING = "missing"  # the server's container is gone
    STOPPED = "stopped"
    FAILED = "failed"  # a launch died half-way; the next command reaps it
    UNKNOWN = "unknown"  # the engine does not answer
    FOREIGN = "foreign"  # carries mcp-lok's labels, but no launch created it


def is_nonce(value: object) -> bool:
    """Whether `value` is a launch nonce (never `policy compile`'s placeholder)."""
    return isinstance(value, str) and _NONCE.fullmatch(value) is not None


def created_by(listed: Mapping[str, Any], states: Iterable[ServerState]) -> ServerState | None:
    """The server whose launch created the container or network `listed`; None for a
    look-alike: mcp-lok's labels alone (a wrong nonce, or none) make nothing mcp-lok's."""
    return next((s for s in states if s.launched(listed)), None)


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a server (None when it can)."""
    if not _NAME.fullmatch(name):
        return (
            f"`{name}` is not a valid server name: use letters, digits, `_`, `.` and `-`, "
            "starting with a letter or digit, at most 63 characters"
        )
    if name in RESERVED:
        return f"`{name}` is reserved for mcp-lok's own files"
    return None


@dataclass
class NetworkRef:
    name: str
    id: str


@dataclass
class ServerState:
    name: str
    engine: str  # "docker" | "podman"
    engine_url: str  # unix:///…
    transport: str
    image: str
    profile: str  # the policy SOURCE as given
    policy_digest: str
    created: str  # ISO 8601, UTC
    log_path: str
    container_name: str
    phase: str = Phase.STARTING.value
    launcher_pid: int | None = None
    launcher_start: int | None = None
    proxy_pid: int | None = None
    proxy_start: int | None = None  # the pid's start time, so a reused pid is not ours
    detached: bool = False
    url: str | None = None
    port: int | None = None
    target_port: int | None = None
    container_id: str | None = None
    gate_id: str | None = None
    gate_name: str | None = None
    networks: list[NetworkRef] = field(default_factory=list)
    # the launch's nonce, recorded before anything is created and carried by every object
    # the launch creates (the `mcp-lok-launch` label): what was created but not recorded
    # yet (a crash between a create and its record) is found by it, and nothing else is
    launch: str | None = None
    # the proxy's bearer token (None: `--no-auth`, or a state from before tokens were
    # kept); shown again to its owner by `mcp-lok inspect --show-token`
    token: str | None = None
    # a stdio server's proxy: one server for all client sessions or one per session, at
    # most how many sessions, and the seconds an idle one lives (None: an HTTP server, or
    # a state from before they were kept: the proxy's defaults)
    session_mode: str | None = None
    max_sessions: int | None = None
    session_idle_timeout: int | None = None
    # what was asked for, as `LaunchRequest` fields (its bearer token is `token`): what
    # `mcp-lok restart` launches again (None: a state from before requests were kept)
    request: dict[str, Any] | None = None
    restarts: int = 0  # times the server was started again (`mcp-lok restart`, `--restart`)
    files: list[str] = field(default_factory=list)  # host files mcp-lok wrote for it
    kept: list[str] = field(default_factory=list)  # of those, files that existed before
    dirs: list[str] = field(default_factory=list)  # host folders mcp-lok made for it

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ServerState:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
        values["networks"] = [NetworkRef(**n) for n in values.get("networks", [])]
        return cls(**values)

    @property
    def ids(self) -> list[str]:
        """Every container id recorded, the server's first."""
        return [i for i in (self.container_id, self.gate_id) if i]

    def launched(self, listed: Mapping[str, Any]) -> bool:
        """Whether the container or network `listed` (as the engine lists it) is one this
        server's launch created: an id it recorded, or this launch's own nonce."""
        recorded = {*self.ids, *(n.id for n in self.networks)}
        labels = listed.get("Labels") or {}
        return listed.get("Id") in recorded or (
            is_nonce(self.launch) and labels.get(LAUNCH_LABEL) == self.launch
        )


class Store:
    """The state files under one root."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = default_root() if root is None else root

    def layout(self, name: str) -> Layout:
        """Where the server `name`'s files are."""
        return Layout(str(self.root), name)

    def folder(self, name: str) -> Path:
        return Path(self.layout(name).folder)

    def path(self, name: str) -> Path:
        return Path(self.layout(name).state)

    def log_path(self, name: str) -> Path:
        return Path(self.layout(name).log)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/state.json"))

    def load(self, name: str) -> ServerState | None:
        try:
            text = self.path(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return ServerState.from_json(text)
        except (ValueError, TypeError, KeyError) as error:
            raise LokError(
                f"the state of `{name}` is damaged ({self.path(name)}): {error}",
                hint=f"remove what is left with `mcp-lok rm --force {name}`",
            ) from error

    def all(self) -> list[ServerState]:
        found = []
        for name in self.names():
            with contextlib.suppress(LokError):
                if (state := self.load(name)) is not None:
                    found.append(state)
        return found

    def save(self, state: ServerState) -> None:
        folder = self.folder(state.name)
        if not folder.is_dir():
            self.private(folder)
        # INVARIANT: the state (it holds the bearer token) is its owner's alone: 0600, in
        # a 0700 folder under a 0700 root
        write_atomic(self.path(state.name), state.to_json(), PRIVATE_FILE)

    def private(self, folder: Path) -> list[Path]:
        """Make `folder` (under the root) and its missing parents 0700; returns those made.
        The root is made 0700 even when it was there already (an older mcp-lok made it
        0755)."""
        made = make_private_dirs(folder)
        # INVARIANT: the runtime root is 0700, so nothing under it is reachable by another
        # local user, whatever mode a file a container reads through a bind mount has
        if stat.S_IMODE(self.root.stat().st_mode) != PRIVATE_DIR:
            self.root.chmod(PRIVATE_DIR)
        return made

    def make_log(self, name: str) -> None:
        """Create the proxy's log, 0600, before any process opens it for appending (an
        `open(…, "a")` would create it with the umask's mode)."""
        os.close(os.open(self.log_path(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        os.chmod(self.log_path(name), PRIVATE_FILE)

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()
        with contextlib.suppress(FileNotFoundError):
            self.log_path(name).unlink()
        # a writer killed mid-`write_atomic` (a detached proxy SIGKILLed while it records
        # that it is ready) leaves its temp file: ours by its name, and garbage now
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.folder(name)):
                if _TEMP.match(entry.name) and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
        with contextlib.suppress(OSError):  # only when empty: never delete what we did not write
            self.folder(name).rmdir()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise name reservation and reaping between concurrent mcp-lok commands."""
        self.private(self.root)
        fd = os.open(self.root / LOCK, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
        try:
            os.fchmod(fd, PRIVATE_FILE)  # an older mcp-lok made it with the umask's mode
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def make_private_dirs(folder: Path) -> list[Path]:
    """Make `folder` and its missing parents 0700, whatever the umask. Returns the folders
    made, outermost first."""
    missing = []
    probe = folder
    while not probe.is_dir():
        missing.append(probe)
        probe = probe.parent
    made = list(reversed(missing))
    for path in made:
        with contextlib.suppress(FileExistsError):  # a concurrent command made it
            path.mkdir(mode=PRIVATE_DIR)
        path.chmod(PRIVATE_DIR)
    return made


def write_atomic(path: Path, content: str, mode: int) -> None:
    """Write `content` to `path` so that readers see the old file or the new, never half."""
    # what `tempfile.mkstemp` does (a fresh name, O_EXCL, 0600), without its import
    temp = path.parent / f".{path.name}.{os.urandom(8).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temp, flags, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


# --- processes -------------------------------------------------------------------------------


def process_start(pid: int) -> int | None:
    """The start time of `pid` (clock ticks since boot), None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    rest = stat.rsplit(")", 1)[-1].split()
    if not rest or rest[0] in ("Z", "X"):
        return None
    return int(rest[19])


def alive(pid: int | None, start: int | None) -> bool:
    """Whether `pid` still runs and is the same process that was recorded."""
    if not pid:
        return False
    now = process_start(pid)
    return now is not None and (start is None or now == start)


# --- status ----------------------------------------------------------------------------------


def status_of(
    state: ServerState, containers: dict[str, str] | None, proxy_alive: bool, launcher_alive: bool
) -> Status:
    """Merge mcp-lok's phase with the engine's view (`containers`: id → engine state such as
    "running"/"exited", or None when the engine does not answer) and the proxy's pid."""
    phase = Phase(state.phase)
    if phase is Phase.STARTING:
        return Status.STARTING if launcher_alive else Status.FAILED
    if containers is None:
        return Status.UNKNOWN
    server = containers.get(state.container_id or "")
    if server is None:
        return Status.MISSING
    if phase is Phase.STOPPED:
        return Status.STOPPED
    if server == "created" and proxy_alive:
        # `--session-mode per-session`: the provisioned container is never started (each
        # client session gets a container of its own); the proxy serving is what counts
        return Status.RUNNING
    if server != "running":
        return Status.EXITED
    gate_ok = not state.gate_id or containers.get(state.gate_id) == "running"
    return Status.RUNNING if proxy_alive and gate_ok else Status.UNHEALTHY


__all__ = [
    "LAUNCH_LABEL",
    "NetworkRef",
    "Phase",
    "ServerState",
    "Status",
    "Store",
    "alive",
    "created_by",
    "default_root",
    "is_nonce",
    "name_problem",
    "process_start",
    "status_of",
    "write_atomic",
]


def client_urls(base: str, transport: str) -> dict[str, str | None]:
    """Where clients reach a server through its proxy: `url` (the endpoint to configure)
    and `sse_url` (legacy SSE), by what the server serves. A stdio server gets both from
    the proxy; an HTTP server is forwarded as it is, so only its own endpoint exists."""
    if transport == "sse":
        return {"url": f"{base}/sse", "sse_url": f"{base}/sse"}
    if transport == "streamable-http":
        return {"url": f"{base}/mcp", "sse_url": None}
    return {"url": f"{base}/mcp", "sse_url": f"{base}/sse"}
