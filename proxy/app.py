"""The proxy's aiohttp application: one guard in front of everything (`Host`, `Origin`,
bearer token, body size), `/health`, and either the stdio routes (Streamable HTTP at
`/mcp`, legacy SSE at `/sse` + `/messages`) or a catch-all to the HTTP server's forwarder.

Binding the socket and running the app are `server`'s; handlers live by transport.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import jsonrpc, legacy, streamable
from .bridge import Bridge
from .config import ProxyConfig
from .keys import BINDING, BRIDGE, CONFIG, UPSTREAM, Binding, Upstream
from .logfile import ACCESS_LOGGER
from .streamable import rpc_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
access_log = logging.getLogger(ACCESS_LOGGER)


def make_app(
    config: ProxyConfig, *, bridge: Bridge | None = None, upstream: Upstream | None = None
) -> web.Application:
    """The app for one server: `bridge` for a stdio server, `upstream` for an HTTP one."""
    if (bridge is None) == (upstream is None):
        raise ValueError("give exactly one of `bridge` and `upstream`")
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=[guard])
    app[CONFIG] = config
    app[BINDING] = Binding()
    app.router.add_get("/health", health)
    if bridge is not None:
        app[BRIDGE] = bridge
        app.router.add_post("/mcp", streamable.post)
        app.router.add_get("/mcp", streamable.get, allow_head=False)
        app.router.add_delete("/mcp", streamable.delete)
        app.router.add_get("/sse", legacy.open_stream, allow_head=False)
        app.router.add_post("/messages", legacy.post_message)
        app.on_shutdown.append(_drain)
    elif upstream is not None:
        app[UPSTREAM] = upstream
        app.router.add_route("*", "/{tail:.*}", forward)
    return app


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request judged (`_guarded`), then one line in the log: method, path, status."""
    response = await _guarded(request, handler)
    if request.path != "/health":  # asked every second by monitors: not an event
        access_log.info("%s %s %d", request.method, request.path, response.status)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    access = request.app[BINDING].access
    if access is None:  # not bound yet: nothing can be checked, so nothing is served
        return rpc_error(503, jsonrpc.INTERNAL_ERROR, "starting")
    if not access.host_ok(request.headers.get("Host")):
        return rpc_error(421, jsonrpc.INVALID_REQUEST, "this `Host` is not served here")
    if not access.origin_ok(request.headers.get("Origin")):
        return rpc_error(403, jsonrpc.INVALID_REQUEST, "this `Origin` is not allowed")
    if request.path != "/health" and not access.token_ok(request.headers.get("Authorization")):
        response = rpc_error(401, jsonrpc.INVALID_REQUEST, "a bearer token is required")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    limit = request.app[CONFIG].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return rpc_error(413, jsonrpc.INVALID_REQUEST, f"the body is larger than {limit} bytes")
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:  # a chunked body that grew past the limit
        return rpc_error(413, jsonrpc.INVALID_REQUEST, f"the body is larger than {limit} bytes")


async def health(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    about: dict[str, object] = {"name": config.name, "transport": config.transport}
    refusing = None
    if BRIDGE in request.app:
        bridge = request.app[BRIDGE]
        ok, reason = bridge.health()
        about["sessions"] = len(bridge.sessions)
        refusing = bridge.refusing() if ok else None
    else:
        ok, reason = await request.app[UPSTREAM].healthy()
    # degraded: it serves the clients it has, but new ones are being refused; still 200,
    # so that a check that only asks "is it up" keeps its clients (`unavailable` is 503)
    status = "unavailable" if not ok else "degraded" if refusing else "ok"
    about = {"status": status, **about}
    about["detail" if ok else "reason"] = reason
    if refusing:
        about["reason"] = refusing
    return web.json_response(about, status=200 if ok else 503, dumps=_dumps)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


async def forward(request: web.Request) -> web.StreamResponse:
    return await request.app[UPSTREAM].handle(request)


async def _drain(app: web.Application) -> None:
    """On shutdown: let requests in flight finish (up to `drain_timeout`), then end every
    session, which ends their streams so the server can stop without waiting on them."""
    bridge = app[BRIDGE]
    in_flight = [f for s in bridge.sessions.values() for f in s.in_flight()]
    if bridge.draining and in_flight:
        await asyncio.wait(in_flight, timeout=app[CONFIG].drain_timeout)
    for session in list(bridge.sessions.values()):
        await bridge.close_session(session)
