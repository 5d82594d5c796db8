"""A shared server that lists its tools differently to two sessions, with no list change in
between, behaves per client: the proxy warns once per server, naming per-session mode."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from mcp_lok.proxy import jsonrpc
from mcp_lok.proxy.router import Router, ToServer
from mcp_lok.proxy.sameness import watched

INIT_RESULT = {"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "t"}}


def request(id: Any, method: str, params: Any = None) -> jsonrpc.Message:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        body["params"] = params
    [message], _ = jsonrpc.parse_body(json.dumps(body).encode())
    return message


def line(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.fixture
def router() -> Router:
    r = Router("web")
    r.open("a")
    r.open("b")
    return r


def listed(
    router: Router, session: str, tools: list[str], method: str = "tools/list", **params: Any
) -> None:
    """`session` lists, and the server answers `tools`."""
    [sent] = [o for o in router.from_client(session, request(1, method, params or None))]
    assert isinstance(sent, ToServer)
    proxy_id = json.loads(sent.data)["id"]
    result = {"tools": [{"name": name} for name in tools]}
    router.from_server(line({"jsonrpc": "2.0", "id": proxy_id, "result": result}))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_two_sessions_listed_differently_with_no_change_in_between_is_warned_once(
    router: Router, caplog: pytest.LogCaptureFixture
) -> None:
    listed(router, "a", ["echo"])
    listed(router, "b", ["echo", "admin"])
    listed(router, "a", ["echo"])
    [warning] = warnings(caplog)
    assert warning.startswith("web: the server answered `tools/list` differently to two client")
    assert "--session-mode per-session" in warning


def test_a_list_changed_in_between_explains_the_difference(
    router: Router, caplog: pytest.LogCaptureFixture
) -> None:
    listed(router, "a", ["echo"])
    changed = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
    router.from_server(line(changed))
    listed(router, "b", ["echo", "admin"])
    listed(router, "a", ["echo", "admin"])
    assert warnings(caplog) == []


def test_the_same_list_to_every_session_or_a_change_to_one_session_is_no_sign(
    router: Router, caplog: pytest.LogCaptureFixture
) -> None:
    listed(router, "a", ["echo"])
    listed(router, "b", ["echo"])
    listed(router, "b", ["echo", "add"])  # the same session: the server's list changed
    listed(router, "a", ["echo"], method="prompts/list")  # another list
    listed(router, "b", ["x"], cursor="page2")  # a later page
    assert warnings(caplog) == []


def test_a_restarted_server_starts_afresh(router: Router, caplog: pytest.LogCaptureFixture) -> None:
    [sent] = router.from_client("a", request(0, "initialize", {"capabilities": {}}))
    assert isinstance(sent, ToServer)
    router.from_server(
        line({"jsonrpc": "2.0", "id": json.loads(sent.data)["id"], "result": INIT_RESULT})
    )
    listed(router, "a", ["echo"])
    router.server_gone("killed")
    router.restarted()
    listed(router, "b", ["echo", "new"])
    assert warnings(caplog) == []


def test_a_server_answer_written_another_way_is_compared_all_the_same(
    router: Router, caplog: pytest.LogCaptureFixture
) -> None:
    [sent] = router.from_client("a", request(1, "tools/list"))
    proxy_id = json.loads(sent.data)["id"]
    router.from_server(b'{"result": {"tools": []}, "id": %d, "jsonrpc": "2.0"}' % proxy_id)
    listed(router, "b", ["admin"])
    assert len(warnings(caplog)) == 1


def test_only_first_pages_of_lists_are_watched() -> None:
    assert watched("tools/list", None)
    assert watched("resources/templates/list", {"cursor": ""})
    assert not watched("tools/list", {"cursor": "2"})
    assert not watched("tools/call", {"name": "x"})
