"""The host's end of the gate's DNS refusal reports (`gate/report.py`): each is checked,
bounded again and turned into one line of the server's log, next to the egress decisions,
so `mcp-lok logs` shows the names a server tried to resolve and could not.

The gate already batches (at most 8 names a report, reports ever further apart while
refusals keep coming); the host does not rely on that, since a subverted gate could send
anything: it logs a burst of `BURST` reports, then one per `REFILL` seconds; a report
beyond that is only counted, and said in the next line logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .egress_link import printable

REPORT = "dns-refused"
BURST = 5
REFILL = 10.0
MAX_NAMED = 8
MAX_NAME = 253
MAX_COUNT = 10**9  # counts are clamped, so a line stays short whatever the gate claims


def is_report(request: dict[str, object]) -> bool:
    return "report" in request


def _count(raw: object) -> int:
    if type(raw) is not int or raw < 0:
        raise ValueError("a malformed refusal report")
    return min(raw, MAX_COUNT)


def parse(request: dict[str, object]) -> tuple[list[tuple[str, int]], int]:
    """The (name, count) pairs a report lists, and the lookups it counts without a name;
    raises ValueError for anything else."""
    names, unnamed = request.get("names"), _count(request.get("unnamed", 0))
    if request.get("report") != REPORT or not isinstance(names, list):
        raise ValueError("a malformed refusal report")
    found: list[tuple[str, int]] = []
    for item in names:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError("a malformed refusal report")
        if len(found) < MAX_NAMED:
            found.append((printable(item[0][:MAX_NAME]), _count(item[1])))
        else:
            unnamed = min(unnamed + _count(item[1]), MAX_COUNT)
    return found, unnamed


class Reports:
    """Turns reports into log lines, `BURST` of them and then one per `REFILL` seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._burst, self._refill = BURST, REFILL  # read here, so a test can change them
        self._tokens = float(self._burst)
        self._at = clock()
        self._dropped = 0

    def line(self, request: dict[str, object]) -> str | None:
        """The log line for one report, or None when it came too soon and was dropped."""
        named, unnamed = parse(request)
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) / self._refill)
        self._at = now
        if self._tokens < 1:
            self._dropped += 1
            return None
        self._tokens -= 1
        parts = [", ".join(f"`{name}` ({count})" for name, count in named) or "no names"]
        if unnamed:
            parts.append(f"{unnamed} more lookups of names not listed")
        if self._dropped:
            parts.append(f"{self._dropped} reports dropped, sent too fast")
            self._dropped = 0
        return "dns: refused to resolve " + "; ".join(parts)
