"""A session's event stream over HTTP: drains the session's outbox into SSE `message`
events, with keep-alive comments, until the session closes or the client goes away.

Shared by GET `/mcp` (Streamable HTTP) and GET `/sse` (legacy); what goes into the outbox
is the router's decision.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from . import sse
from .session import Session

KEEPALIVE = 15.0  # seconds between comments on an idle stream (proxies time out at 30–60)


async def stream_events(
    request: web.Request,
    session: Session,
    *,
    first: bytes = b"",
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
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
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE):
                    batch = await session.next_batch()
            except TimeoutError:
                await response.write(sse.comment("keep-alive"))
                continue
            if batch is None:
                break
            await response.write(b"".join(sse.encode(message) for message in batch))
    except ConnectionError:
        pass  # the client went away; the caller decides what that means for the session
    finally:
        session.streaming = False
    return response
