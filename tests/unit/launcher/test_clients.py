"""`client setup|list|rm` against real files in each client's format, in a home folder of
the test's own: the documented shapes, every other entry and key kept, backups, atomic
writes, only mcp-lok's entries removed, and no client left pointing at a removed server."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mcp_lok.launcher import clients, state
from mcp_lok.launcher.clients import Endpoint, files, record, table
from mcp_lok.launcher.errors import LokError

AT = Endpoint("http://127.0.0.1:41000/mcp", False, "s3cret-token")
BEARER = {"Authorization": "Bearer s3cret-token"}

# each client's documented entry for AT, and where its file is under the home folder
SHAPES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "claude-code": (
        ".claude.json",
        "mcpServers",
        {"type": "http", "url": AT.url, "headers": BEARER},
    ),
    "claude-desktop": (
        ".config/Claude/claude_desktop_config.json",
        "mcpServers",
        {
            "command": "npx",
            "args": [
                "-y",
                "mcp-remote",
                AT.url,
                "--transport",
                "http-only",
                "--header",
                "Authorization:${MCP_LOK_AUTHORIZATION}",
            ],
            "env": {"MCP_LOK_AUTHORIZATION": "Bearer s3cret-token"},
        },
    ),
    "vscode": (
        ".config/Code/User/mcp.json",
        "servers",
        {"type": "http", "url": AT.url, "headers": BEARER},
    ),
    "vscode-insiders": (
        ".config/Code - Insiders/User/mcp.json",
        "servers",
        {"type": "http", "url": AT.url, "headers": BEARER},
    ),
    "cursor": (".cursor/mcp.json", "mcpServers", {"url": AT.url, "headers": BEARER}),
    "windsurf": (
        ".codeium/windsurf/mcp_config.json",
        "mcpServers",
        {"serverUrl": AT.url, "headers": BEARER},
    ),
    "cline": (
        ".config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
        "mcpServers",
        {"type": "streamableHttp", "url": AT.url, "headers": BEARER},
    ),
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    for variable in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "CLAUDE_CONFIG_DIR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(table.sys, "platform", "linux")
    return folder


def installed(home: Path, client: str) -> Path:
    path = home / SHAPES[client][0]
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_the_table_names_every_client_the_issue_asks_for() -> None:
    assert {c.name for c in clients.CLIENTS} == set(SHAPES)


@pytest.mark.parametrize("client", sorted(SHAPES))
def test_setup_writes_each_clients_documented_entry_0600(home: Path, client: str) -> None:
    path = installed(home, client)
    [done] = clients.setup("time", AT, [client])
    assert (done.client, done.path, done.action, done.backup) == (client, path, "added", None)
    written = json.loads(path.read_text())
    assert written == {SHAPES[client][1]: {"mcp-lok-time": SHAPES[client][2]}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # read back as a client reads it
    entry = written[SHAPES[client][1]]["mcp-lok-time"]
    assert table.BY_NAME[client].read(entry) == AT


@pytest.mark.parametrize("client", ["claude-code", "vscode", "cline", "claude-desktop"])
def test_an_sse_server_gets_the_sse_shape(home: Path, client: str) -> None:
    path = installed(home, client)
    at = Endpoint("http://127.0.0.1:41000/sse", True, "t")
    clients.setup("time", at, [client])
    entry = json.loads(path.read_text())[SHAPES[client][1]]["mcp-lok-time"]
    assert table.BY_NAME[client].read(entry) == at
    assert "sse" in json.dumps(entry)


def test_no_token_no_header(home: Path) -> None:
    path = installed(home, "cursor")
    clients.setup("open", Endpoint(AT.url, False, None), ["cursor"])
    assert json.loads(path.read_text()) == {"mcpServers": {"mcp-lok-open": {"url": AT.url}}}


def test_every_other_entry_and_unknown_key_is_kept_with_the_files_mode(home: Path) -> None:
    path = installed(home, "vscode")
    before = (
        '{\n    "inputs": [{"id": "k", "type": "promptString"}],\n'
        '    "servers": {"mine": {"type": "stdio", "command": "x", "future": [1, 2]}},\n'
        '    "zzz": {"é": true}\n}\n'
    )
    path.write_text(before)
    path.chmod(0o640)
    [done] = clients.setup("time", AT, ["vscode"])
    after = json.loads(path.read_text())
    assert list(after) == ["inputs", "servers", "zzz"]
    assert after["servers"] == {
        "mine": {"type": "stdio", "command": "x", "future": [1, 2]},
        "mcp-lok-time": SHAPES["vscode"][2],
    }
    assert after["zzz"] == {"é": True}
    assert path.read_text().startswith('{\n    "inputs"')  # its indentation, too
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert done.shared  # readable by its group: the CLI warns
    # the backup is the file as it was, the owner's alone, named as mcp-lok's
    assert done.backup is not None
    assert done.backup.name.startswith("mcp.json.mcp-lok-backup-")
    assert done.backup.read_text() == before
    assert stat.S_IMODE(done.backup.stat().st_mode) == 0o600


def test_setup_again_changes_nothing_and_makes_no_backup(home: Path) -> None:
    path = installed(home, "cursor")
    clients.setup("time", AT, ["cursor"])
    text = path.read_text()
    [again] = clients.setup("time", AT, ["cursor"])
    assert (again.action, again.backup) == ("unchanged", None)
    assert path.read_text() == text
    assert list(path.parent.glob("*backup*")) == []
    [moved] = clients.setup("time", replace(AT, url="http://127.0.0.1:41001/mcp"), ["cursor"])
    assert moved.action == "updated"
    assert moved.backup is not None
    assert moved.backup.read_text() == text


def test_only_the_last_backups_are_kept(home: Path) -> None:
    path = installed(home, "cursor")
    path.write_text("{}")
    for port in range(10):
        clients.setup("time", replace(AT, url=f"http://127.0.0.1:{41000 + port}/mcp"), ["cursor"])
    assert len(list(path.parent.glob("mcp.json.mcp-lok-backup-*"))) == files.BACKUPS_KEPT


def test_a_write_that_fails_leaves_the_file_whole(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = installed(home, "cursor")
    path.write_text('{"mcpServers": {"mine": {"url": "http://example.test/mcp"}}}')
    before = path.read_text()

    replace_file = os.replace

    def broken(source: str, target: str) -> None:  # the client's folder only is full
        if Path(target).parent == path.parent:
            raise OSError(28, "No space left on device")
        replace_file(source, target)

    monkeypatch.setattr(state.os, "replace", broken)
    [done] = clients.setup("time", AT, ["cursor"])
    assert done.action == "failed"
    assert "No space left on device" in (done.note or "")
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert record.load() == []  # nothing written, nothing recorded


def test_a_file_changed_between_read_and_write_is_read_again(home: Path) -> None:
    path = installed(home, "cursor")
    path.write_text("{}")
    calls = []

    def change(data: dict[str, Any]) -> bool:
        calls.append(dict(data))
        if len(calls) == 1:  # the client rewrites its file meanwhile
            path.write_text('{"theirs": 1, "more": "bytes"}')
        data["ours"] = 2
        return True

    files.update(path, change)
    assert json.loads(path.read_text()) == {"theirs": 1, "more": "bytes", "ours": 2}
    assert calls == [{}, {"theirs": 1, "more": "bytes"}]


def test_a_symlinked_file_is_written_through_the_link(home: Path) -> None:
    path = installed(home, "cursor")
    real = home / "dotfiles" / "mcp.json"
    real.parent.mkdir()
    real.write_text("{}")
    path.symlink_to(real)
    clients.setup("time", AT, ["cursor"])
    assert path.is_symlink()
    assert "mcp-lok-time" in json.loads(real.read_text())["mcpServers"]


@pytest.mark.parametrize(
    "text", ['{"servers": {}, // mine\n}', '{"servers": {},}', "[1]", '{"servers": []}']
)
def test_a_file_mcp_lok_cannot_keep_is_left_alone(home: Path, text: str) -> None:
    path = installed(home, "vscode")
    path.write_text(text)
    [done] = clients.setup("time", AT, ["vscode"])
    assert done.action == "failed"
    assert str(path) in (done.note or "")
    assert path.read_text() == text
    assert record.load() == []


def test_an_entry_mcp_lok_did_not_write_is_never_overwritten(home: Path) -> None:
    path = installed(home, "cursor")
    theirs = {"mcpServers": {"mcp-lok-time": {"url": "http://elsewhere.test/mcp"}}}
    path.write_text(json.dumps(theirs))
    [done] = clients.setup("time", AT, ["cursor"])
    assert done.action == "left"
    assert json.loads(path.read_text()) == theirs
    assert clients.remove("time") == []


def test_rm_removes_only_its_entries_and_forgets_them(home: Path) -> None:
    cursor = installed(home, "cursor")
    code = installed(home, "claude-code")
    code.write_text(json.dumps({"numStartups": 3, "mcpServers": {"x": {"command": "y"}}}))
    clients.setup("time", AT, ["cursor", "claude-code"])
    clients.setup("other", AT, ["cursor"])
    done = clients.remove("time")
    assert sorted((o.client, o.action) for o in done) == [
        ("claude-code", "removed"),
        ("cursor", "removed"),
    ]
    assert json.loads(code.read_text()) == {"numStartups": 3, "mcpServers": {"x": {"command": "y"}}}
    assert list(json.loads(cursor.read_text())["mcpServers"]) == ["mcp-lok-other"]
    assert [e.server for e in record.load()] == ["other"]
    assert clients.remove("time") == []


def test_rm_leaves_an_entry_someone_changed_and_one_already_gone(home: Path) -> None:
    cursor = installed(home, "cursor")
    windsurf = installed(home, "windsurf")
    clients.setup("time", AT, ["cursor", "windsurf"])
    changed = {"mcpServers": {"mcp-lok-time": {"url": "http://127.0.0.1:9/mine"}}}
    cursor.write_text(json.dumps(changed))
    windsurf.write_text("{}")
    done = {o.client: o.action for o in clients.remove("time")}
    assert done == {"cursor": "left", "windsurf": "absent"}
    assert json.loads(cursor.read_text()) == changed
    assert record.load() == []


def test_rm_of_some_clients_keeps_the_others(home: Path) -> None:
    installed(home, "cursor")
    installed(home, "vscode")
    clients.setup("time", AT, [])  # every client installed
    assert [o.client for o in clients.remove("time", ["vscode"])] == ["vscode"]
    assert [e.client for e in record.load()] == ["cursor"]


def test_setup_without_clients_writes_those_installed(home: Path) -> None:
    installed(home, "windsurf")
    (home / ".cline").mkdir()  # Cline's CLI, without its settings folder yet
    done = clients.setup("time", AT)
    assert [(o.client, o.action) for o in done] == [("windsurf", "added")]


def test_no_client_installed_is_an_error_naming_the_option(home: Path) -> None:
    with pytest.raises(LokError, match="no MCP client") as caught:
        clients.setup("time", AT)
    assert "--client" in (caught.value.hint or "")


def test_a_client_named_but_not_installed_is_an_error_before_anything_is_written(
    home: Path,
) -> None:
    installed(home, "cursor")
    with pytest.raises(LokError, match="Windsurf keeps its configuration in"):
        clients.setup("time", AT, ["cursor", "windsurf"])
    assert not (home / ".cursor" / "mcp.json").exists()


def test_claude_code_follows_claude_config_dir(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "cc"))
    (tmp_path / "cc").mkdir()
    [done] = clients.setup("time", AT, ["claude-code"])
    assert done.path == tmp_path / "cc" / ".claude.json"


def test_pointers_say_which_entries_still_point_at_a_server(home: Path) -> None:
    for client in ("cursor", "windsurf", "vscode", "claude-code"):
        installed(home, client)
    clients.setup("time", AT, ["cursor", "windsurf", "vscode"])
    clients.setup("old", AT, ["cursor"])
    clients.setup("quiet", AT, ["claude-code"])
    (home / ".codeium" / "windsurf" / "mcp_config.json").write_text("{}")
    (home / ".config" / "Code" / "User" / "mcp.json").write_text("{,")
    now = {
        "time": ("running", replace(AT, token="another")),
        "quiet": ("stopped", None),
    }
    shown = {(p.client, p.server): (p.status, p.state) for p in clients.pointers(now.get)}
    assert shown == {
        ("cursor", "time"): ("running", "stale"),
        ("windsurf", "time"): ("running", "absent"),
        ("vscode", "time"): ("running", "unreadable"),
        ("cursor", "old"): (None, "gone"),
        ("claude-code", "quiet"): ("stopped", "not serving"),
    }
    now["time"] = ("running", AT)
    assert ("running", "ok") in {(p.status, p.state) for p in clients.pointers(now.get)}


def test_forget_never_raises(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = record.folder()
    folder.mkdir(parents=True)
    (folder / record.FILE).write_text("not json")
    clients.forget("time")
    assert "could not remove the client entries of `time`" in caplog.text


def test_a_teardown_with_no_record_makes_no_folder(home: Path) -> None:
    clients.forget("time")
    assert not record.folder().exists()


def test_refresh_rewrites_only_the_entries_already_written(home: Path) -> None:
    cursor = installed(home, "cursor")
    installed(home, "windsurf")
    clients.setup("time", AT, ["cursor"])
    moved = Endpoint("http://127.0.0.1:42000/mcp", False, "new-token")
    [done] = clients.refresh("time", moved)
    assert (done.client, done.action) == ("cursor", "updated")
    entry = json.loads(cursor.read_text())["mcpServers"]["mcp-lok-time"]
    assert table.BY_NAME["cursor"].read(entry) == moved
    assert not (home / ".codeium" / "windsurf" / "mcp_config.json").exists()
    assert [e.url for e in record.load()] == [moved.url]
    assert clients.refresh("other", moved) == []


def test_a_failed_write_over_a_recorded_entry_keeps_it_recorded(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed(home, "cursor")
    clients.setup("time", AT, ["cursor"])
    replace_file = os.replace

    def broken(source: str, target: str) -> None:
        if Path(target).name == "mcp.json":
            raise OSError(5, "Input/output error")
        replace_file(source, target)

    monkeypatch.setattr(state.os, "replace", broken)
    [done] = clients.setup("time", replace(AT, url="http://127.0.0.1:1/mcp"), ["cursor"])
    assert done.action == "failed"
    assert [e.server for e in record.load()] == ["time"]
