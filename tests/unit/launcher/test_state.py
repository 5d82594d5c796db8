"""State files: atomic writes, round trips, damage, and the status `list` reports."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_lok.launcher import paths
from mcp_lok.launcher import state as state_module
from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.state import (
    NetworkRef,
    Phase,
    ServerState,
    Status,
    Store,
    alive,
    name_problem,
    process_start,
    status_of,
    write_atomic,
)


def make_state(name: str = "time", **changes: object) -> ServerState:
    values: dict[str, object] = {
        "name": name,
        "engine": "docker",
        "engine_url": "unix:///var/run/docker.sock",
        "transport": "stdio",
        "image": "mcp-lok/mcp-server-time",
        "profile": "stdio",
        "policy_digest": "d" * 64,
        "created": "2026-01-01T00:00:00+00:00",
        "log_path": f"/run/mcp-lok/{name}/proxy.log",
        "container_name": f"mcp-lok-{name}",
        "container_id": "c" * 64,
        "phase": Phase.RUNNING.value,
    }
    values.update(changes)
    return ServerState(**values)  # type: ignore[arg-type]


def test_a_state_survives_a_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path)
    saved = make_state(networks=[NetworkRef("mcp-lok-time", "n1")], files=["/x"], proxy_pid=7)
    store.save(saved)
    assert store.load("time") == saved
    assert store.names() == ["time"]
    assert stat.S_IMODE(store.path("time").stat().st_mode) == 0o600  # it holds the token


def test_names_ignore_folders_and_files_that_are_not_servers(tmp_path: Path) -> None:
    (tmp_path / "seccomp").mkdir()
    (tmp_path / "ensure-engines.lock").write_text("")
    Store(tmp_path).save(make_state("a"))
    assert Store(tmp_path).names() == ["a"]
    assert Store(tmp_path / "nowhere").names() == []


def test_a_damaged_state_is_an_error_with_a_way_out(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.folder("x").mkdir()
    store.path("x").write_text("{not json")
    with pytest.raises(LokError) as caught:
        store.load("x")
    assert caught.value.hint == "remove what is left with `mcp-lok rm --force x`"
    assert store.all() == []  # `list` keeps going


def test_an_atomic_write_replaces_the_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_atomic(path, "old", 0o600)
    write_atomic(path, "new", 0o644)
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["state.json"]


def test_an_interrupted_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    write_atomic(path, "old", 0o644)

    def crash(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(state_module.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, "new", 0o644)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["state.json"]


def test_remove_deletes_the_temp_file_of_a_writer_killed_mid_write(tmp_path: Path) -> None:
    # what a detached proxy SIGKILLed while it records that it is ready leaves behind
    store = Store(tmp_path)
    store.save(make_state("time"))
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal, sys\n"
            "from mcp_lok.launcher import state\n"
            "state.os.replace = lambda *_: os.kill(os.getpid(), signal.SIGKILL)\n"
            "state.write_atomic(state.Path(sys.argv[1]), '{}', 0o600)\n",
            str(store.path("time")),
        ],
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    left = sorted(os.listdir(store.folder("time")))
    assert len(left) == 2, left  # the state and the killed writer's temp file
    (store.folder("time") / ".notes.tmp").write_text("not ours")  # no write_atomic name
    store.remove("time")
    assert os.listdir(store.folder("time")) == [".notes.tmp"]


def test_remove_deletes_only_what_the_state_owns(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save(make_state("a"))
    store.log_path("a").write_text("log")
    (store.folder("a") / "someone-elses").write_text("keep")
    store.remove("a")
    assert sorted(os.listdir(store.folder("a"))) == ["someone-elses"]
    (store.folder("a") / "someone-elses").unlink()
    store.save(make_state("a"))
    store.remove("a")
    assert not store.folder("a").exists()


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("time", True),
        ("a.b_c-1", True),
        ("seccomp", False),
        ("empty", False),
        ("../etc", False),
        ("-x", False),
        ("", False),
        ("x" * 64, False),
    ],
)
def test_names_follow_the_policy_rule_and_avoid_reserved_ones(name: str, ok: bool) -> None:
    assert (name_problem(name) is None) is ok


def test_this_process_is_alive_and_a_reused_pid_is_not() -> None:
    me = os.getpid()
    started = process_start(me)
    assert started is not None
    assert alive(me, started)
    assert alive(me, None)
    assert not alive(me, started + 1)
    assert not alive(None, None)
    assert process_start(2**22 + 1) is None


C = "c" * 64
G = "g" * 64


@pytest.mark.parametrize(
    ("phase", "containers", "proxy", "launcher", "expected"),
    [
        (Phase.RUNNING, {C: "running"}, True, False, Status.RUNNING),
        (Phase.RUNNING, {C: "running"}, False, False, Status.UNHEALTHY),
        (Phase.RUNNING, {C: "exited"}, True, False, Status.EXITED),
        (Phase.RUNNING, {}, True, False, Status.MISSING),
        (Phase.RUNNING, None, True, False, Status.UNKNOWN),
        (Phase.STOPPED, {C: "exited"}, False, False, Status.STOPPED),
        (Phase.STOPPED, {}, False, False, Status.MISSING),
        (Phase.STARTING, {}, False, True, Status.STARTING),
        (Phase.STARTING, {C: "created"}, False, False, Status.FAILED),
        (Phase.RUNNING, {C: "created"}, True, False, Status.RUNNING),  # per-session
        (Phase.RUNNING, {C: "created"}, False, False, Status.EXITED),
    ],
)
def test_the_status_merges_phase_engine_and_processes(
    phase: Phase,
    containers: dict[str, str] | None,
    proxy: bool,
    launcher: bool,
    expected: Status,
) -> None:
    assert status_of(make_state(phase=phase.value), containers, proxy, launcher) is expected


def test_a_dead_gate_makes_a_running_server_unhealthy() -> None:
    state = make_state(gate_id=G)
    assert status_of(state, {C: "running", G: "running"}, True, False) is Status.RUNNING
    assert status_of(state, {C: "running", G: "exited"}, True, False) is Status.UNHEALTHY
    assert status_of(state, {C: "running"}, True, False) is Status.UNHEALTHY


def test_the_default_root_is_the_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths.os, "geteuid", lambda: 0)
    assert paths.default_root() == Path("/run/mcp-lok")
    monkeypatch.setattr(paths.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert paths.default_root() == Path("/run/user/1000/mcp-lok")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    with pytest.raises(LokError, match="XDG_RUNTIME_DIR"):
        paths.default_root()


@pytest.mark.parametrize(
    ("transport", "url", "sse_url"),
    [
        ("stdio", "http://h:1/mcp", "http://h:1/sse"),
        ("streamable-http", "http://h:1/mcp", None),
        ("sse", "http://h:1/sse", "http://h:1/sse"),
    ],
)
def test_client_urls_name_only_what_the_server_serves(
    transport: str, url: str, sse_url: str | None
) -> None:
    from mcp_lok.launcher.state import client_urls

    assert client_urls("http://h:1", transport) == {"url": url, "sse_url": sse_url}
