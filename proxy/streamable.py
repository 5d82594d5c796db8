"""Streamable HTTP at `/mcp` for a stdio server: POST a message or a batch and get the
answers (JSON, or SSE when that is all the client accepts), GET the session's stream of
server-initiated messages, DELETE to end the session.

Thin handlers: HTTP in and out. Sessions are the bridge's, routing is the router's.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from . import jsonrpc, sse
from .bridge import StdioBridge
from .jsonrpc import Invalid, Kind, Message
from .keys import BRIDGE
from .session import Kind as SessionKind
from .session import Session, SessionClosed
from .stream import stream_events

SESSION_HEADER = "Mcp-Session-Id"
JSON = "application/json"
EVENT_STREAM = "text/event-stream"


def rpc_error(status: int, code: int, message: str, id: jsonrpc.Id | None = None) -> web.Response:
    return web.Response(status=status, body=jsonrpc.error(id, code, message), content_type=JSON)


def _accepts(request: web.Request, kind: str) -> bool:
    accept = request.headers.get("Accept", "")
    return not accept or kind in accept or "*/*" in accept


async def post(request: web.Request) -> web.StreamResponse:
    bridge = request.app[BRIDGE]
    wants_json = _accepts(request, JSON)
    if not wants_json and not _accepts(request, EVENT_STREAM):
        return rpc_error(406, jsonrpc.INVALID_REQUEST, f"accept `{JSON}` or `{EVENT_STREAM}`")
    try:
        messages, batch = jsonrpc.parse_body(await request.read())
    except Invalid as error:
        return rpc_error(400, error.code, error.message, error.id)
    session_or_error = _session_for(request, bridge, messages, batch)
    if isinstance(session_or_error, web.Response):
        return session_or_error
    session = session_or_error
    headers = {SESSION_HEADER: session.id}
    waits = _expect(session, messages)
    if waits is None:
        return rpc_error(400, jsonrpc.INVALID_REQUEST, "a request id is already in use")
    if not waits:
        for message in messages:
            await bridge.submit(session, message)
        return web.Response(status=202, headers=headers)
    answers = await _exchange(bridge, session, messages, waits)
    if wants_json:
        body = answers[0] if not batch else b"[" + b",".join(answers) + b"]"
        return web.Response(body=body, content_type=JSON, headers=headers)
    events = b"".join(sse.encode(answer) for answer in answers)
    return web.Response(body=events, content_type=EVENT_STREAM, headers=headers)


def _session_for(
    request: web.Request, bridge: StdioBridge, messages: list[Message], batch: bool
) -> Session | web.Response:
    header = request.headers.get(SESSION_HEADER)
    if header is None:
        first = messages[0]
        if batch or first.kind is not Kind.REQUEST or first.method != "initialize":
            return rpc_error(400, jsonrpc.INVALID_REQUEST, f"missing `{SESSION_HEADER}` header")
        session = bridge.open_session(SessionKind.STREAMABLE)
        if session is None:
            return rpc_error(503, jsonrpc.INTERNAL_ERROR, "too many sessions")
        return session
    return _known(bridge, header)


def _known(bridge: StdioBridge, header: str) -> Session | web.Response:
    # INVARIANT: a session is reached only by its own unguessable id, and only over the
    # transport that opened it.
    session = bridge.sessions.get(header)
    if session is None or session.kind is not SessionKind.STREAMABLE:
        return rpc_error(404, jsonrpc.INVALID_REQUEST, "unknown session")
    return session


Wait = tuple[Message, bytes, "asyncio.Future[bytes]"]


def _expect(session: Session, messages: list[Message]) -> list[Wait] | None:
    """Register a waiter for every request; None when an id is already waiting."""
    waits: list[Wait] = []
    for message in messages:
        if message.kind is Kind.REQUEST:
            key = jsonrpc.dumps(message.id)
            future = session.expect(key)
            if future is None:
                for _, registered, _ in waits:
                    session.forget(registered)
                return None
            waits.append((message, key, future))
    return waits


async def _exchange(
    bridge: StdioBridge, session: Session, messages: list[Message], waits: list[Wait]
) -> list[bytes]:
    """Send the messages, then wait for every answer, at most `request_timeout` in all;
    what does not come in time gets a timeout error, and the server a cancellation. A
    client that disconnects (this handler is cancelled) cancels them all."""
    try:
        for message in messages:
            await bridge.submit(session, message)
        async with asyncio.timeout(bridge.config.request_timeout):
            for _, _, future in waits:
                with contextlib.suppress(SessionClosed):
                    await future
    except TimeoutError:
        pass
    finally:
        for _, key, future in waits:
            # a future is cancelled only by this handler's own wait ending (a timeout, or
            # the client going away): the server should stop too
            if not future.done() or future.cancelled():
                await bridge.cancel(session, key, "the client stopped waiting")
    return [_answer(message, future) for message, _, future in waits]


def _answer(message: Message, future: asyncio.Future[bytes]) -> bytes:
    if not future.done() or future.cancelled():
        late = "the server did not answer in time"
        return jsonrpc.error(message.id, jsonrpc.REQUEST_TIMEOUT, late)
    if future.exception() is not None:
        return jsonrpc.error(message.id, jsonrpc.INTERNAL_ERROR, "the session was closed")
    return future.result()


async def get(request: web.Request) -> web.StreamResponse:
    bridge = request.app[BRIDGE]
    if not _accepts(request, EVENT_STREAM):
        return rpc_error(406, jsonrpc.INVALID_REQUEST, f"accept `{EVENT_STREAM}`")
    found = _from_header(request, bridge)
    if isinstance(found, web.Response):
        return found
    if found.streaming:
        return rpc_error(409, jsonrpc.INVALID_REQUEST, "this session already has a stream")
    return await stream_events(request, found, headers={SESSION_HEADER: found.id})


async def delete(request: web.Request) -> web.StreamResponse:
    bridge = request.app[BRIDGE]
    found = _from_header(request, bridge)
    if isinstance(found, web.Response):
        return found
    await bridge.close_session(found)
    return web.Response(status=200)


def _from_header(request: web.Request, bridge: StdioBridge) -> Session | web.Response:
    header = request.headers.get(SESSION_HEADER)
    if header is None:
        return rpc_error(400, jsonrpc.INVALID_REQUEST, f"missing `{SESSION_HEADER}` header")
    return _known(bridge, header)
