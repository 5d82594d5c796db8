"""The one `initialize` a shared server gets, for every session (sans-I/O).

A stdio server is initialized once. The first session's `initialize` is forwarded; a
session that asks while it is in flight waits for its answer; every later one is answered
from the cached result. The server's `notifications/initialized` is sent once. After a
restart the server is given the same handshake again, from the first one's parameters.
The router owns the ids and the sessions; this keeps what the handshake has reached.
"""

from __future__ import annotations

from typing import Any

from . import jsonrpc
from .jsonrpc import Message

Reply = tuple[str, bytes, bytes]  # (session, answer, the JSON of its request's id)


class Handshake:
    def __init__(self) -> None:
        self.in_flight: int | None = None  # proxy id of the forwarded `initialize`
        self.result: Any = None  # the server's result, once it answered with one
        self.error: str | None = None  # its error for the last forwarded `initialize`
        self._params: Any = None  # what the first `initialize` asked, for a restart
        self._waiting: list[tuple[str, Message]] = []
        self._initialized_sent = False

    @property
    def done(self) -> bool:
        """Whether the server has answered an `initialize` with a result."""
        return self.result is not None

    def forwarded(self, proxy_id: int, params: Any) -> None:
        self.in_flight = proxy_id
        self._params = params

    def wait(self, session: str, message: Message) -> None:
        """`session` asked while the first `initialize` is in flight."""
        self._waiting.append((session, message))

    def is_waiting(self, session: str, message: Message) -> bool:
        return any(s == session and m.id == message.id for s, m in self._waiting)

    def drop(self, session: str) -> None:
        self._waiting = [(s, m) for s, m in self._waiting if s != session]

    def first_initialized(self) -> bool:
        """Whether a client's `notifications/initialized` goes on to the server: the first
        does; later sessions share the server's one initialization."""
        first, self._initialized_sent = not self._initialized_sent, True
        return first

    def answered(self, body: dict[str, Any]) -> list[Reply]:
        """The forwarded `initialize` was answered: cache a result, or keep the error.
        Every session that waited gets the same answer, under its own request id."""
        self.in_flight = None
        waiting, self._waiting = self._waiting, []
        self.error = _error_text(body)
        if "result" in body:
            self.result = body["result"]
        return [
            (session, jsonrpc.dumps(dict(body, id=request.id)), jsonrpc.dumps(request.id))
            for session, request in waiting
        ]

    def gone(self, msg: str) -> list[Reply]:
        """The server stopped: an error for every session still waiting."""
        out: list[Reply] = []
        for session, request in self._waiting:
            error = jsonrpc.error(request.id, jsonrpc.SERVER_GONE, msg)
            out.append((session, error, jsonrpc.dumps(request.id)))
        self._waiting.clear()
        return out

    def again(self, proxy_id: int) -> list[bytes]:
        """The handshake the first life had, for a restarted server (none if it never
        had one: the first client's `initialize` will come)."""
        if self.result is None:
            return []
        self.in_flight = proxy_id
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": proxy_id, "method": "initialize"}
        if self._params is not None:
            request["params"] = self._params
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        return [jsonrpc.dumps(request), jsonrpc.dumps(note)]


def _error_text(body: dict[str, Any]) -> str | None:
    """What a response's error says (None for a result)."""
    if "result" in body:
        return None
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return str(message) if message else "no reason given"
