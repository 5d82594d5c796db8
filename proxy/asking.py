"""Which client session a shared server's request goes to (sans-I/O).

A server asks its client for sampling, elicitation or roots, usually while it works on
one of that client's requests. A shared server has one client, the proxy, and a stdio
server's request does not say which client request it serves, so the proxy guesses:
among the sessions that can answer (they declared the capability the request needs, and
have a stream to receive it on), the one with the most recent request still in flight,
else the most recently active ready one. With one session busy the guess is right; with
several it may ask the wrong client — `--session-mode per-session` gives each client a
server of its own.

When no session declared the capability, the same guess is made among all that have a
stream: a server connected to its client directly sends the request whatever the client
declared, and the client answers or refuses it itself (the MCP Inspector's CLI, for one,
declares no elicitation and answers each with `cancel`). Refusing in its place would fail
a call through the proxy that succeeds without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

# the client capability a server request needs (MCP); other requests go to any session
NEEDS = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}


class Askable(Protocol):
    @property
    def ready(self) -> bool: ...  # its `initialize` has been answered

    @property
    def can_be_asked(self) -> bool: ...  # it has a way to receive the server's requests

    @property
    def capabilities(self) -> frozenset[str]: ...  # what its `initialize` said it can answer

    @property
    def active(self) -> int: ...  # recency: higher is more recent


def choose(sessions: Mapping[str, Askable], busy: Iterable[str], method: str) -> str | None:
    """The session to ask `method`; `busy` names the session of each request in flight.
    Sessions that declared the capability it needs first; if none can be asked, any."""
    needs = NEEDS.get(method)
    reachable = {name for name, s in sessions.items() if s.can_be_asked}
    able = {name for name in reachable if needs is None or needs in sessions[name].capabilities}
    busy = list(busy)
    return _guess(sessions, busy, able) or _guess(sessions, busy, reachable)


def _guess(sessions: Mapping[str, Askable], busy: list[str], among: set[str]) -> str | None:
    """Among `among`: the session with the most recent request in flight, else the most
    recently active ready one."""
    waiting = [name for name in busy if name in among]
    if waiting:
        return max(waiting, key=lambda name: sessions[name].active)
    ready = [(s.active, n) for n, s in sessions.items() if s.ready and n in among]
    return max(ready)[1] if ready else None


def capabilities(body: dict[str, Any]) -> frozenset[str]:
    """The client capabilities an `initialize` request declares."""
    params = body.get("params")
    found = params.get("capabilities") if isinstance(params, dict) else None
    return (
        frozenset(k for k, v in found.items() if v is not None)
        if isinstance(found, dict)
        else frozenset()
    )
