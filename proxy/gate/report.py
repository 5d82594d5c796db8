"""Names the gate's DNS refused, reported to mcp-lok on the host over the egress socket, so
they reach the server's log (`mcp-lok logs`, the audit trail) next to the host's own
egress decisions.

A hostile server can ask for names as fast as it likes (that is what DNS exfiltration
does), so the gate batches: a report names at most `MAX_NAMED` distinct names in the order
first asked, each with its count, and only counts the lookups beyond those; the wait
between reports doubles from `INTERVAL` up to `MAX_INTERVAL` while refusals keep coming
(a server that never stops costs one line a minute), and starts over after a quiet spell.
A report is one line the host does not answer:

    gate → host   {"report": "dns-refused", "names": [["x.example", 3], …], "unnamed": 12}\\n

The host bounds what it logs again (`mcp_lok.proxy.egress_report`). A report the host
cannot take (no mcp-lok process serving the server) is lost; the gate's own log keeps a
line per report either way.
"""

from __future__ import annotations

import asyncio
import json
import socket

from .log import log
from .relay import HOST_WAIT, Refused, connect_link
from .tasks import Tasks

REPORT = "dns-refused"
DELAY = 0.5  # the first refusal after a quiet spell waits this long for company
INTERVAL = 5.0  # between two reports, at first
MAX_INTERVAL = 60.0  # and at most; this long without a report is a quiet spell
MAX_NAMED = 8
MAX_NAME = 253
# at shutdown, one attempt: when mcp-lok stops a server it ends its relay first, so a
# report then reaches it only if the gate stops on its own
SHUTDOWN_WAIT = 0.0


class RefusalReport:
    """Counts refused names and sends them to the host in bounded batches. It is one of
    the gate's listeners (started and closed with them) so that shutdown sends the last
    batch."""

    label = "dns-report"

    def __init__(
        self,
        path: str,
        *,
        delay: float = DELAY,
        interval: float = INTERVAL,
        max_interval: float = MAX_INTERVAL,
    ) -> None:
        self._path, self._delay = path, delay
        self._interval, self._max_interval = interval, max_interval
        self._named: dict[str, int] = {}
        self._unnamed = 0
        self._last: float | None = None  # when the last report went (loop time)
        self._streak = 0  # reports in a row with refusals coming in between
        self._tasks = Tasks("dns-report")
        self._pending: asyncio.Task[None] | None = None

    def note(self, name: str) -> None:
        """One refused lookup of `name`; sent with the next report."""
        name = name[:MAX_NAME]
        if name in self._named:
            self._named[name] += 1
        elif len(self._named) < MAX_NAMED:
            self._named[name] = 1
        else:
            self._unnamed += 1
        if self._pending is None and not self._tasks.closed:
            now = asyncio.get_running_loop().time()
            self._pending = self._tasks.spawn(self._send_at(self.due(now) - now), name="send")

    def due(self, now: float) -> float:
        """When the report of a refusal counted at `now` goes, no report being pending:
        after `delay`, and `interval` after the last, doubled for each report in a row,
        up to `max_interval`; after a quiet spell, the streak starts over."""
        if self._last is None or now - self._last > self._max_interval:
            self._streak = 0
            return now + self._delay
        wait = min(self._max_interval, self._interval * (1 << min(max(self._streak - 1, 0), 16)))
        return max(now + self._delay, self._last + wait)

    async def start(self) -> None:
        """Nothing to open: each report is its own connection."""

    async def close(self) -> None:
        """Send what is counted now, instead of waiting for the next report."""
        await self._tasks.close()
        self._pending = None
        await self.send(wait=SHUTDOWN_WAIT)

    async def _send_at(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._pending = None
        await self.send()

    def take(self) -> tuple[list[tuple[str, int]], int] | None:
        """The names counted since the last report with their counts, and how many
        lookups went uncounted by name; counting starts again. None: nothing refused."""
        if not self._named and not self._unnamed:
            return None
        batch = list(self._named.items()), self._unnamed
        self._named, self._unnamed = {}, 0
        return batch

    async def send(self, wait: float = HOST_WAIT) -> None:
        """Send the report now; the host may still be starting (the server's first
        lookups come right after the gate is ready), so it is given `wait` seconds."""
        batch = self.take()
        if batch is None:
            return
        named, unnamed = batch
        self._last = asyncio.get_running_loop().time()
        self._streak += 1
        listed = ", ".join(f"`{name}` ({count})" for name, count in named)
        log.info("dns: refused %s; %d more lookups", listed, unnamed)
        report = {"report": REPORT, "names": named, "unnamed": unnamed}
        try:
            async with asyncio.timeout(wait + 2):
                await _send_line(self._path, json.dumps(report).encode() + b"\n", wait)
        except (OSError, TimeoutError, Refused) as error:
            log.warning("dns: the refusals did not reach the host (%s)", error)


async def _send_line(path: str, line: bytes, wait: float) -> None:
    loop = asyncio.get_running_loop()
    with await connect_link(path, wait) as link:
        await loop.sock_sendall(link, line)
        link.shutdown(socket.SHUT_WR)
        # the host closes once it has read the line; waiting for that keeps a report
        # sent at shutdown from being cut off by the gate's own exit
        await loop.sock_recv(link, 1)
