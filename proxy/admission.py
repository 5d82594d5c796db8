"""Who gets a session when `max_sessions` are open: the least recently used idle session
is closed to make room (its client gets 404 on its next request, as the Streamable HTTP
transport specifies), and a new client is refused only when every open session is busy.
Refusals are counted, so `/health` can say `degraded` while they happen.

A session is busy while a request of its waits for an answer or its event stream is open
(a legacy SSE session always is: it ends with its stream). Stateless sessions last one
POST and have a bound of their own (`max_stateless`). Opening and closing sessions is the
bridges'; this decides which, and keeps the count.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from .session import Session

log = logging.getLogger(__name__)

REFUSAL_WINDOW = 60.0  # seconds a refusal keeps `/health` degraded
RETRY_AFTER = 5  # seconds a refused client is told to wait (`Retry-After`)


def idle_victim(sessions: Iterable[Session]) -> Session | None:
    """The least recently used session that is not busy, or None when all are."""
    idle = (s for s in sessions if not s.stateless and not s.busy)
    return min(idle, key=lambda s: s.last_seen, default=None)


class Admission:
    """Makes room for a new session under `limit`, or records that it could not."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._refused: deque[float] = deque()

    async def make_room(
        self,
        sessions: dict[str, Session],
        count: Callable[[], int],
        close: Callable[[Session], Awaitable[None]],
    ) -> bool:
        """Close idle sessions, least recently used first, until `count()` is under the
        limit; False (a refusal, counted) when the sessions left are all busy."""
        while count() >= self.limit:  # again after each close: others open meanwhile
            victim = idle_victim(sessions.values())
            if victim is None:
                self._refused.append(_now())
                log.warning("refused a new session: all %d sessions are busy", self.limit)
                return False
            log.info("closing idle session %s… to make room for a new one", victim.id[:6])
            await close(victim)
        return True

    def refusing(self, sessions: Iterable[Session], count: int) -> str | None:
        """Why new sessions are being refused (for `/health`), or None when they are not:
        one was refused within `REFUSAL_WINDOW`, or the limit is reached with all busy."""
        now = _now()
        while self._refused and now - self._refused[0] > REFUSAL_WINDOW:
            self._refused.popleft()
        if self._refused:
            return (
                f"{len(self._refused)} new sessions refused in the last "
                f"{REFUSAL_WINDOW:.0f} s: all {self.limit} sessions were busy"
            )
        if count >= self.limit and idle_victim(sessions) is None:
            return f"all {self.limit} sessions are busy: a new one would be refused"
        return None


def _now() -> float:
    return asyncio.get_running_loop().time()
