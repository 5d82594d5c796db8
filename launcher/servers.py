"""Servers that exist: what `list` shows, and what `stop`, `rm` and `logs` do to them.

Truth comes from three places, merged by `state.status_of`: the state files (what mcp-lok
did), the engine (which of the recorded containers exist and run), and the OS (whether the
recorded proxy pid is still that process); what `list` and `inspect` show asks a running
server's proxy too (`/health`: `degraded` while it refuses new client sessions). Each
command first reaps what crashed commands left (`teardown.reap`). A container that carries
mcp-lok's labels but that no launch created is listed as `foreign` and never stopped or
removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from .engine import ContainerEngine, EngineClient, answering
from .errors import LokError
from .state import Phase, ServerState, Status, Store, alive, client_urls, status_of
from .teardown import look_alikes, reap, stop_containers, stop_process, teardown

log = logging.getLogger(__name__)

FOREGROUND_STOP_WAIT = 30.0  # a foreground `run` removes everything itself before it exits
HEALTH_WAIT = 1.0  # seconds `list` waits for a proxy's `/health` on loopback
LABEL = {"mcp-lok": "true"}


def _connect(url: str) -> ContainerEngine | None:
    try:
        return EngineClient.connect(url)
    except LokError:
        return None


def engines_for(states: list[ServerState]) -> dict[str, ContainerEngine | None]:
    """Each engine the states name (None when it does not answer), and every other one that
    answers on this machine: a look-alike may be on any of them."""
    found = {url: _connect(url) for url in sorted({s.engine_url for s in states})}
    with contextlib.suppress(LokError):
        for engine in answering():
            found.setdefault(engine.url, engine)
    return found


def status(
    state: ServerState, engine: ContainerEngine | None, containers: dict[str, str] | None = None
) -> Status:
    if containers is None and engine is not None:
        containers = {c["Id"]: str(c.get("State", "")) for c in engine.containers(LABEL)}
    return status_of(
        state,
        containers,
        alive(state.proxy_pid, state.proxy_start),
        alive(state.launcher_pid, state.launcher_start),
    )


FOREIGN_NOTE = "not created by mcp-lok: it carries mcp-lok's labels, but no launch recorded it"


def rows() -> list[dict[str, Any]]:
    """One row per server, with its merged status, then one per container that carries
    mcp-lok's labels but that no launch created; reaps crash leftovers first."""
    store = Store()
    engines = engines_for(store.all())
    views: dict[str, dict[str, str] | None] = {}
    foreign: list[dict[str, Any]] = []
    for url, engine in engines.items():
        if engine is None:
            views[url] = None
            continue
        reap(engine, store)
        views[url] = {c["Id"]: str(c.get("State", "")) for c in engine.containers(LABEL)}
        foreign += [_foreign_row(c, engine) for c in look_alikes(engine, store)]
    found = [
        _row(
            s,
            *shown(
                s,
                status_of(
                    s,
                    views.get(s.engine_url),
                    alive(s.proxy_pid, s.proxy_start),
                    alive(s.launcher_pid, s.launcher_start),
                ),
            ),
        )
        for s in store.all()
    ]
    by_name = {s.name: s for s in store.all()}
    for row in found:
        if row["status"] == Status.EXITED.value and (state := by_name.get(row["name"])):
            row.update(ended(engines.get(state.engine_url), state.container_id or ""))
    return found + sorted(foreign, key=lambda r: (r["name"], r["container"]))


def ended(engine: ContainerEngine | None, container: str) -> dict[str, Any]:
    """An exited server's `exit_code` and when it exited (`finished`, as the engine says:
    RFC 3339, UTC on both engines), from the engine's inspect; empty when it cannot say."""
    found = engine.inspect(container) if engine is not None and container else None
    seen = (found or {}).get("State") or {}
    if not isinstance(seen, dict) or "ExitCode" not in seen:
        return {}
    return {"exit_code": seen["ExitCode"], "finished": seen.get("FinishedAt")}


def listed(show_all: bool) -> list[dict[str, Any]]:
    """What `list` shows: running servers, or (`--all`) every server and every look-alike."""
    hidden = () if show_all else (Status.STOPPED.value, Status.FOREIGN.value)
    return [r for r in rows() if r["status"] not in hidden]


def _foreign_row(listed: dict[str, Any], engine: ContainerEngine) -> dict[str, Any]:
    labels = listed.get("Labels") or {}
    names = listed.get("Names") or [""]
    return {
        "name": labels.get("mcp-lok-name") or str(names[0]).lstrip("/"),
        "status": Status.FOREIGN.value,
        "transport": labels.get("mcp-lok-transport"),
        "url": None,
        "sse_url": None,
        "image": listed.get("Image"),
        "engine": engine.kind.value,
        "profile": None,
        "created": None,
        "container": listed["Id"],
        "auth": None,
        "note": FOREIGN_NOTE,
    }


def shown(state: ServerState, found: Status) -> tuple[Status, str | None]:
    """What `list` and `inspect` show: `found`, or `degraded` with the reason while a
    running server's proxy refuses new client sessions (its `/health` says so)."""
    if found is not Status.RUNNING or not state.url:
        return found, None
    # no HTTP proxy from the environment: this is our own proxy, on loopback
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{state.url}/health", timeout=HEALTH_WAIT) as answer:
            about = json.loads(answer.read())
    except (OSError, ValueError):  # a 503 (`unavailable`), or no answer: as found
        return found, None
    if isinstance(about, dict) and about.get("status") == Status.DEGRADED.value:
        return Status.DEGRADED, str(about.get("reason", ""))
    return found, None


def _row(state: ServerState, found: Status, reason: str | None = None) -> dict[str, Any]:
    urls: dict[str, str | None] = {"url": None, "sse_url": None}
    if found in (Status.RUNNING, Status.DEGRADED, Status.STARTING) and state.url:
        urls = client_urls(state.url, state.transport)
    row: dict[str, Any] = {
        "name": state.name,
        "status": found.value,
        "transport": state.transport,
        **urls,
        "image": state.image,
        "engine": state.engine,
        "profile": state.profile,
        "created": state.created,
        "container": state.container_id,
        "auth": state.token is not None,
    }
    if reason:
        row["note"] = reason
    return row


def load(store: Store, name: str) -> ServerState:
    state = store.load(name)
    if state is None:
        raise LokError(f"no server named `{name}`", hint="see them all with `mcp-lok list --all`")
    return state


def with_status(name: str) -> tuple[ServerState, Status, str | None]:
    """The server NAME's state, its status as `list` shows it (`unknown` when its engine
    is down), and why it is `degraded` (else None)."""
    state = load(Store(), name)
    return state, *shown(state, status(state, _connect(state.engine_url)))


def _engine(state: ServerState) -> ContainerEngine:
    return EngineClient.connect(state.engine_url)


def stop_server(name: str) -> None:
    """Stop the proxy and the containers, keep everything else (so `rm` or `list` see it).
    A foreground `run` (or a launch in progress) is asked to stop and cleans up itself."""
    store = Store()
    state = load(store, name)
    engine = _engine(state)
    if not state.detached or state.phase == Phase.STARTING.value:
        stop_process(state.proxy_pid, state.proxy_start, FOREGROUND_STOP_WAIT)
        stop_process(state.launcher_pid, state.launcher_start, FOREGROUND_STOP_WAIT)
        state = store.load(name) or state
        if store.load(name) is None:
            return
    stop_process(state.proxy_pid, state.proxy_start)
    stop_containers(engine, state)
    store.save(
        replace(
            state,
            phase=Phase.STOPPED.value,
            proxy_pid=None,
            proxy_start=None,
            launcher_pid=None,
            launcher_start=None,
            url=None,
            port=None,
        )
    )


def remove_server(name: str, force: bool = False) -> list[str]:
    """Remove what mcp-lok created for NAME: containers, networks, files, state. Returns the
    ids of the look-alikes left alone: containers labelled as NAME's that no launch created."""
    store = Store()
    state = store.load(name)
    if state is None:
        _refuse_unrecorded(name, store)
    assert state is not None
    engine = _connect(state.engine_url)
    if engine is None and not force:
        raise LokError(
            f"the engine of `{name}` ({state.engine_url}) does not answer",
            hint=f"start it, or drop only the local state with `mcp-lok rm --force {name}`",
        )
    found = status(state, engine)
    if found in (Status.RUNNING, Status.STARTING) and not force:
        raise LokError(
            f"`{name}` is {found.value}",
            hint=f"stop it first with `mcp-lok stop {name}`, or use `mcp-lok rm --force {name}`",
        )
    teardown(engine, store, state)
    return [c["Id"] for c in look_alikes(engine, store, name)] if engine else []


def _refuse_unrecorded(name: str, store: Store) -> None:
    """No state records NAME: nothing of it is mcp-lok's to remove, whatever carries its
    labels on any engine. Raises `LokError`, naming such look-alikes."""
    found: list[tuple[str, str]] = []  # (engine, id)
    with contextlib.suppress(LokError):
        for engine in answering():
            found += [(engine.kind.value, c["Id"]) for c in look_alikes(engine, store, name)]
    if found:
        ids = " ".join(i[:12] for _, i in found)
        removal = "; ".join(
            f"`{kind} rm -f {' '.join(i[:12] for k, i in found if k == kind)}`"
            for kind in sorted({k for k, _ in found})
        )
        raise LokError(
            f"no server named `{name}`; containers carrying its labels ({ids}) were not "
            "created by mcp-lok, and it leaves them alone",
            hint=f"if they are yours to remove: {removal}",
        )
    raise LokError(f"no server named `{name}`", hint="see them all with `mcp-lok list --all`")


def print_logs(name: str, *, follow: bool, out: BinaryIO) -> None:
    """The server's stderr and the proxy's log. For stdio the proxy writes the server's
    stderr into its log; for HTTP servers the engine keeps the server's output."""
    store = Store()
    state = load(store, name)
    log_file = Path(state.log_path)
    offset = _copy(log_file, 0, out)
    try:
        if state.transport != "stdio" and state.container_id:
            for chunk in _engine(state).logs(state.container_id, follow=follow):
                out.write(chunk)
                out.flush()
        elif follow:
            while store.load(name) is not None and (
                alive(state.proxy_pid, state.proxy_start) or offset < _size(log_file)
            ):
                offset = _copy(log_file, offset, out)
                time.sleep(0.2)
                state = store.load(name) or state
    except KeyboardInterrupt:
        return


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _copy(path: Path, offset: int, out: BinaryIO) -> int:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return offset
    out.write(data)
    out.flush()
    return offset + len(data)


__all__ = [
    "FOREIGN_NOTE",
    "engines_for",
    "listed",
    "print_logs",
    "remove_server",
    "rows",
    "status",
    "stop_server",
    "with_status",
]
