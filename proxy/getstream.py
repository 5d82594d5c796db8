"""The forwarder's half of the held GET stream (`proxy/held.py` decides): open a
session's standalone stream on the server before the client's `notifications/initialized`
goes on, read it into the session's bounded buffer, and serve it to the client's own GET —
held events first, in order, then the live stream. Each event reaches the client at most
once: what the buffer hands over is gone from it.

Which requests carry which session, and passing everything else on, is
`proxy/forward.py`'s. A server that offers no GET stream (405, or anything but an event
stream) is left alone, and the client's GET goes to it as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from .held import Registry, Session, State
from .tasks import Tasks

log = logging.getLogger(__name__)

OPEN_WAIT = 5.0  # how long `notifications/initialized` waits for the stream to open
SWEEP = 5.0  # how often a quiet held stream looks for idle sessions
CLIENT_CHECK = 1.0  # how often a quiet stream checks that its client is still there
SINK_SIZE = 16  # chunks in flight to a client that has taken its stream
# not carried from the client's POST to the GET the forwarder opens for it
NOT_FOR_GET = frozenset({"content-type", "content-length", "accept", "last-event-id"})

Request = Callable[[str, URL, CIMultiDict[str]], Awaitable[aiohttp.ClientResponse]]


@dataclass(eq=False)
class _Stream:
    """The I/O side of one held stream."""

    session: Session
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    response: aiohttp.ClientResponse | None = None  # once open
    ended: bool = False  # the server ended the stream (or it broke)
    # once the client's GET has taken the stream: chunks for it, None at a break
    sink: asyncio.Queue[bytes | None] | None = None


class StandaloneStreams:
    """Holds each session's standalone GET stream until its client opens its own."""

    def __init__(self, request: Request, tasks: Tasks, idle_timeout: float) -> None:
        """`request(method, url, headers)` sends a request to the server through the gate."""
        self._request = request
        self._tasks = tasks
        self.registry = Registry(idle_timeout)
        self._streams: dict[str, _Stream] = {}

    # -- what the forwarder tells it ------------------------------------------------------

    def learn(self, session_id: str) -> None:
        """The server answered `initialize` with this session id."""
        for gone in self.registry.learn(session_id, _now()):
            self._end(gone, "too many sessions are known")
        self._sweep()

    def touch(self, session_id: str) -> Session | None:
        return self.registry.touch(session_id, _now())

    def wants_initialized(self, session_id: str) -> bool:
        """Whether a POST on this session should be looked at for `initialized`."""
        session = self.registry.get(session_id)
        return session is not None and session.state is State.NEW

    async def open(self, session_id: str, url: URL, headers: CIMultiDict[str]) -> None:
        """Open the session's GET stream with the client's own headers (its session, its
        protocol version, its credentials for the server) and wait, boundedly, until the
        server has answered it."""
        opening, evicted = self.registry.should_open(session_id)
        for victim in evicted:
            self.end(victim.id, "too many streams are held")
        session = self.registry.get(session_id)
        if not opening or session is None:
            return
        stream = _Stream(session)
        self._streams[session_id] = stream
        get = CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in NOT_FOR_GET)
        get["Accept"] = "text/event-stream"
        self._tasks.spawn(self._pump(stream, url, get), name=f"held-get:{session_id[:6]}")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(OPEN_WAIT):
                await stream.opened.wait()

    def end(self, session_id: str, why: str) -> None:
        """The session ended: its held stream and events go."""
        session = self.registry.forget(session_id)
        if session is not None:
            self._end(session, why)

    async def close(self) -> None:
        for session_id in list(self._streams):
            self.end(session_id, "the proxy is stopping")

    # -- the client's GET -------------------------------------------------------------------

    async def serve(self, request: web.Request, session_id: str) -> web.StreamResponse | None:
        """The client's GET for the session's stream: the held events, then the stream as
        it goes on. None when nothing is held for it (the GET then goes to the server)."""
        session = self.registry.get(session_id)
        if session is None:
            return None
        stream = self._streams.get(session_id)
        if stream is None or stream.sink is not None:
            # the client's own GET came first (or has had the held one): never hold it now
            if session.state is State.NEW:
                session.state = State.DIRECT
            return None
        while not stream.opened.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLIENT_CHECK):
                    await stream.opened.wait()
            if request.transport is None or request.transport.is_closing():
                return web.Response(status=499)  # nobody reads it
        if stream.response is None:  # no stream to hold: the server's answer is the client's
            return None
        return await self._hand_over(request, stream)

    async def _hand_over(self, request: web.Request, stream: _Stream) -> web.StreamResponse:
        assert stream.response is not None
        from .forward import forwarded_response_headers

        session = stream.session
        # the stream is the client's now, as if it had opened it: it ends with the client's
        # GET or the server's answer, not with the session's idling; a later GET of the
        # client's goes to the server
        session.state = State.DIRECT
        self._streams.pop(session.id, None)
        held = session.held.take()
        stream.sink = asyncio.Queue(SINK_SIZE)
        if stream.ended:
            stream.sink.put_nowait(b"")
        response = web.StreamResponse(status=stream.response.status)
        response.headers.extend(forwarded_response_headers(stream.response.headers))
        try:
            await response.prepare(request)
            if held:
                await response.write(held)
            while (chunk := await _next(request, stream.sink)) != b"":
                if chunk is None:  # the server broke off: never end it cleanly
                    if request.transport is not None:
                        request.transport.abort()
                    return response
                await response.write(chunk)
        except ConnectionError:
            log.info("session %s…: the client left its GET stream", session.id[:6])
        finally:
            self._drop_stream(stream)
        return response

    # -- the stream itself ----------------------------------------------------------------

    async def _pump(self, stream: _Stream, url: URL, headers: CIMultiDict[str]) -> None:
        session = stream.session
        try:
            response = await self._request("GET", url, headers)
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            log.info("session %s…: could not open its GET stream: %s", session.id[:6], error)
            self._not_held(stream)
            return
        if self._streams.get(session.id) is not stream:  # the session ended meanwhile
            response.close()
            return
        kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if response.status != 200 or kind != "text/event-stream":
            # 405: the server offers no GET stream; anything else is the server's business
            log.log(
                logging.DEBUG if response.status == 405 else logging.INFO,
                "session %s…: the server answered its GET stream %d: nothing held",
                session.id[:6],
                response.status,
            )
            response.release()
            self._not_held(stream)
            return
        stream.response = response
        session.state = State.HOLDING
        stream.opened.set()
        try:
            await self._read(stream, response)
        finally:
            response.close()
            if stream.sink is not None and not stream.sink.full():
                stream.sink.put_nowait(None)  # stopped early: the client's copy is cut off too

    async def _read(self, stream: _Stream, response: aiohttp.ClientResponse) -> None:
        session = stream.session
        while True:
            try:
                async with asyncio.timeout(SWEEP) as waited:
                    chunk = await response.content.readany()
            except TimeoutError:
                if not waited.expired():
                    raise
                self._sweep()
                continue
            except (aiohttp.ClientError, OSError) as error:
                if stream.sink is not None:
                    await stream.sink.put(None)
                elif self._streams.get(session.id) is stream:
                    log.info("session %s…: its held GET stream broke: %s", session.id[:6], error)
                stream.ended = True
                return
            if stream.sink is not None:  # the client has it
                if not chunk:
                    await stream.sink.put(b"")
                    return
                if passing := session.held.passing(chunk):
                    await stream.sink.put(passing)
                continue
            if not chunk:
                stream.ended = True  # what is held stays for the client
                return
            if dropped := session.held.feed(chunk):
                log.warning(
                    "session %s…: dropped the %d oldest of the events held for its client "
                    "(at most %d events, %d bytes are held)",
                    session.id[:6],
                    dropped,
                    session.held.max_events,
                    session.held.max_bytes,
                )

    def _not_held(self, stream: _Stream) -> None:
        stream.session.state = State.DIRECT
        self._streams.pop(stream.session.id, None)
        stream.opened.set()

    def _sweep(self) -> None:
        for session in self.registry.idle(_now()):
            self._end(session, "its session was idle")

    def _end(self, session: Session, why: str) -> None:
        stream = self._streams.get(session.id)
        if stream is None:
            return
        if len(session.held):
            log.info(
                "session %s…: dropped %d events held for a client that never took them (%s)",
                session.id[:6],
                len(session.held),
                why,
            )
        session.held.take()
        self._drop_stream(stream)

    def _drop_stream(self, stream: _Stream) -> None:
        if self._streams.get(stream.session.id) is stream:
            del self._streams[stream.session.id]
        if stream.response is not None:
            stream.response.close()  # its pump sees the end, and stops
        while stream.sink is not None and not stream.sink.empty():
            stream.sink.get_nowait()  # nobody reads them: a pump waiting to put goes on
        stream.opened.set()


async def _next(request: web.Request, sink: asyncio.Queue[bytes | None]) -> bytes | None:
    """The next chunk for the client; `b""` at the end, or when the client has gone."""
    while True:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLIENT_CHECK):
                return await sink.get()
        if request.transport is None or request.transport.is_closing():
            return b""


def _now() -> float:
    return asyncio.get_running_loop().time()
