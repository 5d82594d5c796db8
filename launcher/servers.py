"""Servers that exist: what `list` shows, and what `stop` and `rm` do to them (`logs`
reads their log: `logs.py`; `restart` launches one again: `restart.py`).

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
import urllib.request
from dataclasses import replace
from typing import Any

from . import census
from .census import Census
from .engine import ContainerEngine, EngineClient
from .errors import LokError, UsageError
from .sockets import ELSEWHERE_HINT, elsewhere_problem
from .state import Phase, ServerState, Status, Store, alive, client_urls, status_of
from .teardown import forget, look_alikes, reap, stop_containers, stop_process, teardown

log = logging.getLogger(__name__)

FOREGROUND_STOP_WAIT = 30.0  # a foreground `run` removes everything itself before it exits
HEALTH_WAIT = 1.0  # seconds `list` waits for a proxy's `/health` on loopback
LABEL = {"mcp-lok": "true"}


def _connect(url: str) -> ContainerEngine | None:
    try:
        return EngineClient.connect(url)
    except LokError:
        return None


def engines(store: Store | None = None) -> Census:
    """Every engine on this machine (`census.take`), the engines of `store`'s servers
    among them: a server is shown, audited and removed on the engine it was started on,
    and a look-alike may be on any of them."""
    states = (store or Store()).all()
    return census.take({s.name: (s.engine, s.engine_url) for s in states})


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


def rows(seen: Census | None = None) -> list[dict[str, Any]]:
    """One row per server, with its merged status (`unknown` on an engine that does not
    answer), then one per container that carries mcp-lok's labels but that no launch
    created, on every engine `seen` (default: `engines()`); reaps crash leftovers first.
    Raises `LokError` when no engine answers."""
    store = Store()
    views: dict[str, dict[str, str] | None] = {}
    foreign: list[dict[str, Any]] = []
    answering: dict[str, ContainerEngine] = {}
    for engine in (seen or engines(store)).require():
        answering[engine.url] = engine
        reap(engine, store)
        views[engine.url] = {c["Id"]: str(c.get("State", "")) for c in engine.containers(LABEL)}
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
            row.update(ended(answering.get(state.engine_url), state.container_id or ""))
    return found + sorted(foreign, key=lambda r: (r["name"], r["container"]))


def ended(engine: ContainerEngine | None, container: str) -> dict[str, Any]:
    """An exited server's `exit_code` and when it exited (`finished`, as the engine says:
    RFC 3339, UTC on both engines), from the engine's inspect; empty when it cannot say."""
    found = engine.inspect(container) if engine is not None and container else None
    seen = (found or {}).get("State") or {}
    if not isinstance(seen, dict) or "ExitCode" not in seen:
        return {}
    return {"exit_code": seen["ExitCode"], "finished": seen.get("FinishedAt")}


def listed(show_all: bool, seen: Census | None = None) -> list[dict[str, Any]]:
    """What `list` shows: running servers, or (`--all`) every server and every look-alike,
    on every engine `seen` (default: `engines()`)."""
    hidden = () if show_all else (Status.STOPPED.value, Status.FOREIGN.value)
    return [r for r in rows(seen) if r["status"] not in hidden]


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


def load(store: Store, name: str, engine_choice: str | None = None) -> ServerState:
    """The state of the server NAME. `engine_choice`: the `--engine` a command was given, which
    must name the engine NAME was started on (else a `UsageError`): a command acts on that
    engine, whatever is given or the environment names."""
    state = store.load(name)
    if state is None:
        raise LokError(f"no server named `{name}`", hint="see them all with `mcp-lok list --all`")
    check_engine(state, engine_choice)
    return state


def check_engine(state: ServerState, engine_choice: str | None) -> None:
    """Raise `UsageError` when `engine_choice` (an `--engine`) names another engine than
    the one `state`'s server was started on."""
    if not engine_choice:
        return
    if problem := elsewhere_problem(state.name, engine_choice, state.engine, state.engine_url):
        raise UsageError.of("engine", problem, hint=ELSEWHERE_HINT)


def with_status(
    name: str, engine_choice: str | None = None
) -> tuple[ServerState, Status, str | None]:
    """The server NAME's state, its status as `list` shows it (`unknown` when its engine
    is down), and why it is `degraded` (else None)."""
    state = load(Store(), name, engine_choice)
    return state, *shown(state, status(state, _connect(state.engine_url)))


def _engine(state: ServerState) -> ContainerEngine:
    return EngineClient.connect(state.engine_url)


def stop_server(name: str, engine_choice: str | None = None) -> None:
    """Stop the proxy and the containers, keep everything else (so `rm` or `list` see it).
    A foreground `run` (or a launch in progress) is asked to stop and cleans up itself."""
    store = Store()
    state = load(store, name, engine_choice)
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
            url=None,  # the port stays: `mcp-lok restart` serves it there again
        )
    )


def remove_server(name: str, force: bool = False, engine_choice: str | None = None) -> list[str]:
    """Remove what mcp-lok created for NAME, on the engine it was started on: containers,
    networks, files, state, and its entries in MCP clients' files. Returns the ids of the
    look-alikes left alone: containers labelled as NAME's that no launch created."""
    store = Store()
    state = store.load(name)
    if state is None:
        _refuse_unrecorded(name, store)
    assert state is not None
    check_engine(state, engine_choice)
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
    forget(name)
    return [c["Id"] for c in look_alikes(engine, store, name)] if engine else []


def _refuse_unrecorded(name: str, store: Store) -> None:
    """No state records NAME: nothing of it is mcp-lok's to remove, whatever carries its
    labels on any engine. Raises `LokError`, naming such look-alikes."""
    found: list[tuple[str, str]] = []  # (engine, id)
    with contextlib.suppress(LokError):
        for engine in engines(store).answering:
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


__all__ = [
    "FOREIGN_NOTE",
    "check_engine",
    "engines",
    "listed",
    "load",
    "remove_server",
    "rows",
    "status",
    "stop_server",
    "with_status",
]
