"""`mcp-lok logs`: the log's lines cut by time, count and kind, an HTTP server's output
merged in by time, and `--follow` bounded by the server's life. No engine: a fake."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcp_lok.launcher import logs as logs_module
from mcp_lok.launcher import state as state_module
from mcp_lok.launcher.cli import cli
from mcp_lok.launcher.logs import chosen, engine_entry, entries, merged, show, since_time
from mcp_lok.launcher.state import Phase, ServerState, Store

from .fakes import FakeEngine

NOW = datetime(2026, 12, 7, 21, 30, tzinfo=UTC)
LOG = [
    "2026-12-07T21:00:00.000Z server: starting",
    "2026-12-07T21:10:00.000Z proxy: session 12345678… opened (streamable-http)",
    "2026-12-07T21:10:00.100Z request: POST /mcp 200",
    "2026-12-07T21:20:00.000Z proxy warning: the server stopped",
    "Traceback (most recent call last):",
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10m", NOW - timedelta(minutes=10)),
        ("1h30m", NOW - timedelta(minutes=90)),
        ("90s", NOW - timedelta(seconds=90)),
        ("2d", NOW - timedelta(days=2)),
        ("2026-12-07T21:00:00Z", datetime(2026, 12, 7, 21, tzinfo=UTC)),
        ("2026-12-07T22:00:00+01:00", datetime(2026, 12, 7, 21, tzinfo=UTC)),
    ],
)
def test_since_is_a_time_or_how_long_ago(value: str, expected: datetime) -> None:
    assert since_time(value, NOW) == expected


@pytest.mark.parametrize("value", ["bogus", "10", "m10", "10m bogus", ""])
def test_since_that_is_neither_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="is neither a time nor a duration"):
        since_time(value, NOW)


def test_lines_are_cut_by_time_count_and_kind() -> None:
    found = entries(LOG)
    assert [e.who for e in found] == ["server", "proxy", "request", "proxy", "proxy"]
    assert found[-1].at == found[-2].at  # a traceback's rest is as old as its first line
    texts = [e.text for e in chosen(found, None, None, verbose=False)]
    assert LOG[2] not in texts  # requests only at -v
    assert len(texts) == 4
    assert [e.text for e in chosen(found, None, None, verbose=True)] == LOG
    since = datetime(2026, 12, 7, 21, 5, tzinfo=UTC)
    assert [e.text for e in chosen(found, since, None, False)] == [LOG[1], LOG[3], LOG[4]]
    assert [e.text for e in chosen(found, None, 2, False)] == [LOG[3], LOG[4]]
    assert chosen(found, None, 0, False) == []
    older = entries(["a line written before lines were stamped"])
    assert chosen(older, since, None, False) == []  # of unknown time: not after `since`


def test_an_http_servers_lines_are_stamped_by_the_engine_and_merged_by_time() -> None:
    server = engine_entry("2026-12-07T21:15:00.123456789Z listening on 8080")
    assert server.text == "2026-12-07T21:15:00.123Z server: listening on 8080"
    both = merged(entries(LOG[:4]), [server])
    assert [e.text for e in both][3:] == [server.text, LOG[3]]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setattr(state_module, "default_root", lambda: tmp_path)
    return Store()


def saved(store: Store, transport: str = "stdio") -> ServerState:
    server = ServerState(
        name="time",
        engine="docker",
        engine_url="unix:///fake/docker.sock",
        transport=transport,
        image="mcp-lok/mcp-server-time",
        profile="stdio",
        policy_digest="0" * 64,
        created="2026-12-07T21:00:00+00:00",
        log_path=str(store.log_path("time")),
        container_name="mcp-lok-time",
        container_id="c1",
        phase=Phase.STOPPED.value,
    )
    store.save(server)
    Path(server.log_path).write_text("\n".join(LOG) + "\n")
    return server


def test_logs_prints_one_line_per_event(store: Store) -> None:
    saved(store)
    result = CliRunner().invoke(cli, ["logs", "time", "--tail", "3"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [LOG[1], LOG[3], LOG[4]]
    verbose = CliRunner().invoke(cli, ["-v", "logs", "time", "--since", "2026-12-07T21:05Z"])
    assert verbose.stdout.splitlines() == LOG[1:]
    wrong = CliRunner().invoke(cli, ["logs", "time", "--since", "yesterday"])
    assert wrong.exit_code == 2
    assert "`yesterday` is neither a time nor a duration" in wrong.stderr
    assert CliRunner().invoke(cli, ["logs", "time", "--tail", "-1"]).exit_code == 2


def test_an_http_servers_output_comes_from_its_engine(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved(store, "streamable-http")
    monkeypatch.setattr(logs_module.EngineClient, "connect", lambda url: FakeEngine())
    result = CliRunner().invoke(cli, ["logs", "time"])
    assert result.exit_code == 0, result.output
    assert "2026-12-07T21:00:00.123Z server: gate log" in result.stdout.splitlines()


def test_follow_ends_when_the_server_is_removed(store: Store) -> None:
    server = saved(store)
    store.save(ServerState(**{**server.__dict__, "phase": Phase.STARTING.value}))
    printed: list[str] = []
    follower = threading.Thread(
        target=show, args=(store, server, printed.append), kwargs={"follow": True}
    )
    follower.start()
    with open(server.log_path, "a") as log:
        log.write("2026-12-07T21:25:00.000Z proxy: session 12345678… closed\n")
    follower.join(timeout=1)
    assert follower.is_alive()  # a launch in progress: it goes on
    store.remove("time")
    follower.join(timeout=5)
    assert not follower.is_alive()
    assert printed[-1] == "2026-12-07T21:25:00.000Z proxy: session 12345678… closed"


def test_follow_of_a_server_no_longer_served_ends_at_once(store: Store) -> None:
    server = saved(store)  # stopped
    printed: list[str] = []
    show(store, server, printed.append, follow=True)
    assert len(printed) == 4
