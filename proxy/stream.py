"""A session's event stream over HTTP: drains the session's outbox into SSE `message`
events, with keep-alive comments, until the session closes or the client goes away.

Shared by GET `/mcp` (Streamable HTTP) and GET `/sse` (legacy); what goes into the outbox
is the router's decision.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from . import sse
from .session import Event, Session

KEEPALIVE = 15.0  # seconds between comments on an idle stream (proxies time out at 30–60)


async def stream_events(
    request: web.Request,
    session: Session,
    *,
    first: bytes = b"",
    headers: dict[str, str] | None = None,
    replay: list[Event] | None = None,
) -> web.StreamResponse:
    """Stream the session's messages as numbered events (`id:`), after `first` and the
    events to `replay` to a client that resumes."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache, no-transform",
            "X-Accel-Buffering": "no",
            **(headers or {}),
        }
    )
    await response.prepare(request)
    session.streaming = True
    try:
        if first:
            await response.write(first)
        if replay:
            await response.write(_encode(replay))
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE):
                    batch = await session.next_batch()
            except TimeoutError:
                await response.write(sse.comment("keep-alive"))
                continue
            if batch is None:
                break
            await response.write(_encode(batch))
    except ConnectionError:
        pass  # the client went away; the caller decides what that means for the session
    finally:
        session.streaming = False
        session.streamed = True
        session.touch()  # idle from now: its client may be gone (see `bridge.sweep`)
    return response


def _encode(events: list[Event]) -> bytes:
    return b"".join(sse.encode(data, id=str(number)) for number, data in events)
