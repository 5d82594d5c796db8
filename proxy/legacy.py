"""Legacy SSE (MCP 2024-11-05) for a stdio server: GET `/sse` opens a session and its event
stream, whose first event names the endpoint (`/messages?session_id=…`) where the client
POSTs its messages; every answer comes back down the stream.

Thin handlers; the session ends when its stream does.
"""

from __future__ import annotations

from aiohttp import web

from . import jsonrpc, sse
from .keys import BRIDGE
from .session import Kind
from .stream import stream_events
from .streamable import EVENT_STREAM, no_session, read_messages, rpc_error


async def open_stream(request: web.Request) -> web.StreamResponse:
    bridge = request.app[BRIDGE]
    accept = request.headers.get("Accept", "")
    if accept and EVENT_STREAM not in accept and "*/*" not in accept:
        return rpc_error(406, jsonrpc.INVALID_REQUEST, f"accept `{EVENT_STREAM}`")
    session = await bridge.open_session(Kind.SSE)
    if session is None:
        return no_session()
    session.streaming = True  # busy from the start (`admission`): it lives as its stream does
    endpoint = sse.encode(f"/messages?session_id={session.id}", event="endpoint")
    try:
        return await stream_events(request, session, first=endpoint)
    finally:
        await bridge.close_session(session)


async def post_message(request: web.Request) -> web.StreamResponse:
    bridge = request.app[BRIDGE]
    session_id = request.query.get("session_id")
    if session_id is None:
        return rpc_error(400, jsonrpc.INVALID_REQUEST, "missing `session_id`")
    # INVARIANT: only the holder of the stream's unguessable id may post into it.
    session = bridge.sessions.get(session_id)
    if session is None or session.kind is not Kind.SSE:
        return rpc_error(404, jsonrpc.INVALID_REQUEST, "unknown session")
    read = await read_messages(request)
    if isinstance(read, web.Response):
        return read
    messages, _ = read
    for message in messages:
        await bridge.submit(session, message)
    return web.Response(status=202, text="Accepted")
