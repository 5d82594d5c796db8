"""Several client sessions sharing one stdio server (sans-I/O).

Clients choose their own JSON-RPC ids, so two sessions may both send id 1. The router
gives every client request a fresh proxy id on its way to the server and keeps
proxy id → (session, original id); the server's response goes back to that session only,
with the original id (and its JSON type) restored. Progress and cancellations go to the
session they concern; other server notifications go to the sessions `audience` names
(resource updates to their subscribers, log messages by level, the rest to everyone),
and the subscriptions and log level the server is told are `audience`'s too. A server
request goes to the session `asking` chooses, and only its answer is forwarded, with the
server's own id. The one `initialize` the server gets is `handshake`'s. Lists answered
differently to two sessions are `sameness`'s to report.

Input is parsed messages or raw server lines; output is a list of `ToServer` / `ToClient`.
Sockets, HTTP, timers and session ids are the caller's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import asking, audience, jsonrpc
from .audience import Answer, Audience, Call, Effect, Forward
from .handshake import Handshake
from .jsonrpc import Id, Invalid, Kind, Message
from .sameness import LISTS, Sameness, watched

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToServer:
    data: bytes  # one JSON-RPC message, compact, no line break


@dataclass(frozen=True, slots=True)
class ToClient:
    session: str
    data: bytes
    reply_to: bytes | None = None  # the client's request id (JSON) this answers, if any
    only_if_waiting: bool = False  # drop it unless an HTTP request is waiting for it
    related: bytes | None = None  # the client's request id (JSON) a notification is about


Out = ToServer | ToClient


@dataclass(slots=True)
class _Pending:
    session: str
    original: Id
    original_json: bytes
    method: str
    progress: Any = None  # the client's own progress token, when one was rewritten
    effect: Effect | None = None  # what the server's answer settles (`audience`)
    watch: bool = False  # its answer is compared with other sessions' (`sameness`)


@dataclass(slots=True)
class _Session:
    ready: bool = False  # its `initialize` has been answered
    can_be_asked: bool = True  # it has a way to receive the server's requests
    capabilities: frozenset[str] = frozenset()  # what its `initialize` said it can answer
    active: int = 0  # recency, from a counter (no clocks in here)
    in_flight: dict[bytes, int] = field(default_factory=dict)  # original id JSON → proxy id
    asked: set[bytes] = field(default_factory=set)  # server request ids (JSON) sent to it


class Router:
    def __init__(self, name: str = "shared") -> None:
        self._next_id = 1
        self._tick = 0
        self._sessions: dict[str, _Session] = {}
        self._pending: dict[int, _Pending] = {}
        self._asked: dict[bytes, str] = {}  # server request id (JSON) → the session asked
        self.handshake = Handshake()
        self.gone: str | None = None
        self.audience = Audience()
        self.sameness = Sameness(name)

    # -- sessions ---------------------------------------------------------------------

    def open(self, session: str, *, can_be_asked: bool = True) -> None:
        """A new session; `can_be_asked=False` for one that cannot receive the server's
        requests (a stateless POST has no stream to carry them)."""
        if session in self._sessions:
            raise ValueError(f"session {session} is already open")
        self._sessions[session] = _Session(active=self._touch(), can_be_asked=can_be_asked)

    def close(self, session: str) -> list[Out]:
        """Forget a session: cancel its requests at the server, and refuse the server's
        requests that only it could have answered."""
        state = self._sessions.pop(session, None)
        if state is None:
            return []
        out: list[Out] = []
        for original_json in list(state.in_flight):
            out += self._cancel(session, state, original_json, "the client session closed")
        for asked in state.asked:
            self._asked.pop(asked, None)
            msg = "the client session that was asked has closed"
            out.append(ToServer(_error_raw(asked, jsonrpc.INTERNAL_ERROR, msg)))
        self.handshake.drop(session)
        return out + self._own(self.audience.forget(session))

    def cancel(self, session: str, original_json: bytes, reason: str) -> list[Out]:
        """The client gave up on a request (timeout, disconnect): tell the server."""
        state = self._sessions.get(session)
        return [] if state is None else self._cancel(session, state, original_json, reason)

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def in_flight(self, session: str) -> int:
        state = self._sessions.get(session)
        return 0 if state is None else len(state.in_flight)

    # -- client → server ----------------------------------------------------------------

    def from_client(self, session: str, message: Message) -> list[Out]:
        state = self._sessions.get(session)
        if state is None:
            raise ValueError(f"session {session} is not open")
        state.active = self._touch()
        if message.kind is Kind.REQUEST:
            return self._client_request(session, state, message)
        if message.kind is Kind.RESPONSE:
            return self._client_response(session, state, message)
        return self._client_notification(session, state, message)

    def _client_request(self, session: str, state: _Session, message: Message) -> list[Out]:
        original_json = jsonrpc.dumps(message.id)
        if self.gone is not None:
            msg = f"the server has stopped: {self.gone}"
            error = jsonrpc.error(message.id, jsonrpc.SERVER_GONE, msg)
            return [ToClient(session, error, original_json)]
        if original_json in state.in_flight or self.handshake.is_waiting(session, message):
            msg = f"request id {original_json.decode()} is already in use"
            error = jsonrpc.error(message.id, jsonrpc.INVALID_REQUEST, msg)
            return [ToClient(session, error, original_json)]
        if message.method == "initialize":
            state.capabilities = asking.capabilities(message.body)
            if self.handshake.done:
                state.ready = True
                reply = jsonrpc.result(message.id, self.handshake.result)
                return [ToClient(session, reply, original_json)]
            if self.handshake.in_flight is not None:  # the first is in flight: wait for it
                self.handshake.wait(session, message)
                return []
        if message.method in audience.METHODS:
            decided = self.audience.request(session, message.method, message.body.get("params"))
            if isinstance(decided, Answer):
                return [ToClient(session, jsonrpc.result(message.id, {}), original_json)]
            return [
                ToServer(self._forward_request(session, state, message, original_json, decided))
            ]
        return [ToServer(self._forward_request(session, state, message, original_json))]

    def _forward_request(
        self,
        session: str,
        state: _Session,
        message: Message,
        original_json: bytes,
        decided: Forward | None = None,
    ) -> bytes:
        proxy_id = self._next_id
        self._next_id += 1
        pending = _Pending(session, message.id, original_json, message.method)
        body = dict(message.body, id=proxy_id)
        if decided is not None:
            pending.effect = decided.effect
            if decided.params is not None:
                body["params"] = decided.params
        elif message.method in LISTS:
            pending.watch = watched(message.method, body.get("params"))
        meta = _progress_meta(body)
        if meta is not None:  # route the server's progress back by a token no one else has
            pending.progress = meta["progressToken"]
            body["params"] = dict(body["params"], _meta=dict(meta, progressToken=proxy_id))
        self._pending[proxy_id] = pending
        state.in_flight[original_json] = proxy_id
        if message.method == "initialize":
            self.handshake.forwarded(proxy_id, body.get("params"))
        # INVARIANT: every request reaches the server under a proxy id and is re-encoded
        # from the parsed body, so a client can neither reuse nor forge another session's id.
        return jsonrpc.dumps(body)

    def _client_response(self, session: str, state: _Session, message: Message) -> list[Out]:
        key = jsonrpc.dumps(message.id)
        # INVARIANT: only the session a server request was sent to may answer it.
        if self._asked.get(key) != session:
            log.debug("dropped a response from session %s to %s: not asked", session, key)
            return []
        del self._asked[key]
        state.asked.discard(key)
        return [ToServer(jsonrpc.dumps(message.body))]

    def _client_notification(self, session: str, state: _Session, message: Message) -> list[Out]:
        if self.gone is not None:
            return []
        initialized = message.method == "notifications/initialized"
        if initialized and not self.handshake.first_initialized():
            return []  # the server was initialized once; later sessions share that
        if message.method == "notifications/cancelled":
            return self._client_cancelled(session, state, message)
        if message.raw is not None:
            return [ToServer(message.raw)]  # nothing to rewrite: the client's own bytes
        return [ToServer(jsonrpc.dumps(message.body))]

    def _client_cancelled(self, session: str, state: _Session, message: Message) -> list[Out]:
        params = message.body.get("params")
        if not isinstance(params, dict) or "requestId" not in params:
            return []
        original_json = jsonrpc.dumps(params["requestId"])
        proxy_id = state.in_flight.get(original_json)
        if proxy_id is None or self._pending[proxy_id].method == "initialize":
            return []  # unknown, or an `initialize`, which is never cancelled (MCP)
        pending = self._pending.pop(proxy_id)
        del state.in_flight[original_json]
        body = dict(message.body, params=dict(params, requestId=proxy_id))
        # the POST that carried the request is still open: end it (the client ignores it)
        msg = "cancelled by the client"
        error = jsonrpc.error(pending.original, jsonrpc.REQUEST_CANCELLED, msg)
        done = ToClient(session, error, original_json, only_if_waiting=True)
        return [ToServer(jsonrpc.dumps(body)), done]

    def _cancel(self, session: str, state: _Session, original_json: bytes, why: str) -> list[Out]:
        proxy_id = state.in_flight.pop(original_json, None)
        if proxy_id is None:
            return []
        pending = self._pending.pop(proxy_id)
        if pending.method == "initialize":  # never cancelled (MCP); its result still counts
            self._pending[proxy_id] = _Pending("", pending.original, b"", "initialize")
            return []
        params = {"requestId": proxy_id, "reason": why}
        body = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}
        return [] if self.gone is not None else [ToServer(jsonrpc.dumps(body))]

    # -- server → client ----------------------------------------------------------------

    def from_server(self, line: bytes) -> list[Out]:
        proxy_id = jsonrpc.response_id(line)
        if proxy_id is not None and proxy_id != self.handshake.in_flight:
            return self._server_response_fast(proxy_id, line)
        try:
            message = jsonrpc.classify(jsonrpc.loads(line))
        except Invalid as error:
            log.warning("the server wrote a line that is not JSON-RPC: %s", error.message)
            return []
        if message.kind is Kind.RESPONSE:
            return self._server_response(message)
        if message.kind is Kind.REQUEST:
            return self._server_request(message, line)
        return self._server_notification(message, line)

    def _server_response_fast(self, proxy_id: int, line: bytes) -> list[Out]:
        pending = self._take(proxy_id)
        if pending is None:
            return []
        if pending.effect is not None or pending.watch:
            error = jsonrpc.is_error(line)
            self._settle(pending, error, lambda: jsonrpc.after_id(line))
        if not pending.session:
            return []  # the proxy's own request
        data = jsonrpc.swap_response_id(line, pending.original_json)
        return [ToClient(pending.session, data, pending.original_json)]

    def _settle(self, pending: _Pending, error: bool, answer: Callable[[], bytes]) -> None:
        """What a server's answer means beyond its client: a subscription or log level
        taken (`audience`), a list to compare with other sessions' (`sameness`)."""
        if pending.effect is not None:
            self.audience.settled(pending.effect, not error)
        if pending.watch and not error:
            self.sameness.answered(pending.method, pending.session, answer())

    def _server_response(self, message: Message) -> list[Out]:
        proxy_id = message.id
        pending = self._take(proxy_id) if isinstance(proxy_id, int) else None
        if pending is None:
            return []
        out: list[Out] = []
        if proxy_id == self.handshake.in_flight:
            out += self._initialized(message, pending.session)
        error = "result" not in message.body
        self._settle(pending, error, lambda: jsonrpc.dumps(message.body["result"]))
        if pending.session:
            data = jsonrpc.dumps(dict(message.body, id=pending.original))
            out.insert(0, ToClient(pending.session, data, pending.original_json))
        return out

    def _take(self, proxy_id: int) -> _Pending | None:
        pending = self._pending.pop(proxy_id, None)
        if pending is None:
            log.debug("dropped a server response to %s: no one is waiting", proxy_id)
            return None
        state = self._sessions.get(pending.session)
        if state is not None:
            state.in_flight.pop(pending.original_json, None)
        return pending

    def _initialized(self, message: Message, first: str) -> list[Out]:
        """The forwarded `initialize` was answered: the sessions that waited for it get
        its answer too."""
        waiting = self.handshake.answered(message.body)
        out: list[Out] = [ToClient(session, reply, id_json) for session, reply, id_json in waiting]
        if "result" in message.body:
            for session in [first, *(s for s, _, _ in waiting)]:
                if session in self._sessions:
                    self._sessions[session].ready = True
        if not first and "result" in message.body:  # a restarted server: as it was before
            out += self._own(self.audience.replay())
        return out

    def _server_request(self, message: Message, line: bytes) -> list[Out]:
        if message.method == "ping":  # the proxy is the server's client: it answers itself
            return [ToServer(jsonrpc.result(message.id, {}))]
        busy = (pending.session for pending in self._pending.values())
        session = asking.choose(self._sessions, busy, message.method)
        key = jsonrpc.dumps(message.id)
        if session is None:
            needs = asking.NEEDS.get(message.method)
            msg = "no client session is connected to answer" + (f" {needs}" if needs else "")
            return [ToServer(jsonrpc.error(message.id, jsonrpc.INTERNAL_ERROR, msg))]
        self._asked[key] = session
        self._sessions[session].asked.add(key)
        return [ToClient(session, line)]

    def _server_notification(self, message: Message, line: bytes) -> list[Out]:
        params = message.body.get("params")
        params = params if isinstance(params, dict) else {}
        if message.method == "notifications/progress":
            return self._progress(message, params)
        if message.method == "notifications/cancelled":
            session = self._asked.pop(jsonrpc.dumps(params.get("requestId")), None)
            return [] if session is None else [ToClient(session, line)]
        if message.method in audience.ROUTED:
            hearing = self.audience.recipients(message.method, params, self._sessions)
            return [ToClient(session, line) for session in hearing]
        self.sameness.changed(message.method)
        return [ToClient(session, line) for session in self._sessions]

    def _progress(self, message: Message, params: dict[str, Any]) -> list[Out]:
        token = params.get("progressToken")
        pending = self._pending.get(token) if isinstance(token, int) else None
        if pending is None or pending.progress is None or not pending.session:
            return []
        body = dict(message.body, params=dict(params, progressToken=pending.progress))
        data = jsonrpc.dumps(body)
        return [ToClient(pending.session, data, related=pending.original_json)]

    def server_gone(self, reason: str) -> list[Out]:
        """The server's stream ended: every waiting client gets an error now."""
        self.gone = reason
        msg = f"the server has stopped: {reason}"
        out: list[Out] = []
        for pending in self._pending.values():
            if pending.session:
                error = jsonrpc.error(pending.original, jsonrpc.SERVER_GONE, msg)
                out.append(ToClient(pending.session, error, pending.original_json))
        out += [
            ToClient(session, error, id_json)
            for session, error, id_json in self.handshake.gone(msg)
        ]
        self._pending.clear()
        for state in self._sessions.values():
            state.in_flight.clear()
        return out

    def restarted(self) -> list[Out]:
        """The server was started again (a new process): take requests again, and give
        it the handshake its first life had, so the sessions carry on. The answer to that
        `initialize` goes to no session."""
        self.gone = None
        self._asked.clear()
        self.sameness.restarted()
        for state in self._sessions.values():
            state.asked.clear()
        if not self.handshake.done:
            return []  # never initialized: the first client's `initialize` will come
        proxy_id = self._next_id
        self._next_id += 1
        self._pending[proxy_id] = _Pending("", 0, b"", "initialize")
        return [ToServer(data) for data in self.handshake.again(proxy_id)]

    def _own(self, calls: list[Call]) -> list[Out]:
        """Requests the proxy sends the server itself; their answers go to no session."""
        if self.gone is not None:
            return []  # a restarted server gets them again (`audience.replay`)
        out: list[Out] = []
        for call in calls:
            proxy_id = self._next_id
            self._next_id += 1
            self._pending[proxy_id] = _Pending("", 0, b"", call.method, effect=call.effect)
            body = {"jsonrpc": "2.0", "id": proxy_id, "method": call.method, "params": call.params}
            out.append(ToServer(jsonrpc.dumps(body)))
        return out

    def _touch(self) -> int:
        self._tick += 1
        return self._tick


def _progress_meta(body: dict[str, Any]) -> dict[str, Any] | None:
    params = body.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return meta if isinstance(meta, dict) and "progressToken" in meta else None


def _error_raw(id_json: bytes, code: int, message: str) -> bytes:
    return jsonrpc.error(jsonrpc.loads(id_json), code, message)
