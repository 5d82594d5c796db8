"""Streamable HTTP at `/mcp` for a stdio server: POST a message or a batch and get the
answers (JSON, or SSE when that is all the client accepts), GET the session's stream of
server-initiated messages, DELETE to end the session.

Revisions 2025-03-26 to 2025-11-25 open a session with `initialize` and name it in
`Mcp-Session-Id`. The stateless 2026-07-28 revision has no handshake and no session: a
POST without `Mcp-Session-Id` that is not an `initialize` (`server/discover`, or any
request carrying its protocol version in `_meta`) is answered in a session of its own that
ends with the POST.

Thin handlers: HTTP in and out. Sessions are the bridge's, routing is the router's.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from . import jsonrpc, sse
from .admission import RETRY_AFTER
from .bridge import Bridge
from .jsonrpc import Invalid, Kind, Message
from .keys import BRIDGE
from .session import Kind as SessionKind
from .session import Session, SessionClosed
from .stream import stream_events
from .tasks import Tasks

SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "MCP-Protocol-Version"
# the revisions whose HTTP rules this endpoint follows; any other value is refused (400)
PROTOCOL_VERSIONS = frozenset(
    {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"}
)
NO_SESSION = "no session can open now: all are busy, or its server did not start"
JSON = "application/json"
EVENT_STREAM = "text/event-stream"


def rpc_error(status: int, code: int, message: str, id: jsonrpc.Id | None = None) -> web.Response:
    return web.Response(status=status, body=jsonrpc.error(id, code, message), content_type=JSON)


def _accepts(request: web.Request, kind: str) -> bool:
    accept = request.headers.get("Accept", "")
    return not accept or kind in accept or "*/*" in accept


def version_problem(request: web.Request) -> web.Response | None:
    """400 for an `MCP-Protocol-Version` this endpoint does not speak (the spec's MUST);
    no header is fine (2025-03-26 clients send none)."""
    version = request.headers.get(VERSION_HEADER)
    if version is None or version in PROTOCOL_VERSIONS:
        return None
    supported = ", ".join(sorted(PROTOCOL_VERSIONS))
    msg = f"unsupported `{VERSION_HEADER}` (supported: {supported})"
    return rpc_error(400, jsonrpc.INVALID_REQUEST, msg)


async def read_body(request: web.Request) -> bytes:
    """The request body, within `read_timeout`: a client that stalls mid-body holds only
    its own connection, and not for long."""
    if request.content.is_eof():  # all of it is here already (the usual case): no timer
        return await request.read()
    async with asyncio.timeout(request.app[BRIDGE].config.read_timeout):
        return await request.read()


async def read_messages(request: web.Request) -> tuple[list[Message], bool] | web.Response:
    """The messages of a POST body and whether they were a batch, or the error answer to a
    body that is not JSON-RPC or did not arrive in time."""
    try:
        return jsonrpc.parse_body(await read_body(request))
    except Invalid as error:
        return rpc_error(400, error.code, error.message, error.id)
    except TimeoutError:
        return rpc_error(408, jsonrpc.INVALID_REQUEST, "the body did not arrive in time")


async def post(request: web.Request) -> web.StreamResponse:
    bridge = request.app[BRIDGE]
    wants_json = _accepts(request, JSON)
    if not wants_json and not _accepts(request, EVENT_STREAM):
        return rpc_error(406, jsonrpc.INVALID_REQUEST, f"accept `{JSON}` or `{EVENT_STREAM}`")
    if problem := version_problem(request):
        return problem
    read = await read_messages(request)
    if isinstance(read, web.Response):
        return read
    messages, batch = read
    session_or_error = await _session_for(request, bridge, messages, batch)
    if isinstance(session_or_error, web.Response):
        return session_or_error
    session = session_or_error
    if session.stateless:
        try:
            return await _answer_post(request, bridge, session, messages, batch, wants_json, {})
        finally:
            await bridge.close_session(session)
    headers = {SESSION_HEADER: session.id}
    return await _answer_post(request, bridge, session, messages, batch, wants_json, headers)


async def _answer_post(
    request: web.Request,
    bridge: Bridge,
    session: Session,
    messages: list[Message],
    batch: bool,
    wants_json: bool,
    headers: dict[str, str],
) -> web.StreamResponse:
    waits = _expect(session, messages)
    if waits is None:
        return rpc_error(400, jsonrpc.INVALID_REQUEST, "a request id is already in use")
    if not waits:
        for message in messages:
            await bridge.submit(session, message)
        return web.Response(status=202, headers=headers)
    if len(messages) == 1 and _wants_progress(messages[0]) and _accepts(request, EVENT_STREAM):
        return await _stream_answer(request, bridge, session, waits[0], headers)
    answers = await _exchange(bridge, session, messages, waits)
    if wants_json:
        body = answers[0] if not batch else b"[" + b",".join(answers) + b"]"
        return web.Response(body=body, content_type=JSON, headers=headers)
    events = b"".join(sse.encode(answer) for answer in answers)
    return web.Response(body=events, content_type=EVENT_STREAM, headers=headers)


async def _session_for(
    request: web.Request, bridge: Bridge, messages: list[Message], batch: bool
) -> Session | web.Response:
    header = request.headers.get(SESSION_HEADER)
    if header is not None:
        return _known(bridge, header)
    opens = not batch and messages[0].kind is Kind.REQUEST and messages[0].method == "initialize"
    if not opens and not any(m.kind is Kind.REQUEST for m in messages):
        # a notification or response belongs to a session: without one it has no meaning
        return rpc_error(400, jsonrpc.INVALID_REQUEST, f"missing `{SESSION_HEADER}` header")
    if not opens and any(m.method == "initialize" for m in messages):
        return rpc_error(400, jsonrpc.INVALID_REQUEST, "`initialize` must be sent on its own")
    session = await bridge.open_session(SessionKind.STREAMABLE, stateless=not opens)
    if session is None:
        return no_session()
    return session


def no_session() -> web.Response:
    """503 for a client refused a session, with when to try again."""
    response = rpc_error(503, jsonrpc.INTERNAL_ERROR, NO_SESSION)
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def _known(bridge: Bridge, header: str) -> Session | web.Response:
    # INVARIANT: a session is reached only by its own unguessable id, and only over the
    # transport that opened it.
    session = bridge.sessions.get(header)
    if session is None or session.kind is not SessionKind.STREAMABLE or session.stateless:
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
    bridge: Bridge, session: Session, messages: list[Message], waits: list[Wait]
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


def _wants_progress(message: Message) -> bool:
    params = message.body.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and "progressToken" in meta


async def _stream_answer(
    request: web.Request,
    bridge: Bridge,
    session: Session,
    wait: Wait,
    headers: dict[str, str],
) -> web.StreamResponse:
    """A request that asked for progress, from a client that takes SSE: its progress and
    then its answer, in order, as events of this response (over the session's GET stream
    progress could arrive after the answer, and a client drops it then)."""
    message, key, future = wait
    notes = session.listen(key)
    response = web.StreamResponse(headers={"Content-Type": EVENT_STREAM, **headers})
    response.headers["Cache-Control"] = "no-cache, no-transform"
    waiting = Tasks("progress")
    try:
        await response.prepare(request)
        await bridge.submit(session, message)
        async with asyncio.timeout(bridge.config.request_timeout):
            while not future.done():
                note = waiting.spawn(notes.get(), name="note")
                await asyncio.wait({future, note}, return_when=asyncio.FIRST_COMPLETED)
                if not note.done():
                    break
                await response.write(sse.encode(note.result()))
    except TimeoutError:
        pass
    finally:
        await waiting.close()  # the wait for a note that did not come
        session.unlisten(key)
        if not future.done() or future.cancelled():
            await bridge.cancel(session, key, "the client stopped waiting")
    while not notes.empty():
        await response.write(sse.encode(notes.get_nowait()))
    await response.write(sse.encode(_answer(message, future)))
    await response.write_eof()
    return response


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
    if problem := version_problem(request):
        return problem
    found = _from_header(request, bridge)
    if isinstance(found, web.Response):
        return found
    if found.streaming:
        return rpc_error(409, jsonrpc.INVALID_REQUEST, "this session already has a stream")
    last = request.headers.get("Last-Event-ID", "")
    # resumption: what the stream sent after the client's last event, sent again
    number = last.isascii() and last.isdigit() and len(last) < 19
    replay = found.replay(int(last)) if number else None
    headers = {SESSION_HEADER: found.id}
    return await stream_events(request, found, headers=headers, replay=replay)


async def delete(request: web.Request) -> web.StreamResponse:
    bridge = request.app[BRIDGE]
    if problem := version_problem(request):
        return problem
    found = _from_header(request, bridge)
    if isinstance(found, web.Response):
        return found
    await bridge.close_session(found)
    return web.Response(status=200)


def _from_header(request: web.Request, bridge: Bridge) -> Session | web.Response:
    header = request.headers.get(SESSION_HEADER)
    if header is None:
        return rpc_error(400, jsonrpc.INVALID_REQUEST, f"missing `{SESSION_HEADER}` header")
    return _known(bridge, header)
