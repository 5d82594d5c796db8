"""What `mcp-lok logs NAME` prints: the server's log, one line per event, cut by time
(`--since`), by count (`--tail`) and by kind (requests only when asked), and followed
(`--follow`) while the server lives.

The log's lines are the proxy's (`mcp_lok.proxy.logfile`: each opens with when and who):
a stdio server's stderr, the proxy's sessions, restarts and failures, the requests it
served, the egress relay's decisions. An HTTP server writes to the engine, not to the
proxy: its lines are read from the engine, stamped by it, and merged in by time.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mcp_lok.proxy import logfile

from .engine import ContainerEngine, EngineClient
from .errors import LokError
from .state import Phase, ServerState, Store, alive

POLL = 0.2  # seconds between looks at the log while following
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SINCE_HINT = "a time such as `2026-12-07T21:00:00Z`, or how long ago: `90s`, `10m`, `1h30m`, `2d`"


@dataclass(frozen=True)
class Entry:
    """One line of the log: when (None: unknown, an older mcp-lok's line), who said it,
    and the line as it is printed."""

    at: datetime | None
    who: str
    text: str


def since_time(value: str, now: datetime | None = None) -> datetime:
    """`--since`: a time (ISO 8601; without a zone, this machine's), or a duration back
    from `now`. Raises `ValueError` saying what it is not."""
    now = now or datetime.now(UTC)
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return now - timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    try:
        at = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        raise ValueError(f"`{value}` is neither a time nor a duration") from None
    return at if at.tzinfo else at.astimezone()


def entries(lines: Iterable[str], last: datetime | None = None) -> list[Entry]:
    """The log's lines as entries; a line that opens with no stamp (the rest of a
    traceback) is taken to be as old as the line before it."""
    found: list[Entry] = []
    for text in lines:
        at, who = logfile.parse_line(text)
        if at is None:
            at, who = last, found[-1].who if found else ""
        found.append(Entry(at, who, text))
        last = at
    return found


def chosen(
    found: Iterable[Entry], since: datetime | None, tail: int | None, verbose: bool
) -> list[Entry]:
    """What is printed: requests only when `verbose`, nothing older than `since`, and of
    the rest the last `tail`."""
    kept = [
        e
        for e in found
        if (verbose or e.who != logfile.REQUEST)
        and (since is None or (e.at is not None and e.at >= since))
    ]
    return kept if tail is None else kept[max(0, len(kept) - tail) :]


def merged(*streams: list[Entry]) -> list[Entry]:
    """Entries from several logs in the order they happened (stable: a log's own order is
    kept, an entry of unknown time sorts as the oldest)."""
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted((e for s in streams for e in s), key=lambda e: e.at or oldest)


def engine_entry(raw: str) -> Entry:
    """A line the engine read from an HTTP server's output, stamped by the engine
    (`2026-12-07T21:04:38.123456789Z text`), as the log would have it."""
    head, _, text = raw.partition(" ")
    try:
        # the engine stamps nanoseconds: Python reads microseconds
        at = datetime.fromisoformat(head.rstrip("Z")[:26]).replace(tzinfo=UTC)
    except ValueError:
        return Entry(None, logfile.SERVER, logfile.line(logfile.SERVER, raw))
    return Entry(at, logfile.SERVER, logfile.line(logfile.SERVER, text, at.timestamp()))


def server_lines(
    engine: ContainerEngine, container: str, since: datetime | None, follow: bool = False
) -> Iterator[Entry]:
    """An HTTP server's output as the engine keeps it, line by line: from `since` on, or
    (`follow`) what it writes from now on, until it stops."""
    partial = b""
    chunks = (
        engine.logs(container, follow=True, tail=0, timestamps=True)
        if follow
        else engine.logs(container, timestamps=True, since=since)
    )
    for chunk in chunks:
        partial += chunk
        *complete, partial = partial.split(b"\n")
        for raw in complete:
            yield engine_entry(raw.decode("utf-8", "replace"))
    if partial:
        yield engine_entry(partial.decode("utf-8", "replace"))


class LogFile:
    """The proxy's log file, read from where the last read ended, whole lines only."""

    def __init__(self, path: str) -> None:
        self.path, self.offset = Path(path), 0
        self.last: datetime | None = None
        self._partial = b""

    def read(self) -> list[Entry]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []
        self.offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        found = entries((c.decode("utf-8", "replace") for c in complete), self.last)
        self.last = found[-1].at if found else self.last
        return found


def show(
    store: Store,
    state: ServerState,
    write: Callable[[str], None],
    *,
    since: datetime | None = None,
    tail: int | None = None,
    verbose: bool = False,
    follow: bool = False,
) -> None:
    """Print the server's log through `write`, one line per event; with `follow`, go on
    until the server is removed or no longer served (Ctrl-C is the caller's)."""
    log = LogFile(state.log_path)
    engine = _engine(state)
    server: list[Entry] = []
    if engine is not None and state.container_id:
        server = list(server_lines(engine, state.container_id, since))
    for entry in chosen(merged(log.read(), server), since, tail, verbose):
        write(entry.text)
    if not follow:
        return
    arrived: queue.Queue[Entry] = queue.Queue()
    if engine is not None and state.container_id:
        _pump(lambda: server_lines(engine, state.container_id or "", None, True), arrived)
    while (now := store.load(state.name)) is not None:
        new = log.read() + _drained(arrived)
        for entry in chosen(merged(new), since, None, verbose):
            write(entry.text)
        if not new and not _served(now):
            return
        time.sleep(POLL)


def _served(state: ServerState) -> bool:
    if state.phase == Phase.STARTING.value:
        return True
    return state.phase != Phase.STOPPED.value and alive(state.proxy_pid, state.proxy_start)


def _engine(state: ServerState) -> ContainerEngine | None:
    """The engine of an HTTP server, whose output it keeps; None for a stdio server,
    whose stderr is in the log."""
    if state.transport == "stdio":
        return None
    try:
        return EngineClient.connect(state.engine_url)
    except LokError as error:
        raise LokError(
            f"the engine of `{state.name}` ({state.engine_url}) does not answer: its "
            "server's own output is kept there",
            hint=error.hint,
        ) from error


def _pump(lines: Callable[[], Iterator[Entry]], into: queue.Queue[Entry]) -> None:
    """Follow the engine's lines on a thread of their own (it ends with the container;
    a daemon, so that the command never waits for it)."""

    def run() -> None:
        try:
            for entry in lines():
                into.put(entry)
        except LokError as error:
            into.put(Entry(None, logfile.LAUNCHER, f"error: {error.message}"))

    threading.Thread(target=run, name="engine-logs", daemon=True).start()


def _drained(found: queue.Queue[Entry]) -> list[Entry]:
    taken = []
    while not found.empty():
        taken.append(found.get_nowait())
    return taken


__all__ = [
    "SINCE_HINT",
    "Entry",
    "LogFile",
    "chosen",
    "engine_entry",
    "entries",
    "merged",
    "server_lines",
    "show",
    "since_time",
]
