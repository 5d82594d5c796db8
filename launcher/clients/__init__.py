"""MCP clients pointed at mcp-lok's servers: `client setup` writes a running server's URL
and token into each client's own configuration file, `client rm` and every teardown of a
server (`rm`, the end of a foreground `run`) take them out again, `client list` says which
entries still point at a server that serves.

An entry is named `mcp-lok-NAME` and recorded (`record.py`) when written; mcp-lok removes
only recorded entries that still point where it wrote them. The clients are `table.py`'s;
reading and writing their files, `files.py`'s. What a server is (its state, its status)
the caller says: this package reads no server state and asks no engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_lok.launcher.errors import LokError

from . import files, record
from .table import BY_NAME, CLIENTS, Client, Endpoint, detected, entry_name, targets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What happened to one entry in one file: `added`, `updated`, `unchanged`,
    `removed`, `absent` (not in the file any more), `left` (not mcp-lok's: left alone) or
    `failed`; the backup made, and what to tell the user."""

    client: str
    path: Path
    entry: str
    action: str
    backup: Path | None = None
    note: str | None = None
    shared: bool = False  # the file can be read by other users: the token with it

    @property
    def ok(self) -> bool:
        return self.action not in ("left", "failed")


def choose(names: Iterable[str]) -> list[tuple[Client, Path]]:
    """The files to write: those of the clients named, or of every client installed here.
    Raises `LokError` when a client named, or every client, has no folder here."""
    named = [BY_NAME[n] for n in dict.fromkeys(names)]
    chosen = named or detected()
    if not chosen:
        known = ", ".join(c.name for c in CLIENTS)
        raise LokError(
            "no MCP client's configuration folder found in this home folder",
            hint=f"name one with `--client` ({known})",
        )
    for client in named:
        if not targets(client):
            where = client.files()[0].parent
            raise LokError(
                f"{client.title} keeps its configuration in `{where}`, which does not exist",
                hint=f"is {client.title} installed for this user? start it once, then retry",
            )
    return [(client, path) for client in chosen for path in targets(client)]


def setup(server: str, at: Endpoint, names: Iterable[str] = ()) -> list[Outcome]:
    """Point the clients `names` (default: every client installed) at the server `server`,
    reached at `at`."""
    chosen = choose(names)
    entry = entry_name(server)
    outcomes = []
    with record.lock():
        written = record.load()
        for client, path in chosen:
            mine = record.Entry(server, client.name, str(path), entry, at.url)
            ours = any(w.same_place(mine) for w in written)
            others = [w for w in written if not w.same_place(mine)]
            # recorded before it is written: a crash in between leaves a record of an
            # entry that is not there (harmless), never an entry of ours unrecorded
            record.save([*others, mine])
            outcome = _put(client, path, entry, client.write(at), ours)
            outcomes.append(outcome)
            if outcome.ok:
                written = [*others, mine]
            elif not ours:  # not written: the entry there, if any, is not mcp-lok's
                record.save(written)
    return outcomes


def _put(client: Client, path: Path, entry: str, value: dict[str, Any], ours: bool) -> Outcome:
    found: list[Any] = []

    def change(data: dict[str, Any]) -> bool:
        servers = files.make_section(data, client.servers, path)
        found[:] = [servers.get(entry)]
        if found[0] is not None and not ours:
            return False
        servers[entry] = value
        return bool(found[0] != value)

    try:
        done = files.update(path, change)
    except LokError as error:
        return Outcome(client.name, path, entry, "failed", note=_said(error))
    if found[0] is not None and not ours:
        note = f"an entry `{entry}` that mcp-lok did not write is there: left alone"
        return Outcome(client.name, path, entry, "left", note=note)
    action = "unchanged" if not done.changed else "updated" if found[0] is not None else "added"
    return Outcome(
        client.name, path, entry, action, done.backup, client.note, bool(done.mode & 0o077)
    )


def remove(server: str, names: Iterable[str] = ()) -> list[Outcome]:
    """Take the entries mcp-lok wrote for `server` out of the clients `names` (default:
    all). An entry someone changed since is left alone, and forgotten."""
    only = set(names)
    outcomes: list[Outcome] = []
    if not record.kept():  # nothing ever written: not even the record's folder is made
        return outcomes
    with record.lock():
        written = record.load()
        for mine in [w for w in written if w.server == server]:
            if only and mine.client not in only:
                continue
            outcome = _take(mine)
            outcomes.append(outcome)
            if outcome.action != "failed":
                written = [w for w in written if w != mine]
                record.save(written)
    return outcomes


def _take(mine: record.Entry) -> Outcome:
    client = BY_NAME.get(mine.client)
    path = Path(mine.path)
    found: list[Any] = []

    def change(data: dict[str, Any]) -> bool:
        servers = files.section(data, client.servers, path) if client else None
        found[:] = [servers.get(mine.entry) if servers is not None else None]
        if servers is None or not _still_ours(client, found[0], mine):
            return False
        del servers[mine.entry]
        return True

    try:
        done = files.update(path, change) if path.exists() else None
    except LokError as error:
        return Outcome(mine.client, path, mine.entry, "failed", note=_said(error))
    if done is not None and done.changed:
        return Outcome(mine.client, path, mine.entry, "removed", done.backup)
    if not found or found[0] is None:
        return Outcome(mine.client, path, mine.entry, "absent")
    note = "changed since mcp-lok wrote it: left alone"
    return Outcome(mine.client, path, mine.entry, "left", note=note)


def _still_ours(client: Client | None, value: Any, mine: record.Entry) -> bool:
    if client is None or not isinstance(value, dict):
        return False
    at = client.read(value)
    return at is not None and at.url == mine.url


def forget(server: str) -> None:
    """What a server's teardown does: remove its client entries; a failure is logged,
    never raised (the server is gone either way)."""
    try:
        outcomes = remove(server)
    except (LokError, OSError) as error:
        log.warning("could not remove the client entries of `%s`: %s", server, error)
        return
    for outcome in outcomes:
        if outcome.action in ("left", "failed"):
            log.warning("%s: %s: %s", outcome.client, outcome.path, outcome.note)
        elif outcome.action == "removed":
            log.info("%s: removed `%s` from %s", outcome.client, outcome.entry, outcome.path)


def refresh(server: str, at: Endpoint) -> list[Outcome]:
    """Rewrite the entries mcp-lok wrote for `server` to `at` (a server restarted on
    another port or with another token); entries already right are not touched."""
    with record.lock():
        clients = sorted({w.client for w in record.load() if w.server == server})
    return setup(server, at, clients) if clients else []


@dataclass(frozen=True)
class Pointer:
    """One recorded entry as `client list` shows it: the server's status (None: no such
    server any more) and whether the entry still points at it."""

    client: str
    server: str
    entry: str
    path: str
    status: str | None
    # `ok`; `gone` (no such server); `stale` (its URL or token are not the server's);
    # `not serving` (the server exists, but serves no URL now: see `status`); `absent`
    # (not in the file any more); `unreadable` (the file)
    state: str


Current = Callable[[str], tuple[str, Endpoint | None] | None]


def pointers(current: Current) -> list[Pointer]:
    """Every recorded entry, judged against `current(server)`: the server's status and
    where it serves now (None when no server has that name)."""
    shown = []
    for mine in record.load():
        now = current(mine.server)
        status = now[0] if now else None
        shown.append(
            Pointer(mine.client, mine.server, mine.entry, mine.path, status, _judge(mine, now))
        )
    return shown


def _judge(mine: record.Entry, now: tuple[str, Endpoint | None] | None) -> str:
    client = BY_NAME.get(mine.client)
    path = Path(mine.path)
    if client is None:
        return "absent"  # a client this mcp-lok no longer knows
    try:
        servers = files.section(files.load(path), client.servers, path)
    except LokError:
        return "unreadable"
    value = servers.get(mine.entry) if servers is not None else None
    at = client.read(value) if isinstance(value, dict) else None
    if at is None:
        return "absent"
    if now is None:
        return "gone"
    if now[1] is None:
        return "not serving"
    return "ok" if (at.url, at.token) == (now[1].url, now[1].token) else "stale"


def _said(error: LokError) -> str:
    return f"{error.message}; {error.hint}" if error.hint else error.message


__all__ = [
    "CLIENTS",
    "Current",
    "Endpoint",
    "Outcome",
    "Pointer",
    "forget",
    "pointers",
    "refresh",
    "remove",
    "setup",
]
