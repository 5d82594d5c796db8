"""The server's standalone GET stream, held for a client that has not opened its own yet
(sans-I/O): which sessions the forwarder knows and what state their stream is in, when to
open it, and the bounded buffer of the events that arrive before the client does.

Streamable HTTP lets a server send requests and notifications (sampling, elicitation,
`roots/list`, log messages) on a GET stream that the client opens once the session is
initialized; what the server sends before that stream is open is lost. So the forwarder
opens the stream itself, right before it passes the client's `notifications/initialized`
on, holds what arrives, and hands it all, in order, to the client's own GET. Opening and
reading the stream is `proxy/getstream.py`'s; forwarding is `proxy/forward.py`'s.
"""

from __future__ import annotations

import enum
import json
import re
from collections import OrderedDict, deque
from dataclasses import dataclass, field

# What one session's held stream keeps until its client's GET takes it: beyond either
# bound the oldest event is dropped (and logged). A client that opens its GET late gets
# everything within these; a client that never opens one costs at most this much.
MAX_HELD_EVENTS = 64
MAX_HELD_BYTES = 1 << 20
# Streams held at once (each keeps one connection to the server through the gate open);
# beyond this, the least recently used session's held stream is dropped.
MAX_HELD_STREAMS = 32
# Sessions remembered at once (a few bytes each); the least recently used is forgotten.
MAX_KNOWN_SESSIONS = 1024
# A POST body no larger than this is read whole to see if it is `notifications/initialized`
PEEK_BYTES = 16 * 1024

INITIALIZED = "notifications/initialized"
# one line of an event stream: its terminator too, but never a lone `\r` at the end of
# what has arrived (its `\n` may be on the way)
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\n|\r(?!\Z))")


def is_initialized(body: bytes) -> bool:
    """Whether a POST body is, or in a batch holds, the `notifications/initialized`."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    messages = message if isinstance(message, list) else [message]
    return any(
        isinstance(m, dict) and m.get("method") == INITIALIZED and "id" not in m for m in messages
    )


class EventBuffer:
    """Complete server-sent events, in arrival order, bounded in count and bytes; the oldest
    goes first. Comments (keep-alives) are not held: they carry nothing for the client."""

    def __init__(self, max_events: int = MAX_HELD_EVENTS, max_bytes: int = MAX_HELD_BYTES):
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.dropped = 0  # events dropped since the last `take`
        self._events: deque[bytes] = deque()
        self._size = 0
        self._lines: list[bytes] = []  # the event being read
        self._line_bytes = 0
        self._rest = b""  # the start of a line whose end has not arrived
        # the event being read is over `max_bytes` on its own: it is not kept, and neither
        # is the rest of it as it arrives, up to its blank line
        self._skipping = False
        self._mid_line = False  # skipping from the middle of a line: its end is no blank line

    def __len__(self) -> int:
        return len(self._events)

    @property
    def size(self) -> int:
        return self._size

    def feed(self, chunk: bytes) -> int:
        """Take what the stream sent; how many events were dropped meanwhile."""
        before = self.dropped
        for line in self._split(chunk):
            self._line(line)
        if len(self._rest) + self._line_bytes > self.max_bytes:
            if not self._skipping:
                self.dropped += 1
            self._lines, self._line_bytes, self._skipping = [], 0, True
            self._rest, self._mid_line = b"", bool(self._rest)
        return self.dropped - before

    def take(self) -> bytes:
        """Everything held, in order, then whatever part of an event has arrived (its rest
        follows on the stream); the buffer is empty afterwards. When the event being read
        was too large to hold, `passing` keeps its rest from the client."""
        held = [*self._events, *self._lines]
        if not self._skipping:
            held.append(self._rest)
            self._rest = b""
        self._events.clear()
        self._size = self._line_bytes = self.dropped = 0
        self._lines = []
        return b"".join(held)

    def passing(self, chunk: bytes) -> bytes:
        """After `take`: what of `chunk` goes on to the client — all of it, unless the rest
        of an event too large to hold is still arriving."""
        if not self._skipping:
            return chunk
        data, self._rest = self._rest + chunk, b""
        end = 0
        for match in _LINE.finditer(data):
            if match.start() != end:
                break
            end = match.end()
            blank = not match.group().strip(b"\r\n") and not self._mid_line
            self._mid_line = False
            if blank:
                self._skipping = False
                return data[end:]
        self._rest = data[end:]
        if len(self._rest) > self.max_bytes:  # a line of the skipped event: not kept either
            self._rest, self._mid_line = b"", True
        return b""

    def _split(self, chunk: bytes) -> list[bytes]:
        data = self._rest + chunk
        lines, end = [], 0
        for match in _LINE.finditer(data):
            if match.start() != end:
                break
            end = match.end()
            lines.append(match.group())
        self._rest = data[end:]
        return lines

    def _line(self, line: bytes) -> None:
        mid_line, self._mid_line = self._mid_line, False
        if line.strip(b"\r\n") or mid_line:
            if not self._skipping:
                self._lines.append(line)
                self._line_bytes += len(line)
            return
        # a blank line ends the event
        lines, skipping = self._lines, self._skipping
        self._lines, self._line_bytes, self._skipping = [], 0, False
        if skipping or all(part.startswith(b":") for part in lines):
            return  # too large (counted already), or only comments, or nothing at all
        self._hold(b"".join(lines) + line)

    def _hold(self, event: bytes) -> None:
        self._events.append(event)
        self._size += len(event)
        while self._events and (len(self._events) > self.max_events or self._size > self.max_bytes):
            self._size -= len(self._events.popleft())
            self.dropped += 1


class State(enum.Enum):
    NEW = "new"  # the server gave the session its id; nobody has opened its GET stream
    OPENING = "opening"  # the forwarder is opening the GET stream
    HOLDING = "holding"  # open (or ended by the server), its events held for the client
    DIRECT = "direct"  # not held: the client's own GET goes to the server as it comes


@dataclass(eq=False)
class Session:
    """One session the forwarder learnt from the server's answer to `initialize`."""

    id: str
    last_seen: float
    state: State = State.NEW
    held: EventBuffer = field(default_factory=EventBuffer)


class Registry:
    """The sessions the forwarder knows, least recently used first, and what their GET
    stream is doing. It decides; the caller opens and closes streams as told."""

    def __init__(
        self,
        idle_timeout: float,
        *,
        max_known: int = MAX_KNOWN_SESSIONS,
        max_held: int = MAX_HELD_STREAMS,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_known = max_known
        self.max_held = max_held
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def learn(self, session_id: str, now: float) -> list[Session]:
        """A session the server just created; the sessions forgotten to make room."""
        if session_id in self._sessions:
            self.touch(session_id, now)
            return []
        self._sessions[session_id] = Session(session_id, now)
        forgotten = []
        while len(self._sessions) > self.max_known:
            forgotten.append(self._sessions.popitem(last=False)[1])
        return forgotten

    def touch(self, session_id: str, now: float) -> Session | None:
        """The client used the session now."""
        session = self._sessions.get(session_id)
        if session is not None:
            session.last_seen = now
            self._sessions.move_to_end(session_id)
        return session

    def should_open(self, session_id: str) -> tuple[bool, list[Session]]:
        """The client is about to send `notifications/initialized` on this session: whether
        to open its GET stream now (once per session, never after the client opened its
        own), and the held streams to drop to make room for it, least recently used first."""
        session = self._sessions.get(session_id)
        if session is None or session.state is not State.NEW:
            return False, []
        session.state = State.OPENING
        held = [s for s in self._sessions.values() if s.state in (State.OPENING, State.HOLDING)]
        return True, held[: max(0, len(held) - self.max_held)]

    def forget(self, session_id: str) -> Session | None:
        """The session ended (the client's DELETE, the server's 404, eviction, idling)."""
        return self._sessions.pop(session_id, None)

    def idle(self, now: float) -> list[Session]:
        """The sessions idle past `idle_timeout`, taken out of the registry."""
        gone = [s for s in self._sessions.values() if now - s.last_seen >= self.idle_timeout]
        for session in gone:
            del self._sessions[session.id]
        return gone
