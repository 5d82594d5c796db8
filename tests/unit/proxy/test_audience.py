"""Shared mode routes like the server would: resource updates to their subscribers, log
messages by level, list changes to everyone; the server unsubscribed only when no session
wants a URI, and set to the most verbose level any session asked for — through the router,
as the bridge drives it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcp_lok.proxy import jsonrpc
from mcp_lok.proxy.audience import ANSWER, LEVELS, Audience, Forward
from mcp_lok.proxy.router import Out, Router, ToClient, ToServer

INIT_RESULT = {"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "t"}}


def msg(body: dict[str, Any]) -> jsonrpc.Message:
    [message], _ = jsonrpc.parse_body(json.dumps(body).encode())
    return message


def request(id: Any, method: str, params: Any = None) -> jsonrpc.Message:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        body["params"] = params
    return msg(body)


def line(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def note(method: str, params: dict[str, Any]) -> bytes:
    return line({"jsonrpc": "2.0", "method": method, "params": params})


def to_server(outs: list[Out]) -> list[dict[str, Any]]:
    return [json.loads(o.data) for o in outs if isinstance(o, ToServer)]


def to_clients(outs: list[Out]) -> list[tuple[str, dict[str, Any]]]:
    return [(o.session, json.loads(o.data)) for o in outs if isinstance(o, ToClient)]


def answered(router: Router, sent: dict[str, Any], error: bool = False) -> list[Out]:
    """The server answers `sent` (with `{}`, or an error)."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": sent["id"]}
    body.update({"error": {"code": -32601, "message": "no"}} if error else {"result": {}})
    return router.from_server(line(body))


@pytest.fixture
def router() -> Router:
    r = Router()
    for name in ("a", "b", "c"):
        r.open(name)
    [sent] = to_server(r.from_client("a", request(0, "initialize", {"capabilities": {}})))
    r.from_server(line({"jsonrpc": "2.0", "id": sent["id"], "result": INIT_RESULT}))
    return r


def subscribe(router: Router, session: str, uri: str, id: Any = 1) -> list[Out]:
    return router.from_client(session, request(id, "resources/subscribe", {"uri": uri}))


def unsubscribe(router: Router, session: str, uri: str, id: Any = 2) -> list[Out]:
    return router.from_client(session, request(id, "resources/unsubscribe", {"uri": uri}))


def set_level(router: Router, session: str, level: str, id: Any = 3) -> list[Out]:
    return router.from_client(session, request(id, "logging/setLevel", {"level": level}))


def hearing(router: Router, method: str, params: dict[str, Any]) -> list[str]:
    return sorted(s for s, _ in to_clients(router.from_server(note(method, params))))


# -- resource subscriptions -----------------------------------------------------------------


def test_a_resource_update_goes_only_to_the_sessions_subscribed_to_its_uri(
    router: Router,
) -> None:
    [sent] = to_server(subscribe(router, "a", "file:///x"))
    assert answered(router, sent)  # a's answer
    assert hearing(router, "notifications/resources/updated", {"uri": "file:///x"}) == ["a"]
    assert hearing(router, "notifications/resources/updated", {"uri": "file:///y"}) == []


def test_an_update_of_a_sub_resource_goes_to_who_subscribed_to_what_it_lies_under(
    router: Router,
) -> None:
    answered(router, to_server(subscribe(router, "a", "file:///dir"))[0])
    answered(router, to_server(subscribe(router, "b", "file:///dir/"))[0])
    updated = "notifications/resources/updated"
    assert hearing(router, updated, {"uri": "file:///dir/f"}) == ["a", "b"]
    assert hearing(router, updated, {"uri": "file:///dir?v=2"}) == ["a"]
    assert hearing(router, updated, {"uri": "file:///directory"}) == []  # not under it


def test_a_second_subscriber_is_answered_by_the_proxy_and_hears_the_updates(
    router: Router,
) -> None:
    [sent] = to_server(subscribe(router, "a", "file:///x"))
    answered(router, sent)
    outs = subscribe(router, "b", "file:///x", id="s")
    assert to_server(outs) == []
    assert to_clients(outs) == [("b", {"jsonrpc": "2.0", "id": "s", "result": {}})]
    assert hearing(router, "notifications/resources/updated", {"uri": "file:///x"}) == ["a", "b"]


def test_the_server_is_unsubscribed_only_when_no_session_still_wants_the_uri(
    router: Router,
) -> None:
    answered(router, to_server(subscribe(router, "a", "file:///x"))[0])
    subscribe(router, "b", "file:///x")
    outs = unsubscribe(router, "a", "file:///x")
    assert to_server(outs) == []  # b still wants it
    assert to_clients(outs) == [("a", {"jsonrpc": "2.0", "id": 2, "result": {}})]
    assert hearing(router, "notifications/resources/updated", {"uri": "file:///x"}) == ["b"]
    [sent] = to_server(unsubscribe(router, "b", "file:///x"))
    assert (sent["method"], sent["params"]) == ("resources/unsubscribe", {"uri": "file:///x"})
    assert hearing(router, "notifications/resources/updated", {"uri": "file:///x"}) == []


def test_unsubscribing_from_what_only_another_session_wants_does_not_reach_the_server(
    router: Router,
) -> None:
    answered(router, to_server(subscribe(router, "a", "file:///x"))[0])
    assert to_server(unsubscribe(router, "c", "file:///x")) == []
    assert hearing(router, "notifications/resources/updated", {"uri": "file:///x"}) == ["a"]


def test_a_session_that_ends_leaves_the_server_subscribed_to_what_others_want(
    router: Router,
) -> None:
    answered(router, to_server(subscribe(router, "a", "file:///x"))[0])
    answered(router, to_server(subscribe(router, "a", "file:///y", id=5))[0])
    subscribe(router, "b", "file:///x")
    [sent] = to_server(router.close("a"))
    assert (sent["method"], sent["params"]) == ("resources/unsubscribe", {"uri": "file:///y"})
    assert answered(router, sent) == []  # the proxy's own: its answer goes to no one
    assert hearing(router, "notifications/resources/updated", {"uri": "file:///x"}) == ["b"]
    assert to_server(router.close("b")) == [
        {"jsonrpc": "2.0", "id": sent["id"] + 1, "method": "resources/unsubscribe",
         "params": {"uri": "file:///x"}}
    ]  # fmt: skip


def test_a_subscription_the_server_refused_is_not_kept(router: Router) -> None:
    [sent] = to_server(subscribe(router, "a", "file:///x"))
    [(session, answer)] = to_clients(answered(router, sent, error=True))
    assert (session, answer["error"]["code"]) == ("a", -32601)
    assert hearing(router, "notifications/resources/updated", {"uri": "file:///x"}) == []
    # the next subscriber asks the server again, and a session that ends tells it nothing
    assert to_server(subscribe(router, "b", "file:///x"))
    assert to_server(router.close("a")) == []


def test_an_update_that_comes_before_the_subscription_is_answered_reaches_the_subscriber(
    router: Router,
) -> None:
    subscribe(router, "a", "file:///x")
    assert hearing(router, "notifications/resources/updated", {"uri": "file:///x"}) == ["a"]


def test_a_malformed_subscription_goes_to_the_server_untracked(router: Router) -> None:
    [sent] = to_server(subscribe(router, "a", 7))  # type: ignore[arg-type]
    assert sent["params"] == {"uri": 7}
    answered(router, sent)
    assert Audience().request("a", "resources/subscribe", None) == Forward()


# -- log levels -----------------------------------------------------------------------------


def test_log_messages_go_to_every_session_while_none_set_a_level(router: Router) -> None:
    message = {"level": "debug", "data": "x"}
    assert hearing(router, "notifications/message", message) == ["a", "b", "c"]


def test_log_messages_go_to_sessions_that_asked_for_their_level_or_a_more_verbose_one(
    router: Router,
) -> None:
    answered(router, to_server(set_level(router, "a", "debug"))[0])
    set_level(router, "b", "error")
    for level, expected in [
        ("debug", ["a"]),
        ("warning", ["a"]),
        ("error", ["a", "b"]),
        ("emergency", ["a", "b"]),
        ("verbose", ["a", "b", "c"]),  # not a level MCP names: as the server sent it
    ]:
        assert hearing(router, "notifications/message", {"level": level}) == expected, level


def test_the_server_is_told_the_most_verbose_level_any_session_asked_for(
    router: Router,
) -> None:
    [first] = to_server(set_level(router, "a", "warning"))
    assert first["params"] == {"level": "warning"}
    answered(router, first)
    outs = set_level(router, "b", "error", id="e")  # less verbose: the server needs nothing
    assert to_server(outs) == []
    assert to_clients(outs) == [("b", {"jsonrpc": "2.0", "id": "e", "result": {}})]
    [more] = to_server(set_level(router, "b", "info"))
    assert more["params"] == {"level": "info"}
    answered(router, more)
    # a asks for less: the server stays at b's info, so a's request reaches it as info
    assert to_server(set_level(router, "a", "critical")) == []
    [fewer] = to_server(set_level(router, "b", "alert"))
    assert fewer["params"] == {"level": "critical"}


def test_a_session_that_ends_lets_the_server_be_less_verbose(router: Router) -> None:
    answered(router, to_server(set_level(router, "a", "debug"))[0])
    set_level(router, "b", "error")
    [sent] = to_server(router.close("a"))
    assert (sent["method"], sent["params"]) == ("logging/setLevel", {"level": "error"})
    answered(router, sent)
    assert hearing(router, "notifications/message", {"level": "warning"}) == []
    assert to_server(router.close("b")) == []  # no level left: the server keeps its last
    assert hearing(router, "notifications/message", {"level": "warning"}) == ["c"]


def test_a_level_the_server_refuses_is_taken_back(router: Router) -> None:
    [sent] = to_server(set_level(router, "a", "info"))
    [(session, answer)] = to_clients(answered(router, sent, error=True))
    assert (session, answer["error"]["code"]) == ("a", -32601)
    assert hearing(router, "notifications/message", {"level": "debug"}) == ["a", "b", "c"]
    assert to_server(set_level(router, "b", "info"))  # the server was told nothing yet


def test_a_second_level_refused_puts_back_the_first(router: Router) -> None:
    answered(router, to_server(set_level(router, "a", "info"))[0])
    answered(router, to_server(set_level(router, "a", "debug"))[0], error=True)
    assert hearing(router, "notifications/message", {"level": "debug"}) == []
    assert hearing(router, "notifications/message", {"level": "info"}) == ["a"]
    assert to_server(set_level(router, "b", "info")) == []  # the server is at info


def test_a_level_mcp_does_not_name_is_forwarded_untouched_and_not_recorded(
    router: Router,
) -> None:
    [sent] = to_server(set_level(router, "a", "loud"))
    assert sent["params"] == {"level": "loud"}
    assert hearing(router, "notifications/message", {"level": "debug"}) == ["a", "b", "c"]


# -- everyone, and the server's second life -------------------------------------------------


@pytest.mark.parametrize(
    "method",
    [
        "notifications/tools/list_changed",
        "notifications/resources/list_changed",
        "notifications/prompts/list_changed",
        "notifications/something_new",
    ],
)
def test_list_changes_and_unknown_notifications_go_to_every_session(
    router: Router, method: str
) -> None:
    answered(router, to_server(subscribe(router, "a", "file:///x"))[0])
    answered(router, to_server(set_level(router, "a", "debug"))[0])
    assert hearing(router, method, {}) == ["a", "b", "c"]


def test_a_restarted_server_is_subscribed_and_set_to_its_level_again(router: Router) -> None:
    answered(router, to_server(subscribe(router, "a", "file:///x"))[0])
    answered(router, to_server(set_level(router, "b", "notice"))[0])
    router.server_gone("killed")
    [init, _] = to_server(router.restarted())
    replayed = to_server(
        router.from_server(line({"jsonrpc": "2.0", "id": init["id"], "result": INIT_RESULT}))
    )
    assert [(m["method"], m["params"]) for m in replayed] == [
        ("resources/subscribe", {"uri": "file:///x"}),
        ("logging/setLevel", {"level": "notice"}),
    ]
    assert all(answered(router, m) == [] for m in replayed)
    assert to_server(subscribe(router, "c", "file:///x")) == []  # accepted again


def test_a_session_that_ends_while_the_server_is_gone_tells_it_nothing(router: Router) -> None:
    answered(router, to_server(subscribe(router, "a", "file:///x"))[0])
    router.server_gone("killed")
    assert to_server(router.close("a")) == []


def test_the_audience_answers_with_its_marker() -> None:
    audience = Audience()
    assert isinstance(audience.request("a", "resources/subscribe", {"uri": "u"}), Forward)
    audience.accepted.add("u")
    assert audience.request("b", "resources/subscribe", {"uri": "u"}) is ANSWER
    assert (LEVELS[0], LEVELS[-1]) == ("debug", "emergency")
