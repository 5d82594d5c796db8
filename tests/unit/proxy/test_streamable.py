"""Streamable HTTP at `/mcp` in front of the fake stdio server: sessions, answers as JSON or
SSE, batches, the GET stream, DELETE, errors that never crash, and a server that dies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mcp_lok.proxy import jsonrpc, sse

from .conftest import Proxy
from .fakes import FakeServer

pytestmark = pytest.mark.asyncio


async def test_initialize_opens_a_session_and_a_tool_call_is_answered(proxy: Proxy) -> None:
    session = await proxy.initialize()
    answer = await proxy.call(session, 7, "echo", text="hi")
    assert answer == {
        "jsonrpc": "2.0",
        "id": 7,
        "result": {"content": [{"type": "text", "text": "hi"}]},
    }


async def test_later_sessions_share_the_first_initialize(proxy: Proxy) -> None:
    first = await proxy.initialize("one")
    second = await proxy.initialize(2)
    assert first != second
    assert proxy.server.methods().count("initialize") == 1
    assert proxy.server.methods().count("notifications/initialized") == 1
    answers = await asyncio.gather(
        proxy.call(first, 1, "echo", text="first"), proxy.call(second, 1, "echo", text="second")
    )
    assert [a["result"]["content"][0]["text"] for a in answers] == ["first", "second"]
    assert [a["id"] for a in answers] == [1, 1]


async def test_a_client_that_accepts_only_sse_gets_its_answer_as_an_event(proxy: Proxy) -> None:
    session = await proxy.initialize()
    body = {"jsonrpc": "2.0", "id": "s", "method": "tools/list"}
    response = await proxy.post(body, session, Accept="text/event-stream")
    assert response.status == 200
    assert response.content_type == "text/event-stream"
    [event] = sse.Parser().feed(await response.read())
    assert event.event == "message"
    assert json.loads(event.data)["id"] == "s"


async def test_a_client_that_accepts_neither_is_refused(proxy: Proxy) -> None:
    response = await proxy.post({"jsonrpc": "2.0", "id": 1, "method": "x"}, Accept="text/html")
    assert response.status == 406


async def test_a_batch_is_answered_in_order_and_its_notifications_with_nothing(
    proxy: Proxy,
) -> None:
    session = await proxy.initialize()
    batch = [
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo"}},
        {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
        {"jsonrpc": "2.0", "id": "x", "method": "nope"},
    ]
    response = await proxy.post(batch, session)
    answers = await response.json()
    assert [a["id"] for a in answers] == [2, "x"]
    assert answers[1]["error"]["code"] == -32601


async def test_notifications_and_responses_get_202(proxy: Proxy) -> None:
    session = await proxy.initialize()
    note = {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}
    response = await proxy.post(note, session)
    assert response.status == 202
    assert response.headers["Mcp-Session-Id"] == session


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", jsonrpc.PARSE_ERROR),
        (b"\xff\xfe{}", jsonrpc.PARSE_ERROR),
        (b"[]", jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":true,"method":"x"}', jsonrpc.INVALID_REQUEST),
        (b'{"id":1,"method":"x"}', jsonrpc.INVALID_REQUEST),
        (b'"just a string"', jsonrpc.INVALID_REQUEST),
    ],
)
async def test_malformed_bodies_get_a_json_rpc_error_not_a_crash(
    proxy: Proxy, body: bytes, code: int
) -> None:
    response = await proxy.http.post(f"{proxy.url}/mcp", data=body, headers={"Accept": "*/*"})
    assert response.status == 400
    answer = await response.json()
    assert answer["error"]["code"] == code
    assert (await proxy.http.get(f"{proxy.url}/health")).status == 200


async def test_a_named_session_must_be_known_and_a_notification_needs_one(proxy: Proxy) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert (await proxy.post(body, "no-such-session")).status == 404
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "initialize"}]
    assert (await proxy.post(batch)).status == 400
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert (await proxy.post(note)).status == 400


async def test_a_request_without_a_session_is_answered_statelessly(proxy: Proxy) -> None:
    """MCP 2026-07-28: no handshake, no session; `server/discover` and unknown methods
    reach the server as they are, and no session is left behind."""
    discover = {"jsonrpc": "2.0", "id": "d", "method": "server/discover", "params": {}}
    response = await proxy.post(discover, **{"MCP-Protocol-Version": "2026-07-28"})
    assert response.status == 200
    assert "Mcp-Session-Id" not in response.headers
    assert (await response.json())["id"] == "d"
    assert proxy.server.methods() == ["server/discover"]
    params = {"name": "echo", "arguments": {"text": "alone"}}
    call = {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params}
    answer = await (await proxy.post(call)).json()
    assert answer["result"]["content"][0]["text"] == "alone"
    health = await (await proxy.http.get(f"{proxy.url}/health")).json()
    assert health["sessions"] == 0


@pytest.mark.parametrize("version", ["not-a-version", "2000-01-01", "2099-01-01"])
async def test_an_unsupported_protocol_version_header_is_refused(
    proxy: Proxy, version: str
) -> None:
    session = await proxy.initialize()
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert (await proxy.post(body, session, **{"MCP-Protocol-Version": version})).status == 400
    headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": version}
    assert (await proxy.http.delete(f"{proxy.url}/mcp", headers=headers)).status == 400
    ok = await proxy.post(body, session, **{"MCP-Protocol-Version": "2025-11-25"})
    assert ok.status == 200


@pytest.mark.parametrize("proxy", [{"read_timeout": 0.3}], indirect=True)
async def test_a_client_stalled_mid_body_times_out_and_others_are_served(proxy: Proxy) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 100\r\n"
    writer.write(head.encode() + b'Accept: */*\r\n\r\n{"jsonrpc":')
    session = await proxy.initialize()  # served while the stalled body waits
    assert (await proxy.call(session, 1, "echo", text="x"))["id"] == 1
    status = await asyncio.wait_for(reader.readline(), 5)
    assert status.split()[1] == b"408"
    writer.close()


async def test_an_id_already_waiting_in_the_session_is_refused(proxy: Proxy) -> None:
    session = await proxy.initialize()
    slow = asyncio.ensure_future(proxy.call(session, 1, "slow"))
    await _seen(proxy, lambda server: "slow" in server.tools())
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert (await proxy.post(body, session)).status == 400
    proxy.server.release.set()
    assert (await slow)["id"] == 1


async def test_the_get_stream_carries_server_notifications(proxy: Proxy) -> None:
    session = await proxy.initialize()
    stream = await proxy.http.get(
        f"{proxy.url}/mcp", headers={"Accept": "text/event-stream", "Mcp-Session-Id": session}
    )
    assert stream.status == 200
    await proxy.call(session, 1, "notify", text="look")
    event = await _next_event(stream)
    assert json.loads(event.data)["params"]["data"] == "look"
    again = await proxy.http.get(
        f"{proxy.url}/mcp", headers={"Accept": "text/event-stream", "Mcp-Session-Id": session}
    )
    assert again.status == 409
    stream.close()


async def test_a_server_request_is_answered_by_the_client_through_post(proxy: Proxy) -> None:
    session = await proxy.initialize()
    stream = await proxy.http.get(
        f"{proxy.url}/mcp", headers={"Accept": "text/event-stream", "Mcp-Session-Id": session}
    )
    call = asyncio.ensure_future(proxy.call(session, 5, "ask"))
    ask = json.loads((await _next_event(stream)).data)
    assert ask["method"] == "sampling/createMessage"
    reply = {"jsonrpc": "2.0", "id": ask["id"], "result": {"said": "yes"}}
    assert (await proxy.post(reply, session)).status == 202
    answer = await call
    assert json.loads(answer["result"]["content"][0]["text"]) == {"said": "yes"}
    stream.close()


async def test_delete_ends_the_session_and_its_stream(proxy: Proxy) -> None:
    session = await proxy.initialize()
    stream = await proxy.http.get(
        f"{proxy.url}/mcp", headers={"Accept": "text/event-stream", "Mcp-Session-Id": session}
    )
    response = await proxy.http.delete(f"{proxy.url}/mcp", headers={"Mcp-Session-Id": session})
    assert response.status == 200
    assert await asyncio.wait_for(stream.content.read(), 5) == b""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert (await proxy.post(body, session)).status == 404
    assert (await proxy.http.delete(f"{proxy.url}/mcp")).status == 400


@pytest.mark.parametrize("proxy", [{"request_timeout": 0.3}], indirect=True)
async def test_a_request_the_server_never_answers_times_out_and_is_cancelled(
    proxy: Proxy,
) -> None:
    session = await proxy.initialize()
    answer = await proxy.call(session, "t", "slow")
    assert answer["id"] == "t"
    assert answer["error"]["code"] == jsonrpc.REQUEST_TIMEOUT
    await _seen(proxy, lambda server: "notifications/cancelled" in server.methods())


async def test_a_client_that_disconnects_cancels_its_request(proxy: Proxy) -> None:
    session = await proxy.initialize()
    call = asyncio.ensure_future(proxy.call(session, "gone", "slow"))
    await _seen(proxy, lambda server: "slow" in server.tools())
    call.cancel()
    await _seen(proxy, lambda server: "notifications/cancelled" in server.methods())


async def test_when_the_server_dies_waiting_clients_get_an_error_at_once(proxy: Proxy) -> None:
    session = await proxy.initialize()
    slow = asyncio.ensure_future(proxy.call(session, 1, "slow"))
    await _seen(proxy, lambda server: "slow" in server.tools())
    await proxy.call(session, 2, "die")  # the die call itself is answered with an error too
    answer = await asyncio.wait_for(slow, 2)
    assert answer["error"]["code"] == jsonrpc.SERVER_GONE
    health = await proxy.http.get(f"{proxy.url}/health")
    assert health.status == 503
    assert (await health.json())["reason"].startswith("the server's output ended")
    later = await proxy.call(session, 3, "echo")
    assert later["error"]["code"] == jsonrpc.SERVER_GONE
    assert proxy.gone
    assert proxy.gone[0].startswith("the server's output ended")


async def test_server_stderr_goes_to_the_log_file_in_whole_lines(proxy: Proxy) -> None:
    session = await proxy.initialize()
    await proxy.call(session, 1, "stderr")  # stderr frames come before the answer's
    assert proxy.config.log_path is not None
    assert _lines(proxy.config.log_path)[-2:] == [
        "server: warning: partial line",
        "server: second line",
    ]


async def test_health_reports_the_server_and_its_sessions(proxy: Proxy) -> None:
    await proxy.initialize()
    response = await proxy.http.get(f"{proxy.url}/health")
    assert response.status == 200
    assert await response.json() == {
        "status": "ok",
        "name": "fake",
        "transport": "stdio",
        "sessions": 1,
        "detail": "attached",
    }


async def test_health_is_ok_only_once_the_server_answered_initialize(proxy: Proxy) -> None:
    before = await (await proxy.http.get(f"{proxy.url}/health")).json()
    assert (before["status"], before["detail"]) == ("ok", "attached; no `initialize` answered yet")
    await proxy.initialize()
    after = await (await proxy.http.get(f"{proxy.url}/health")).json()
    assert (after["status"], after["detail"]) == ("ok", "attached")


async def test_health_is_503_when_the_server_answered_initialize_with_an_error(
    proxy: Proxy,
) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"fail": True}}
    answer = await (await proxy.post(body)).json()
    assert answer["error"]["message"] == "initialize failed"
    health = await proxy.http.get(f"{proxy.url}/health")
    assert health.status == 503
    about = await health.json()
    assert about["status"] == "unavailable"
    assert about["reason"] == "the server answered `initialize` with an error: initialize failed"


async def _next_event(stream: object) -> sse.Event:
    parser = sse.Parser()
    content = stream.content  # type: ignore[attr-defined]
    while True:
        chunk = await asyncio.wait_for(content.readany(), 5)
        assert chunk, "the stream ended"
        events = parser.feed(chunk)
        if events:
            return events[0]


async def _seen(proxy: Proxy, seen: Callable[[FakeServer], bool]) -> None:
    async with asyncio.timeout(5):
        await proxy.server.until(seen)


def _lines(path: str) -> list[str]:
    """The log's lines, without the stamp each opens with."""
    return [line.split(" ", 1)[1] for line in Path(path).read_text().splitlines()]


async def test_a_request_waiting_when_its_session_is_deleted_gets_an_error(proxy: Proxy) -> None:
    session = await proxy.initialize()
    slow = asyncio.ensure_future(proxy.call(session, "w", "slow"))
    await _seen(proxy, lambda server: "slow" in server.tools())
    response = await proxy.http.delete(f"{proxy.url}/mcp", headers={"Mcp-Session-Id": session})
    assert response.status == 200
    answer = await asyncio.wait_for(slow, 5)
    assert answer["id"] == "w"
    assert answer["error"]["message"] == "the session was closed"
    await _seen(proxy, lambda server: "notifications/cancelled" in server.methods())


@pytest.mark.parametrize("proxy", [{"max_line_bytes": 300}], indirect=True)
async def test_a_server_line_over_the_limit_ends_the_bridge_not_the_proxy(proxy: Proxy) -> None:
    session = await proxy.initialize()
    answer = await proxy.call(session, 1, "echo", text="x" * 400)
    assert answer["error"]["code"] == jsonrpc.SERVER_GONE
    health = await proxy.http.get(f"{proxy.url}/health")
    assert health.status == 503
    assert "longer than 300 bytes" in (await health.json())["reason"]


@pytest.mark.parametrize("proxy", [{"session_idle_timeout": 0.2}], indirect=True)
async def test_an_abandoned_session_is_closed_after_its_idle_timeout(proxy: Proxy) -> None:
    session = await proxy.initialize()
    await asyncio.sleep(0.6)  # idle 0.2s, and the sweeper looks every 0.05s
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert (await proxy.post(body, session)).status == 404


async def test_an_idle_stream_gets_keep_alive_comments(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_lok.proxy import stream

    monkeypatch.setattr(stream, "KEEPALIVE", 0.05)
    session = await proxy.initialize()
    response = await proxy.http.get(
        f"{proxy.url}/mcp", headers={"Accept": "text/event-stream", "Mcp-Session-Id": session}
    )
    chunk = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5)
    assert chunk == b": keep-alive\n\n"
    response.close()


async def test_progress_precedes_the_answer_on_the_posts_own_stream(proxy: Proxy) -> None:
    """Over the GET stream the progress could arrive after the answer (and be dropped);
    a client that takes SSE gets both, in order, as the POST's answer."""
    session = await proxy.initialize()
    params = {"name": "count", "arguments": {"steps": 4}, "_meta": {"progressToken": "mine"}}
    body = {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": params}
    response = await proxy.post(body, session)
    assert response.status == 200
    assert response.content_type == "text/event-stream"
    events = [json.loads(e.data) for e in sse.Parser().feed(await response.read())]
    assert [e["params"]["progress"] for e in events[:-1]] == [1, 2, 3, 4]
    assert {e["params"]["progressToken"] for e in events[:-1]} == {"mine"}
    assert events[-1]["id"] == 9
    assert "result" in events[-1]
    # without a progress token the answer stays plain JSON (the fast path)
    plain = await proxy.post({**body, "params": {"name": "echo"}}, session)
    assert plain.content_type == "application/json"


async def test_a_resuming_stream_gets_again_what_was_sent_after_its_last_event(
    proxy: Proxy,
) -> None:
    session = await proxy.initialize()
    headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session}
    stream = await proxy.http.get(f"{proxy.url}/mcp", headers=headers)
    await proxy.call(session, 1, "notify", text="one")
    first = await _next_event(stream)
    await proxy.call(session, 2, "notify", text="two")
    second = await _next_event(stream)
    assert (first.id, second.id) == ("1", "2")
    stream.close()  # the client lost the connection; say it never got "two"
    resumed = await _reopen(proxy, {**headers, "Last-Event-ID": first.id})
    again = await _next_event(resumed)
    assert again.id == "2"
    assert json.loads(again.data)["params"]["data"] == "two"
    await proxy.call(session, 3, "notify", text="three")
    assert (await _next_event(resumed)).id == "3"
    resumed.close()


async def _reopen(proxy: Proxy, headers: dict[str, str]) -> Any:
    """GET the stream again, once the proxy has seen the old one go (409 until then)."""
    async with asyncio.timeout(5):
        while True:
            stream = await proxy.http.get(f"{proxy.url}/mcp", headers=headers)
            if stream.status != 409:
                assert stream.status == 200
                return stream
            stream.close()
            await asyncio.sleep(0.05)


async def test_other_methods_on_the_endpoint_get_405(proxy: Proxy) -> None:
    for method in ("PUT", "PATCH"):
        response = await proxy.http.request(method, f"{proxy.url}/mcp", data=b"{}")
        assert response.status == 405
