"""A server's teardown and the `client` commands: no client is left pointing at a server
that is gone for good, a restart keeps its clients, and the token is never printed."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcp_lok.launcher import clients, creation, launch, servers, state, teardown
from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher.cli import cli
from mcp_lok.launcher.clients import record
from mcp_lok.launcher.request import LaunchRequest
from mcp_lok.launcher.state import Status, Store

from .fakes import FakeEngine, prepared
from .test_clients import AT, BEARER, home, installed

__all__ = ["home"]  # the fixture, shared with test_clients.py


@pytest.fixture
def engine(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(state, "default_root", lambda: tmp_path / "run")
    monkeypatch.setattr(creation.os, "chown", lambda *_: None)
    monkeypatch.setattr(servers, "_connect", lambda url: fake)
    monkeypatch.setattr(servers.EngineClient, "connect", lambda url: fake)
    monkeypatch.setattr(adapter, "discover", lambda *_, **__: fake)
    return fake


def started(engine: FakeEngine, name: str = "time") -> state.ServerState:
    store = Store()
    request = LaunchRequest("mcp-lok/mcp-server-time", name)
    server = launch.provision(prepared(store, engine, request), detached=True)
    server = replace(
        server,
        phase="running",
        launcher_pid=None,
        launcher_start=None,
        url="http://127.0.0.1:41000",
        token="s3cret-token",
    )
    store.save(server)
    return server


def test_rm_of_a_server_takes_its_client_entries_out(engine: FakeEngine, home: Path) -> None:
    path = installed(home, "cursor")
    started(engine)
    clients.setup("time", AT, ["cursor"])
    servers.remove_server("time", force=True)
    assert json.loads(path.read_text()) == {"mcpServers": {}}
    assert record.load() == []


def test_a_failed_launchs_undo_keeps_other_servers_entries(engine: FakeEngine, home: Path) -> None:
    path = installed(home, "cursor")
    server = started(engine, "other")
    clients.setup("time", AT, ["cursor"])
    teardown.undo(engine, Store(), server)
    assert "mcp-lok-time" in json.loads(path.read_text())["mcpServers"]


def test_cli_setup_list_rm_never_print_the_token(
    engine: FakeEngine, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = installed(home, "claude-code")
    server = started(engine)
    monkeypatch.setattr(servers, "with_status", lambda name: (server, Status.RUNNING, None))
    monkeypatch.setattr(servers, "rows", lambda: [{"name": "time", "status": "running"}])
    runner = CliRunner()
    done = runner.invoke(cli, ["client", "setup", "time", "--client", "claude-code"])
    assert done.exit_code == 0, done.output
    assert f"claude-code: added `mcp-lok-time` in {path}" in done.stdout
    entry = json.loads(path.read_text())["mcpServers"]["mcp-lok-time"]
    assert entry == {"type": "http", "url": f"{server.url}/mcp", "headers": BEARER}
    listed = runner.invoke(cli, ["client", "list", "--format", "json"])
    assert json.loads(listed.stdout) == [
        {
            "client": "claude-code",
            "entry": "mcp-lok-time",
            "path": str(path),
            "server": "time",
            "state": "ok",
            "status": "running",
        }
    ]
    removed = runner.invoke(cli, ["client", "rm", "time"])
    assert removed.exit_code == 0, removed.output
    assert json.loads(path.read_text()) == {"mcpServers": {}}
    for result in (done, listed, removed):
        assert "s3cret-token" not in result.stdout + result.stderr


def test_cli_setup_of_a_server_that_serves_nothing_fails(
    engine: FakeEngine, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed(home, "cursor")
    server = replace(started(engine), url=None, phase="stopped")
    monkeypatch.setattr(servers, "with_status", lambda name: (server, Status.STOPPED, None))
    done = CliRunner().invoke(cli, ["client", "setup", "time"])
    assert done.exit_code == 1
    assert "`time` is stopped: it serves no URL to give clients" in done.stderr
    assert not (home / ".cursor" / "mcp.json").exists()


def test_cli_a_file_left_alone_exits_1_and_says_why(
    engine: FakeEngine, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = installed(home, "cursor")
    path.write_text("{oops")
    server = started(engine)
    monkeypatch.setattr(servers, "with_status", lambda name: (server, Status.RUNNING, None))
    done = CliRunner().invoke(cli, ["client", "setup", "time"])
    assert done.exit_code == 1
    assert "is not JSON mcp-lok can keep (line 1, column 2)" in done.stderr
    assert "1 of 1 client files were not changed as asked" in done.stderr
    assert os.path.getsize(path) == len("{oops")


def test_a_restarts_teardown_keeps_the_entries_and_an_undo_takes_them_out(
    engine: FakeEngine, home: Path
) -> None:
    """A restart tears the server down and launches it again on the same port with the
    same token: its clients stay right. A launch undone is gone for good."""
    path = installed(home, "cursor")
    server = started(engine)
    clients.setup("time", AT, ["cursor"])
    teardown.teardown(engine, Store(), server)
    assert "mcp-lok-time" in json.loads(path.read_text())["mcpServers"]
    server = started(engine)
    teardown.undo(engine, Store(), server)
    assert json.loads(path.read_text()) == {"mcpServers": {}}
