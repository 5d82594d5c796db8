"""`list`, `rm` and what they do with containers that only look like mcp-lok's: listed as
`foreign` with `--all`, reported, and never stopped or removed (issue 11)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mcp_lok.launcher import creation, launch, servers, state
from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher.cli import cli
from mcp_lok.launcher.cli.servers import status_cell
from mcp_lok.launcher.errors import LokError, UsageError
from mcp_lok.launcher.request import LaunchRequest
from mcp_lok.launcher.state import Store

from .fakes import FakeEngine, prepared

LOOKS = {"mcp-lok": "true", "mcp-lok-name": "time", "mcp-lok-transport": "stdio"}


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(state, "default_root", lambda: tmp_path)
    monkeypatch.setattr(creation.os, "chown", lambda *_: None)
    monkeypatch.setattr(servers, "_connect", lambda url: fake)
    monkeypatch.setattr(adapter, "discover", lambda choice=None: fake)  # the only engine
    monkeypatch.setattr(servers.EngineClient, "connect", lambda url: fake)
    return fake


def started(engine: FakeEngine, name: str = "time") -> Any:
    store = Store()
    request = LaunchRequest("mcp-lok/mcp-server-time", name)
    server = launch.provision(prepared(store, engine, request), detached=True)
    server = replace(server, phase="stopped", launcher_pid=None, launcher_start=None)
    store.save(server)
    return server


def test_list_all_shows_a_look_alike_as_not_created_by_mcp_lok(engine: FakeEngine) -> None:
    server = started(engine)
    look = engine.add_container("by-hand", {**LOOKS, "mcp-lok-launch": "0" * 32})
    found = servers.listed(show_all=True)
    assert [(r["name"], r["status"], r["container"]) for r in found] == [
        ("time", "stopped", server.container_id),
        ("time", "foreign", look),
    ]
    assert found[1]["note"] == servers.FOREIGN_NOTE
    assert "not created by mcp-lok" in found[1]["note"]
    assert servers.listed(show_all=False) == []


def test_rm_force_removes_the_server_and_leaves_a_look_alike(engine: FakeEngine) -> None:
    server = started(engine)
    look = engine.add_container("by-hand", LOOKS)
    assert servers.remove_server("time", force=True) == [look]
    assert set(engine.containers_by_id) == {look}
    assert ("stop", look) not in engine.calls
    assert ("remove", look) not in engine.calls
    assert ("remove", server.container_id) in engine.calls


def test_rm_of_a_name_no_state_records_touches_nothing(engine: FakeEngine) -> None:
    look = engine.add_container("by-hand", LOOKS)
    with pytest.raises(LokError) as caught:
        servers.remove_server("time", force=True)
    assert caught.value.message == (
        f"no server named `time`; containers carrying its labels ({look[:12]}) were not "
        "created by mcp-lok, and it leaves them alone"
    )
    assert caught.value.hint == f"if they are yours to remove: `docker rm -f {look[:12]}`"
    assert engine.calls == []
    engine.containers_by_id.clear()
    with pytest.raises(LokError, match=r"^no server named `time`$"):
        servers.remove_server("time", force=True)


@pytest.fixture
def health() -> Iterator[tuple[str, dict[str, Any]]]:
    """A loopback `/health` that answers what the test puts in the dict."""
    about: dict[str, Any] = {"status": "ok"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(about).encode()
            self.send_response(503 if about["status"] == "unavailable" else 200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", about
    httpd.shutdown()
    httpd.server_close()


def test_a_running_server_whose_proxy_refuses_sessions_is_shown_degraded(
    engine: FakeEngine, health: tuple[str, dict[str, Any]]
) -> None:
    url, about = health
    server = replace(started(engine), url=url)
    assert servers.shown(server, state.Status.RUNNING) == (state.Status.RUNNING, None)
    about.update(status="degraded", reason="all 2 sessions are busy")
    assert servers.shown(server, state.Status.RUNNING) == (
        state.Status.DEGRADED,
        "all 2 sessions are busy",
    )
    assert servers.shown(server, state.Status.STOPPED) == (state.Status.STOPPED, None)
    about["status"] = "unavailable"  # 503: what the engine and the pids say stands
    assert servers.shown(server, state.Status.RUNNING) == (state.Status.RUNNING, None)
    row = servers._row(server, state.Status.DEGRADED, "all 2 sessions are busy")
    assert (row["status"], row["url"], row["note"]) == (
        "degraded",
        f"{url}/mcp",
        "all 2 sessions are busy",
    )


@pytest.mark.parametrize("other", ["podman", "unix:///elsewhere.sock"])
def test_a_name_is_acted_on_where_it_was_started_and_another_engine_is_refused(
    engine: FakeEngine, other: str
) -> None:
    server = started(engine)
    engine.calls.clear()
    with pytest.raises(UsageError) as caught:
        servers.remove_server("time", force=True, engine_choice=other)
    (problem,) = caught.value.problems
    assert problem.field == "engine"
    assert problem.message == (f"`time` was started on docker ({engine.url}), not on `{other}`")
    assert problem.hint == "name no engine: a server is always acted on where it was started"
    assert engine.calls == []  # nothing stopped or removed on any engine
    assert Store().load("time") is not None
    with pytest.raises(UsageError):
        servers.stop_server("time", engine_choice=other)
    with pytest.raises(UsageError):
        servers.with_status("time", engine_choice=other)
    # named by its kind or by its socket: the same engine
    assert servers.with_status("time", engine_choice="docker")[0] == server
    servers.remove_server("time", force=True, engine_choice=engine.url)
    assert Store().load("time") is None


def test_an_exited_server_is_listed_with_its_exit_code_and_since_when(engine: FakeEngine) -> None:
    server = replace(started(engine), phase="running")
    Store().save(server)
    engine.exit(server.container_id, 2, "2026-12-07T21:03:11.123456789Z")
    [row] = servers.listed(show_all=False)
    assert (row["status"], row["exit_code"], row["finished"]) == (
        "exited",
        2,
        "2026-12-07T21:03:11.123456789Z",
    )
    now = datetime(2026, 12, 7, 21, 8, 30, tzinfo=UTC)
    assert status_cell(row, now) == "exited (2) 5 minutes ago"
    assert status_cell(row, now - timedelta(minutes=5)) == "exited (2) 19 seconds ago"
    assert status_cell({**row, "finished": "2026-12-06T21:03:11+00:00"}, now) == (
        "exited (2) 1 day ago"
    )
    assert status_cell({**row, "finished": None}, now) == "exited (2)"
    assert status_cell({"status": "running"}, now) == "running"
    table = CliRunner().invoke(cli, ["list"])
    assert "exited (2) " in table.stdout


def test_a_server_whose_engine_cannot_say_how_it_exited_is_listed_without() -> None:
    assert servers.ended(None, "c1") == {}
    assert servers.ended(FakeEngine(), "gone") == {}
