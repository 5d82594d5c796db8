"""Who hears a shared server (sans-I/O): which client sessions get a server notification,
and what the server is told of the sessions' resource subscriptions and log levels.

A shared stdio server has one client, the proxy, so it keeps one set of subscriptions and
one log level for everyone. The proxy keeps them per session and decides here:

Routing a server notification
- `notifications/resources/updated` goes only to the sessions subscribed to its URI, or,
  when none is, to those subscribed to a resource it lies under (`file:///a` for
  `file:///a/b`: MCP lets a server report a sub-resource). An update no session asked
  for goes to no one.
- `notifications/message` goes to the sessions whose `logging/setLevel` asked for its
  level or a more verbose one. While no session has set a level, it goes to every session,
  as the server sent it; once one has, a session that set none gets none (what the
  server sends then is what another client asked for). A level MCP does not name goes
  to every session.
- everything else (the list-changed notifications, and methods the proxy does not know)
  goes to every session; progress and cancellations are the router's.

What the server is told
- `resources/subscribe` reaches the server unless it has already accepted a subscription
  to that URI; then the proxy answers `{}` itself. A subscription counts for routing as
  soon as it is asked, and is dropped again if the server refuses it.
- `resources/unsubscribe` reaches the server only when no other session is still
  subscribed to that URI; otherwise the proxy answers `{}` itself.
- `logging/setLevel` sets the session's level; the server is told the most verbose level
  any session has asked for, only when that changes (the request is forwarded with that
  level, so a less verbose request may reach it as a more verbose one), else the proxy
  answers `{}` itself. A level the server refuses is taken back. A level MCP does not
  name is forwarded untouched and not recorded: the server answers it.
- when a session ends, the server is unsubscribed from the URIs no session wants any
  more, and told the new most verbose level if it changed (with no session left that set
  one, the server keeps its last level: MCP has no way to unset it).
- when the server is started again, it is given every subscription and the level again.

Requests the proxy sends on its own are `Call`s; their answers go to no session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# RFC 5424 severities as MCP names them, most verbose first
LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_SEVERITY = {name: rank for rank, name in enumerate(LEVELS)}

SUBSCRIBE = "resources/subscribe"
UNSUBSCRIBE = "resources/unsubscribe"
SET_LEVEL = "logging/setLevel"
METHODS = frozenset({SUBSCRIBE, UNSUBSCRIBE, SET_LEVEL})  # the requests decided here
UPDATED = "notifications/resources/updated"
MESSAGE = "notifications/message"
ROUTED = frozenset({UPDATED, MESSAGE})  # the notifications that do not go to everyone


@dataclass(frozen=True, slots=True)
class Effect:
    """What a forwarded request changes once the server has answered it."""

    kind: str  # SUBSCRIBE or SET_LEVEL
    session: str  # "" for the proxy's own request
    uri: str = ""
    level: int | None = None  # the session's level before this request (SET_LEVEL)
    told: int | None = None  # the server's level before this request (SET_LEVEL)


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the request to the server, with these params (None: as the client sent it)."""

    params: dict[str, Any] | None = None
    effect: Effect | None = None


class Answer:
    """The proxy answers the request itself, with an empty result."""


ANSWER = Answer()


@dataclass(frozen=True, slots=True)
class Call:
    """A request the proxy sends the server on its own behalf."""

    method: str
    params: dict[str, Any]
    effect: Effect | None = None


@dataclass(slots=True)
class Audience:
    subscribers: dict[str, set[str]] = field(default_factory=dict)  # URI → sessions
    accepted: set[str] = field(default_factory=set)  # URIs the server is subscribed to
    levels: dict[str, int] = field(default_factory=dict)  # session → its level
    told: int | None = None  # the level the server was last sent

    # -- client requests --------------------------------------------------------------

    def request(self, session: str, method: str, params: Any) -> Forward | Answer:
        """Decide a `METHODS` request: forward it (maybe changed), or answer it here."""
        key = "level" if method == SET_LEVEL else "uri"
        found = params.get(key) if isinstance(params, dict) else None
        if not isinstance(found, str):
            return Forward()  # malformed: the server says what is wrong with it
        if method == SUBSCRIBE:
            return self._subscribe(session, found)
        if method == UNSUBSCRIBE:
            return self._unsubscribe(session, found)
        return self._set_level(session, found, params)  # params is a dict: it held `found`

    def _subscribe(self, session: str, uri: str) -> Forward | Answer:
        self.subscribers.setdefault(uri, set()).add(session)
        if uri in self.accepted:
            return ANSWER
        return Forward(effect=Effect(SUBSCRIBE, session, uri))

    def _unsubscribe(self, session: str, uri: str) -> Forward | Answer:
        wanting = self.subscribers.get(uri, set())
        wanting.discard(session)
        if wanting:
            return ANSWER  # INVARIANT: no session unsubscribes the server from another's URI
        self.subscribers.pop(uri, None)
        self.accepted.discard(uri)
        return Forward()

    def _set_level(self, session: str, level: str, params: dict[str, Any]) -> Forward | Answer:
        rank = _SEVERITY.get(level)
        if rank is None:
            return Forward()
        before = self.levels.get(session)
        self.levels[session] = rank
        want = min(self.levels.values())
        if want == self.told:
            return ANSWER
        effect = Effect(SET_LEVEL, session, level=before, told=self.told)
        self.told = want
        return Forward(params if want == rank else dict(params, level=LEVELS[want]), effect)

    def settled(self, effect: Effect, ok: bool) -> None:
        """The server answered a forwarded request that had an `effect`."""
        if effect.kind == SUBSCRIBE:
            if ok:
                self.accepted.add(effect.uri)
            elif (wanting := self.subscribers.get(effect.uri)) is not None:
                wanting.discard(effect.session)
                if not wanting:
                    del self.subscribers[effect.uri]
        elif not ok:
            if effect.session in self.levels:
                if effect.level is None:
                    del self.levels[effect.session]
                else:
                    self.levels[effect.session] = effect.level
            self.told = effect.told

    # -- sessions and the server's life -----------------------------------------------

    def forget(self, session: str) -> list[Call]:
        """A session ended: what the server must be told now that it is gone."""
        calls = []
        for uri in [u for u, wanting in self.subscribers.items() if session in wanting]:
            wanting = self.subscribers[uri]
            wanting.discard(session)
            if not wanting:
                del self.subscribers[uri]
                if uri in self.accepted:
                    self.accepted.discard(uri)
                    calls.append(Call(UNSUBSCRIBE, {"uri": uri}))
        if self.levels.pop(session, None) is not None and self.levels:
            want = min(self.levels.values())
            if want != self.told:
                calls.append(self._tell(want))
        return calls

    def replay(self) -> list[Call]:
        """The server was started again and remembers nothing: subscribe it and set its
        level again."""
        self.accepted.clear()
        calls = [
            Call(SUBSCRIBE, {"uri": uri}, Effect(SUBSCRIBE, "", uri)) for uri in self.subscribers
        ]
        if self.told is not None:
            calls.append(self._tell(self.told))
        return calls

    def _tell(self, want: int) -> Call:
        effect = Effect(SET_LEVEL, "", told=self.told)
        self.told = want
        return Call(SET_LEVEL, {"level": LEVELS[want]}, effect)

    # -- server notifications ---------------------------------------------------------

    def recipients(
        self, method: str, params: dict[str, Any], sessions: Iterable[str]
    ) -> Iterable[str]:
        """The sessions a server notification goes to."""
        if method == UPDATED:
            uri = params.get("uri")
            return self._subscribed(uri) if isinstance(uri, str) else ()
        if method == MESSAGE and self.levels:
            level = params.get("level")
            rank = _SEVERITY.get(level) if isinstance(level, str) else None
            if rank is not None:
                return [s for s, level in self.levels.items() if level <= rank]
        return sessions

    def _subscribed(self, uri: str) -> Iterable[str]:
        exact = self.subscribers.get(uri)
        if exact:
            return exact
        return {
            session
            for parent, wanting in self.subscribers.items()
            if _under(uri, parent)
            for session in wanting
        }


def _under(uri: str, parent: str) -> bool:
    """`uri` names a resource below `parent` (`parent` then `/`, `?` or `#`)."""
    return (
        len(uri) > len(parent)
        and uri.startswith(parent)
        and (parent.endswith("/") or uri[len(parent)] in "/?#")
    )
