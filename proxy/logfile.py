"""The server's log file: one line per event, each opening with when it happened (UTC) and
who said it, so that `mcp-lok logs` can cut it by time and by kind.

    2026-12-07T21:04:38.216Z server: listening on stdio
    2026-12-07T21:04:39.002Z proxy: session 3f2a81c0… opened (streamable-http)
    2026-12-07T21:04:39.010Z request: POST /mcp 200
    2026-12-07T21:04:40.500Z egress warning: … refused: …

Writers: the server's stderr (`bridge.ServerLog`), the proxy's loggers and the egress relay
(`handler`), and a detached proxy's own stderr (the same file). Readers parse with
`parse_line`. A detached proxy's stderr *is* this file: a logger that writes here must not
also pass its lines on to a handler of stderr (`stderr_is`), or each line lands twice.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import UTC, datetime

from .config import private_log

SERVER = "server"  # the server's own stderr
PROXY = "proxy"  # the proxy's lines: sessions, restarts, failures
REQUEST = "request"  # one line per HTTP request the proxy served (`mcp-lok logs -v`)
EGRESS = "egress"  # the host side of egress: each connection allowed or refused
LAUNCHER = "mcp-lok"  # launcher code running in a detached proxy (restarts)
ACCESS_LOGGER = "mcp_lok.proxy.access"  # its lines are REQUEST's


def stamp(at: float | None = None) -> str:
    """When, as every line of the log opens: ISO 8601, UTC, milliseconds."""
    millis = round((time.time() if at is None else at) * 1000)
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000))
    return f"{whole}.{millis % 1000:03d}Z"


def line(source: str, text: str, at: float | None = None, level: str = "") -> str:
    """One event as a line of the log (no newline at its end): newlines in `text` are
    escaped, so that an event is one line."""
    flat = text.replace("\r", "\\r").replace("\n", "\\n")
    who = f"{source} {level}" if level else source
    return f"{stamp(at)} {who}: {flat}"


class Formatter(logging.Formatter):
    """A log record as a `line`: `source` names who speaks (REQUEST for the access
    logger's records); the level is written unless it is INFO."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        source = REQUEST if record.name == ACCESS_LOGGER else self.source
        level = "" if record.levelno == logging.INFO else record.levelname.lower()
        return line(source, text, record.created, level)


def handler(path: str, source: str) -> logging.FileHandler:
    """A handler appending `source`'s records to the log at `path` (made private first)."""
    private_log(path)
    found = logging.FileHandler(path, encoding="utf-8")
    found.setFormatter(Formatter(source))
    return found


def stderr_is(path: str) -> bool:
    """Whether this process's stderr is the file at `path` (a detached proxy's is)."""
    try:
        mine, logged = os.fstat(sys.stderr.fileno()), os.stat(path)
    except (OSError, ValueError, AttributeError):  # no stderr, or a replaced one
        return False
    return (mine.st_dev, mine.st_ino) == (logged.st_dev, logged.st_ino)


def parse_line(text: str) -> tuple[datetime | None, str]:
    """When a line of the log happened and who said it (`server`, `proxy`, …); (None, "")
    for a line that does not open with a stamp (written by an older mcp-lok, or the rest
    of a traceback)."""
    head, _, rest = text.partition(" ")
    try:
        at = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None, ""
    who = rest.partition(":")[0].split(" ")[0]
    return at, who


__all__ = [
    "ACCESS_LOGGER",
    "EGRESS",
    "LAUNCHER",
    "PROXY",
    "REQUEST",
    "SERVER",
    "Formatter",
    "handler",
    "line",
    "parse_line",
    "stamp",
    "stderr_is",
]
