"""Which session a shared server's request goes to: those that declared the capability it
needs first, and when none did, the one a direct connection would ask."""

from __future__ import annotations

from dataclasses import dataclass

from mcp_lok.proxy.asking import choose


@dataclass(frozen=True)
class S:
    active: int
    capabilities: frozenset[str] = frozenset()
    ready: bool = True
    can_be_asked: bool = True


def test_the_busy_session_that_declared_the_capability_is_asked() -> None:
    sessions = {"a": S(1, frozenset({"elicitation"})), "b": S(2, frozenset({"elicitation"}))}
    assert choose(sessions, ["a"], "elicitation/create") == "a"
    assert choose(sessions, [], "elicitation/create") == "b"  # none busy: the most recent


def test_a_session_that_declared_it_comes_before_a_busy_one_that_did_not() -> None:
    sessions = {"able": S(1, frozenset({"sampling"})), "busy": S(2)}
    assert choose(sessions, ["busy"], "sampling/createMessage") == "able"


def test_with_no_session_declaring_it_the_busy_one_is_asked_as_directly() -> None:
    sessions = {"idle": S(3), "busy": S(2)}
    assert choose(sessions, ["busy"], "elicitation/create") == "busy"
    assert choose(sessions, [], "elicitation/create") == "idle"


def test_a_session_with_no_stream_is_never_asked_one_not_ready_only_when_busy() -> None:
    sessions = {"stateless": S(5, can_be_asked=False), "new": S(4, ready=False)}
    assert choose(sessions, ["stateless"], "roots/list") is None
    assert choose(sessions, [], "roots/list") is None
    assert choose(sessions, ["new"], "roots/list") == "new"  # its own request is in flight
