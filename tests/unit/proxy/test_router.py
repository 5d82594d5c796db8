"""Sessions sharing one stdio server: ids rewritten out and restored back (type and all),
notifications to everyone or to the one they concern, server requests answered by the
session asked, and one `initialize` for all."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_lok.proxy import jsonrpc
from mcp_lok.proxy.router import Out, Router, ToClient, ToServer

INIT_RESULT = {"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "t"}}


def msg(body: dict[str, Any]) -> jsonrpc.Message:
    [message], _ = jsonrpc.parse_body(json.dumps(body).encode())
    return message


def request(id: Any, method: str = "tools/list", params: Any = None) -> jsonrpc.Message:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        body["params"] = params
    return msg(body)


def notification(method: str, params: Any = None) -> jsonrpc.Message:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        body["params"] = params
    return msg(body)


def line(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def to_server(outs: list[Out]) -> list[dict[str, Any]]:
    return [json.loads(o.data) for o in outs if isinstance(o, ToServer)]


def to_clients(outs: list[Out]) -> list[tuple[str, dict[str, Any], bytes | None]]:
    return [(o.session, json.loads(o.data), o.reply_to) for o in outs if isinstance(o, ToClient)]


@pytest.fixture
def router() -> Router:
    r = Router()
    r.open("a")
    r.open("b")
    return r


# a client that can answer every request a server may send
ABLE = {"protocolVersion": "x", "capabilities": {"sampling": {}, "roots": {}, "elicitation": {}}}


def initialized(router: Router) -> Router:
    [sent] = to_server(router.from_client("a", request(0, "initialize", ABLE)))
    router.from_server(line({"jsonrpc": "2.0", "id": sent["id"], "result": INIT_RESULT}))
    return router


def test_same_ids_from_two_sessions_reach_the_server_as_different_ids(router: Router) -> None:
    [from_a] = to_server(router.from_client("a", request(1)))
    [from_b] = to_server(router.from_client("b", request(1)))
    assert from_a["id"] != from_b["id"]
    assert from_a["method"] == from_b["method"] == "tools/list"


@pytest.mark.parametrize("client_id", [1, 0, -5, "1", "abc", "", 2**53 + 1])
@pytest.mark.parametrize("spacing", ["compact", "spaced", "id last"])
def test_the_response_goes_back_with_the_original_id_and_type(
    router: Router, client_id: Any, spacing: str
) -> None:
    [sent] = to_server(router.from_client("a", request(client_id)))
    body = {"jsonrpc": "2.0", "id": sent["id"], "result": {"tools": []}}
    raw = {
        "compact": line(body),
        "spaced": json.dumps(body, indent=1).replace("\n", " ").encode(),
        "id last": line({"result": {"tools": []}, "jsonrpc": "2.0", "id": sent["id"]}),
    }[spacing]
    [(session, answer, reply_to)] = to_clients(router.from_server(raw))
    assert session == "a"
    assert answer["id"] == client_id
    assert type(answer["id"]) is type(client_id)
    assert answer["result"] == {"tools": []}
    assert reply_to == json.dumps(client_id).encode()


def test_the_fast_path_forwards_the_servers_bytes_except_the_id(router: Router) -> None:
    [sent] = to_server(router.from_client("a", request("x")))
    raw = b'{"jsonrpc":"2.0","id":%d,"result":{"text":"a\\u00e9  b"}}' % sent["id"]
    [out] = router.from_server(raw)
    assert isinstance(out, ToClient)
    assert out.data == b'{"jsonrpc":"2.0","id":"x","result":{"text":"a\\u00e9  b"}}'


def test_errors_are_routed_like_results(router: Router) -> None:
    [sent] = to_server(router.from_client("b", request(9)))
    error = {"code": -32601, "message": "nope"}
    [(session, answer, _)] = to_clients(
        router.from_server(line({"jsonrpc": "2.0", "id": sent["id"], "error": error}))
    )
    assert (session, answer["id"], answer["error"]) == ("b", 9, error)


def test_a_response_no_one_waits_for_is_dropped(router: Router) -> None:
    assert router.from_server(line({"jsonrpc": "2.0", "id": 999, "result": {}})) == []
    assert router.from_server(line({"jsonrpc": "2.0", "id": "s", "result": {}})) == []


def test_a_line_that_is_not_json_rpc_is_dropped(router: Router) -> None:
    assert router.from_server(b"Starting server...") == []
    assert router.from_server(b'{"jsonrpc":"1.0"}') == []


def test_a_request_id_in_use_in_the_same_session_is_refused(router: Router) -> None:
    router.from_client("a", request(1))
    [(session, answer, _)] = to_clients(router.from_client("a", request(1)))
    assert session == "a"
    assert answer["error"]["code"] == jsonrpc.INVALID_REQUEST
    assert to_server(router.from_client("b", request(1)))  # another session may use it


def test_server_notifications_go_to_every_session(router: Router) -> None:
    note = line({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    outs = router.from_server(note)
    assert sorted(o.session for o in outs if isinstance(o, ToClient)) == ["a", "b"]
    assert all(isinstance(o, ToClient) and o.data == note and o.reply_to is None for o in outs)


def test_progress_goes_only_to_the_session_whose_token_it_names(router: Router) -> None:
    params = {"name": "slow", "_meta": {"progressToken": "tok"}}
    [sent] = to_server(router.from_client("a", request(1, "tools/call", params)))
    router.from_client("b", request(1, "tools/call", {"_meta": {"progressToken": "tok"}}))
    proxy_token = sent["params"]["_meta"]["progressToken"]
    assert proxy_token != "tok"
    assert sent["params"]["name"] == "slow"
    progress = {"progressToken": proxy_token, "progress": 1, "total": 2}
    note = {"jsonrpc": "2.0", "method": "notifications/progress", "params": progress}
    [(session, got, reply_to)] = to_clients(router.from_server(line(note)))
    assert (session, reply_to) == ("a", None)
    assert got["params"] == {"progressToken": "tok", "progress": 1, "total": 2}


def test_progress_with_an_unknown_token_is_dropped(router: Router) -> None:
    note = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 7}}
    assert router.from_server(line(note)) == []


def test_a_server_request_goes_to_the_busy_session_and_only_its_answer_returns(
    router: Router,
) -> None:
    initialized(router)
    router.from_client("b", request("ib", "initialize", ABLE))  # answered from the cache
    router.from_client("b", request(5, "tools/call"))
    ask = {"jsonrpc": "2.0", "id": "s1", "method": "sampling/createMessage", "params": {}}
    [(session, got, reply_to)] = to_clients(router.from_server(line(ask)))
    assert (session, got, reply_to) == ("b", ask, None)
    answer = {"jsonrpc": "2.0", "id": "s1", "result": {"content": "hi"}}
    assert router.from_client("a", msg(answer)) == []  # not asked: not forwarded
    assert to_server(router.from_client("b", msg(answer))) == [answer]
    assert router.from_client("b", msg(answer)) == []  # answered once only


def test_a_server_request_with_no_one_busy_goes_to_the_last_active_ready_session(
    router: Router,
) -> None:
    initialized(router)
    router.from_client("b", request("i", "initialize", ABLE))  # answered from the cache
    ask = {"jsonrpc": "2.0", "id": 3, "method": "roots/list"}
    [(session, _, _)] = to_clients(router.from_server(line(ask)))
    assert session == "b"


def test_a_server_request_goes_to_a_session_that_declared_the_capability_first(
    router: Router,
) -> None:
    initialized(router)  # a can answer everything
    no_roots = {"protocolVersion": "x", "capabilities": {"sampling": {}}}
    router.from_client("b", request("ib", "initialize", no_roots))
    router.from_client("b", request(5, "tools/call"))  # b is the busy one...
    ask = {"jsonrpc": "2.0", "id": 3, "method": "roots/list"}
    [(session, _, _)] = to_clients(router.from_server(line(ask)))
    assert session == "a"  # ...but only a can list roots
    sample = {"jsonrpc": "2.0", "id": 4, "method": "sampling/createMessage", "params": {}}
    [(session, _, _)] = to_clients(router.from_server(line(sample)))
    assert session == "b"
    router.close("a")  # no one left declares roots: b is asked, as it would be directly
    [(session, asked, _)] = to_clients(router.from_server(line({**ask, "id": 5})))
    assert (session, asked) == ("b", {**ask, "id": 5})
    router.close("b")
    [refusal] = to_server(router.from_server(line({**ask, "id": 6})))
    assert refusal["error"]["message"].endswith("roots")


def test_a_server_request_with_no_session_ready_is_refused() -> None:
    router = Router()
    [answer] = to_server(router.from_server(line({"jsonrpc": "2.0", "id": 3, "method": "x"})))
    assert answer["id"] == 3
    assert answer["error"]["code"] == jsonrpc.INTERNAL_ERROR


def test_the_proxy_answers_the_servers_ping_itself(router: Router) -> None:
    outs = router.from_server(line({"jsonrpc": "2.0", "id": 4, "method": "ping"}))
    assert to_server(outs) == [{"jsonrpc": "2.0", "id": 4, "result": {}}]
    assert to_clients(outs) == []


def test_closing_the_asked_session_refuses_the_server_request(router: Router) -> None:
    initialized(router)
    router.from_server(line({"jsonrpc": "2.0", "id": "s", "method": "roots/list"}))
    [refusal] = to_server(router.close("a"))
    assert refusal["id"] == "s"
    assert "error" in refusal


def test_the_servers_cancellation_of_its_request_goes_to_the_session_asked(
    router: Router,
) -> None:
    initialized(router)
    router.from_server(line({"jsonrpc": "2.0", "id": 8, "method": "roots/list"}))
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 8}}
    assert [s for s, _, _ in to_clients(router.from_server(line(cancel)))] == ["a"]
    assert router.from_server(line(cancel)) == []


def test_the_first_initialize_is_forwarded_and_later_ones_answered_from_it(
    router: Router,
) -> None:
    [sent] = to_server(router.from_client("a", request(1, "initialize", {"protocolVersion": "x"})))
    assert sent["method"] == "initialize"
    result = line({"jsonrpc": "2.0", "id": sent["id"], "result": INIT_RESULT})
    [(_, first, _)] = to_clients(router.from_server(result))
    assert first == {"jsonrpc": "2.0", "id": 1, "result": INIT_RESULT}
    outs = router.from_client("b", request("init-b", "initialize", {"protocolVersion": "x"}))
    assert to_server(outs) == []
    [(session, later, reply_to)] = to_clients(outs)
    assert (session, later["id"], later["result"]) == ("b", "init-b", INIT_RESULT)
    assert reply_to == b'"init-b"'


def test_notifications_initialized_reaches_the_server_once(router: Router) -> None:
    initialized(router)
    done = notification("notifications/initialized")
    assert to_server(router.from_client("a", done)) == [json.loads(done.raw or b"")]
    assert router.from_client("b", done) == []


def test_an_initialize_during_the_first_waits_for_its_result(router: Router) -> None:
    [sent] = to_server(router.from_client("a", request(1, "initialize")))
    assert router.from_client("b", request(2, "initialize")) == []
    outs = router.from_server(line({"jsonrpc": "2.0", "id": sent["id"], "result": INIT_RESULT}))
    assert [(s, m["id"]) for s, m, _ in to_clients(outs)] == [("a", 1), ("b", 2)]


def test_a_failed_initialize_is_passed_on_and_the_next_one_forwarded(router: Router) -> None:
    [sent] = to_server(router.from_client("a", request(1, "initialize")))
    router.from_client("b", request(2, "initialize"))
    error = {"code": -32602, "message": "unsupported"}
    outs = router.from_server(line({"jsonrpc": "2.0", "id": sent["id"], "error": error}))
    assert [(s, m["error"]) for s, m, _ in to_clients(outs)] == [("a", error), ("b", error)]
    assert to_server(router.from_client("b", request(3, "initialize")))


def test_the_servers_answer_to_initialize_is_remembered_until_one_succeeds(
    router: Router,
) -> None:
    assert (router.handshake.done, router.handshake.error) == (False, None)
    [sent] = to_server(router.from_client("a", request(1, "initialize")))
    error = {"code": -32602, "message": "unsupported"}
    router.from_server(line({"jsonrpc": "2.0", "id": sent["id"], "error": error}))
    assert (router.handshake.done, router.handshake.error) == (False, "unsupported")
    [again] = to_server(router.from_client("b", request(2, "initialize")))
    router.from_server(line({"jsonrpc": "2.0", "id": again["id"], "error": {"code": 1}}))
    assert router.handshake.error == "no reason given"
    [last] = to_server(router.from_client("b", request(3, "initialize")))
    router.from_server(line({"jsonrpc": "2.0", "id": last["id"], "result": INIT_RESULT}))
    assert (router.handshake.done, router.handshake.error) == (True, None)


def test_the_first_session_leaving_mid_initialize_still_initializes_the_rest(
    router: Router,
) -> None:
    [sent] = to_server(router.from_client("a", request(1, "initialize")))
    router.from_client("b", request(2, "initialize"))
    assert to_server(router.close("a")) == []  # an initialize is never cancelled
    outs = router.from_server(line({"jsonrpc": "2.0", "id": sent["id"], "result": INIT_RESULT}))
    assert [(s, m["id"]) for s, m, _ in to_clients(outs)] == [("b", 2)]


def test_a_client_cancellation_names_the_proxy_id_and_drops_the_late_answer(
    router: Router,
) -> None:
    [sent] = to_server(router.from_client("a", request("r", "tools/call")))
    cancel = notification("notifications/cancelled", {"requestId": "r", "reason": "bored"})
    outs = router.from_client("a", cancel)
    [forwarded] = to_server(outs)
    assert forwarded["params"] == {"requestId": sent["id"], "reason": "bored"}
    # the HTTP request still waiting for "r" is ended, and only if one waits
    [ended] = [out for out in outs if isinstance(out, ToClient)]
    assert ended.only_if_waiting
    assert (ended.session, ended.reply_to) == ("a", b'"r"')
    assert json.loads(ended.data)["error"]["code"] == jsonrpc.REQUEST_CANCELLED
    assert router.from_server(line({"jsonrpc": "2.0", "id": sent["id"], "result": {}})) == []
    assert router.from_client("b", cancel) == []  # b has no request "r"


def test_closing_a_session_cancels_its_requests_at_the_server(router: Router) -> None:
    [sent] = to_server(router.from_client("a", request(1, "tools/call")))
    [cancel] = to_server(router.close("a"))
    assert cancel["method"] == "notifications/cancelled"
    assert cancel["params"]["requestId"] == sent["id"]
    assert router.close("a") == []
    assert router.sessions == 1


def test_cancel_for_a_client_that_stopped_waiting(router: Router) -> None:
    [sent] = to_server(router.from_client("a", request(1)))
    assert router.in_flight("a") == 1
    [cancel] = to_server(router.cancel("a", b"1", "timeout"))
    assert cancel["params"] == {"requestId": sent["id"], "reason": "timeout"}
    assert router.in_flight("a") == 0
    assert router.cancel("a", b"1", "again") == []
    assert router.cancel("nobody", b"1", "x") == []


def test_when_the_server_is_gone_every_waiting_client_gets_an_error_at_once(
    router: Router,
) -> None:
    router.from_client("a", request(1, "tools/call"))
    router.from_client("b", request("q", "tools/call"))
    outs = router.server_gone("the container stopped")
    got = sorted((s, m["id"], m["error"]["code"]) for s, m, _ in to_clients(outs))
    assert got == [("a", 1, jsonrpc.SERVER_GONE), ("b", "q", jsonrpc.SERVER_GONE)]
    [(_, later, _)] = to_clients(router.from_client("a", request(2)))
    assert "container stopped" in later["error"]["message"]
    assert router.from_client("a", notification("notifications/initialized")) == []


def test_client_notifications_pass_as_the_clients_own_bytes(router: Router) -> None:
    note = msg({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"})
    [out] = router.from_client("a", note)
    assert isinstance(out, ToServer)
    assert out.data == note.raw


def test_sessions_must_be_opened_once(router: Router) -> None:
    with pytest.raises(ValueError, match="already open"):
        router.open("a")
    with pytest.raises(ValueError, match="not open"):
        router.from_client("zz", request(1))


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.one_of(st.integers(-3, 3), st.sampled_from("xy"))),
        unique=True,
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_concurrent_sessions_answered_in_any_order_each_get_their_own(
    requests: list[tuple[str, Any]], rnd: Any
) -> None:
    router = Router()
    for session in "abc":
        router.open(session)
    sent = {}
    for session, id in requests:
        [out] = to_server(router.from_client(session, request(id, "tools/call", {"s": session})))
        sent[out["id"]] = (session, id)
    assert len(sent) == len(requests)  # every proxy id is distinct
    order = list(sent)
    rnd.shuffle(order)
    for proxy_id in order:
        body = {"jsonrpc": "2.0", "id": proxy_id, "result": {"for": proxy_id}}
        [(session, answer, _)] = to_clients(router.from_server(line(body)))
        assert (session, answer["id"]) == sent[proxy_id]
        assert type(answer["id"]) is type(sent[proxy_id][1])


def test_a_client_cannot_cancel_the_shared_initialize(router: Router) -> None:
    [sent] = to_server(router.from_client("a", request(1, "initialize")))
    router.from_client("b", request(2, "initialize"))
    cancel = notification("notifications/cancelled", {"requestId": 1})
    assert router.from_client("a", cancel) == []
    outs = router.from_server(line({"jsonrpc": "2.0", "id": sent["id"], "result": INIT_RESULT}))
    assert [(s, m["id"]) for s, m, _ in to_clients(outs)] == [("a", 1), ("b", 2)]
