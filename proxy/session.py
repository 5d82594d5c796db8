"""One client session's I/O side: the responses its HTTP requests wait for, and the outbox
its event stream (GET `/mcp` or `/sse`) drains.

The router decides what a session gets; this only holds it until the client takes it.
Both buffers are bounded: an outbox drops its oldest message when full, and says so.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
from collections import deque

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 1024
REPLAY_LIMIT = 256  # events sent on the stream that a reconnecting client may ask again
Event = tuple[int, bytes]  # (event id, message)


class SessionClosed(Exception):
    """The session ended while one of its requests waited for an answer."""


class Kind(enum.Enum):
    STREAMABLE = "streamable-http"  # responses answer the POST that asked
    SSE = "sse"  # legacy 2024-11-05: everything goes down the event stream


def new_id() -> str:
    # INVARIANT: session ids are unguessable; holding one is what lets a client read the
    # session's messages.
    return secrets.token_urlsafe(24)


class Session:
    def __init__(self, kind: Kind, id: str | None = None, *, stateless: bool = False) -> None:
        self.id = id or new_id()
        self.kind = kind
        self.stateless = stateless  # lives for one POST (MCP 2026-07-28): never named to clients
        self.streaming = False  # an event stream is attached
        self.streamed = False  # its event stream ended: its client may be gone
        self.closed = False
        self.last_seen = asyncio.get_running_loop().time()
        self._waiting: dict[bytes, asyncio.Future[bytes]] = {}
        # requests whose HTTP response streams the notifications about them (progress)
        self._listening: dict[bytes, asyncio.Queue[bytes]] = {}
        self._outbox: deque[bytes] = deque()
        self._sent: deque[Event] = deque(maxlen=REPLAY_LIMIT)
        self._next_event = 1
        self._wakeup = asyncio.Event()

    def expect(self, request_id: bytes) -> asyncio.Future[bytes] | None:
        """A future for the response to `request_id` (JSON), or None when a request with
        that id is already waiting in this session."""
        if request_id in self._waiting:
            return None
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        if self.closed:  # closed while the request was on its way in
            future.set_exception(SessionClosed())
        else:
            self._waiting[request_id] = future
        return future

    def forget(self, request_id: bytes) -> None:
        """Stop waiting for `request_id` (whoever waited holds its future already)."""
        if self._waiting.pop(request_id, None) is not None:
            self.touch()  # idle from now, not from when the request came

    def listen(self, request_id: bytes) -> asyncio.Queue[bytes]:
        """Notifications about `request_id` (progress) go to this queue instead of the
        session's stream, until `unlisten`: they then precede its answer on one stream."""
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._listening[request_id] = queue
        return queue

    def unlisten(self, request_id: bytes) -> None:
        if self._listening.pop(request_id, None) is not None:
            self.touch()

    def deliver(
        self,
        data: bytes,
        reply_to: bytes | None,
        only_if_waiting: bool = False,
        related: bytes | None = None,
    ) -> None:
        """A message for this client: the answer an HTTP request waits for, a notification
        about a request whose response streams, or else the next event of its stream
        (unless it is `only_if_waiting`)."""
        if related is not None and (queue := self._listening.get(related)) is not None:
            queue.put_nowait(data)
            return
        future = self._waiting.pop(reply_to, None) if reply_to is not None else None
        if future is not None and not future.done():
            # INVARIANT: a session is idle from its last answer, not from its last request:
            # an answer slower than `session_idle_timeout` (a server still starting) must
            # not leave the session to be closed before its client can send the next one
            self.touch()
            future.set_result(data)
            return
        if only_if_waiting:
            return
        if len(self._outbox) >= OUTBOX_LIMIT:
            self._outbox.popleft()
            log.warning("session %s…: outbox full, dropped its oldest message", self.id[:6])
        self._outbox.append(data)
        self._wakeup.set()

    async def next_batch(self) -> list[Event] | None:
        """What is queued, numbered, once there is something; None once the session is
        closed and drained. Safe to cancel while waiting: nothing is taken until it
        returns. What it returns is kept (the last REPLAY_LIMIT) for `replay`."""
        if not self._outbox and not self.closed:
            self._wakeup.clear()
            await self._wakeup.wait()
        if not self._outbox:
            return None
        batch: list[Event] = []
        for data in self._outbox:
            batch.append((self._next_event, data))
            self._next_event += 1
        self._outbox.clear()
        self._sent.extend(batch)
        return batch

    def replay(self, last_seen: int) -> list[Event]:
        """The events sent after `last_seen` (a reconnecting client's `Last-Event-ID`),
        as far as they are kept: the stream may have dropped them on their way."""
        return [event for event in self._sent if event[0] > last_seen]

    def in_flight(self) -> list[asyncio.Future[bytes]]:
        """The answers this session's HTTP requests are waiting for."""
        return [future for future in self._waiting.values() if not future.done()]

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def busy(self) -> bool:
        """A request of its waits for an answer, or its event stream is open: not to be
        closed to make room for another session (`admission`)."""
        return self.streaming or bool(self._waiting) or bool(self._listening)

    def touch(self) -> None:
        self.last_seen = asyncio.get_running_loop().time()

    def close(self) -> None:
        """End the stream (after what is queued) and release every waiting request."""
        self.closed = True
        self._wakeup.set()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(SessionClosed())
        self._waiting.clear()
