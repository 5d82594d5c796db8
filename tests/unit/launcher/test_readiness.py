"""`start` waits until the server serves (issue 13): a stdio server's `initialize` is
answered through the proxy, and its session ended; an HTTP server's port answers (the
proxy's `/health`); a server that exits, answers with an error or stays silent is told
apart, and its last lines on stderr are read without the proxy's own."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcp_lok.launcher import readiness
from mcp_lok.launcher.readiness import NotServing, stderr_tail, wait_serving
from mcp_lok.launcher.state import ServerState

from .fakes import FakeEngine

TOKEN = "secret-token"
FINISHED = "2026-12-07T21:03:11.123456789Z"


class Proxy:
    """A loopback stand-in for the proxy: what it answers is the test's to set."""

    def __init__(self) -> None:
        self.initialize: dict[str, Any] | None = {"result": {"serverInfo": {"name": "t"}}}
        self.silent = 0.0  # seconds `initialize` takes
        self.health: list[tuple[int, dict[str, Any]]] = [(200, {"status": "ok"})]
        self.seen: list[tuple[str, dict[str, str], Any]] = []


@pytest.fixture
def proxy() -> Iterator[tuple[str, Proxy]]:
    stand_in = Proxy()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, status: int, body: Any, **headers: str) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            stand_in.seen.append(("POST", dict(self.headers), body))
            if "id" not in body:
                self._reply(202, None)
                return
            time.sleep(stand_in.silent)
            answer = {"jsonrpc": "2.0", "id": body["id"], **(stand_in.initialize or {})}
            self._reply(200, answer, **{"Mcp-Session-Id": "s1"})

        def do_DELETE(self) -> None:
            stand_in.seen.append(("DELETE", dict(self.headers), None))
            self._reply(200, None)

        def do_GET(self) -> None:
            status, about = stand_in.health[0]
            if len(stand_in.health) > 1:
                stand_in.health.pop(0)
            self._reply(status, about)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", stand_in
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readiness, "POLL", 0.01)
    monkeypatch.setattr(readiness, "EXIT_WAIT", 0.2)


def server(engine: FakeEngine, tmp_path: Path, transport: str = "stdio") -> ServerState:
    container = engine.add_container("mcp-lok-time", {})
    return ServerState(
        name="time",
        engine="docker",
        engine_url=engine.url,
        transport=transport,
        image="mcp-lok/mcp-server-time",
        profile="stdio",
        policy_digest="sha256:0",
        created="2026-12-07T21:00:00Z",
        log_path=str(tmp_path / "proxy.log"),
        container_name="mcp-lok-time",
        container_id=container,
    )


def test_a_stdio_server_serves_once_initialize_is_answered_and_its_session_ended(
    proxy: tuple[str, Proxy], tmp_path: Path
) -> None:
    url, stand_in = proxy
    engine = FakeEngine()
    wait_serving(engine, server(engine, tmp_path), url, TOKEN, 5)
    (_, asked, init), (_, _, note), (verb, ended, _) = stand_in.seen
    assert init["method"] == "initialize"
    assert init["params"]["capabilities"] == readiness.CAPABILITIES
    assert init["params"]["protocolVersion"] == readiness.PROTOCOL_VERSION
    assert asked["Authorization"] == f"Bearer {TOKEN}"
    assert note == {"jsonrpc": "2.0", "method": "notifications/initialized"}
    # no session is left to count against the proxy's limit
    assert (verb, ended["Mcp-Session-Id"]) == ("DELETE", "s1")


def test_a_stdio_server_that_exited_is_told_with_its_exit_code(
    proxy: tuple[str, Proxy], tmp_path: Path
) -> None:
    url, stand_in = proxy
    engine = FakeEngine()
    state = server(engine, tmp_path)
    engine.exit(state.container_id or "", 2, FINISHED)
    stand_in.initialize = {"error": {"code": -32001, "message": "the server has stopped"}}
    with pytest.raises(NotServing, match=r"^`time` exited with code 2 before it served$"):
        wait_serving(engine, state, url, TOKEN, 5)


def test_an_error_to_initialize_from_a_running_server_is_told(
    proxy: tuple[str, Proxy], tmp_path: Path
) -> None:
    url, stand_in = proxy
    stand_in.initialize = {"error": {"code": -32602, "message": "no such version"}}
    engine = FakeEngine()
    with pytest.raises(NotServing, match=r"`initialize` failed: no such version$"):
        wait_serving(engine, server(engine, tmp_path), url, None, 5)
    assert "Authorization" not in stand_in.seen[0][1]  # `--no-auth`: no token to send


def test_a_silent_stdio_server_times_out(proxy: tuple[str, Proxy], tmp_path: Path) -> None:
    url, stand_in = proxy
    stand_in.silent = 1.0
    engine = FakeEngine()
    with pytest.raises(NotServing, match=r"did not serve within 0.3s: .*`initialize` was not"):
        wait_serving(engine, server(engine, tmp_path), url, TOKEN, 0.3)


def test_an_http_server_serves_once_the_proxys_health_says_ok(
    proxy: tuple[str, Proxy], tmp_path: Path
) -> None:
    url, stand_in = proxy
    refused = {"status": "unavailable", "reason": "the server did not answer: refused"}
    stand_in.health = [(503, refused), (503, refused), (200, {"status": "ok"})]
    engine = FakeEngine()
    wait_serving(engine, server(engine, tmp_path, "streamable-http"), url, TOKEN, 5)
    assert stand_in.health == [(200, {"status": "ok"})]  # it asked until it was ok


def test_an_http_server_that_never_answers_times_out_with_the_proxys_reason(
    proxy: tuple[str, Proxy], tmp_path: Path
) -> None:
    url, stand_in = proxy
    stand_in.health = [(503, {"status": "unavailable", "reason": "refused by the gate"})]
    engine = FakeEngine()
    with pytest.raises(NotServing, match=r"did not serve within 0.2s: refused by the gate$"):
        wait_serving(engine, server(engine, tmp_path, "sse"), url, TOKEN, 0.2)


def test_an_http_server_that_exited_is_told_at_once(
    proxy: tuple[str, Proxy], tmp_path: Path
) -> None:
    url, stand_in = proxy
    stand_in.health = [(503, {"status": "unavailable", "reason": "refused"})]
    engine = FakeEngine()
    state = server(engine, tmp_path, "streamable-http")
    engine.exit(state.container_id or "", 3, FINISHED)
    started = time.monotonic()
    with pytest.raises(NotServing, match=r"exited with code 3 before it served$"):
        wait_serving(engine, state, url, TOKEN, 30)
    assert time.monotonic() - started < 5


def test_the_stderr_tail_of_a_stdio_server_leaves_out_the_proxys_lines(tmp_path: Path) -> None:
    engine = FakeEngine()
    state = server(engine, tmp_path)
    Path(state.log_path).write_text(
        "2026-12-07T21:03:11.100Z server: usage: server [-h]\n"
        "2026-12-07T21:03:11.123Z proxy warning: the server wrote a line that is not JSON-RPC\n"
        "2026-12-07T21:03:11.124Z egress: egress time dns example.com:443/tcp: refused\n"
        "WARNING mcp_lok.launcher.handoff: something\n"
        "2026-12-07T21:03:11.130Z server: error: unrecognized arguments: --bogus-flag\n"
    )
    assert stderr_tail(engine, state) == [
        "usage: server [-h]",
        "error: unrecognized arguments: --bogus-flag",
    ]
    assert stderr_tail(engine, state, lines=1) == ["error: unrecognized arguments: --bogus-flag"]


def test_the_stderr_tail_of_an_http_server_is_the_engines(tmp_path: Path) -> None:
    engine = FakeEngine()
    state = server(engine, tmp_path, "streamable-http")
    engine.output[state.container_id or ""] = [b"listening\nfailed: ", b"port taken\n"]
    assert stderr_tail(engine, state) == ["listening", "failed: port taken"]


def test_a_failure_says_whether_the_server_wrote_anything() -> None:
    assert NotServing("x").with_tail([]).hint == (
        "it wrote nothing on stderr; everything it created is removed"
    )
    assert NotServing("x").with_tail(["a"]).hint == (
        "its last lines on stderr are above; everything it created is removed"
    )
