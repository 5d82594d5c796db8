"""A foreground `run` shows its server's stderr as it comes and hears its end (issue 13):
each line is handed on, the end stops the proxy as a Ctrl-C would (but not once `run` is
stopping anyway), and `ended` says the exit code."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from mcp_lok.launcher import foreground, readiness
from mcp_lok.launcher.foreground import Watch

from .fakes import FakeEngine
from .test_readiness import FINISHED, server


@pytest.fixture
def kills(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sent: list[int] = []
    monkeypatch.setattr(foreground.os, "kill", lambda pid, sig: sent.append(sig))
    monkeypatch.setattr(readiness, "EXIT_WAIT", 0.1)
    monkeypatch.setattr(readiness, "POLL", 0.01)
    return sent


def test_each_line_is_shown_and_the_end_stops_the_proxy_once(
    kills: list[int], tmp_path: Path
) -> None:
    engine, shown = FakeEngine(), []
    state = server(engine, tmp_path)
    watch = Watch(engine, state, shown.append)
    watch.line("usage: server [-h]")
    watch.gone("the server's output ended")
    watch.gone("again")
    assert shown == ["usage: server [-h]"]
    assert kills == [signal.SIGTERM]
    engine.exit(state.container_id or "", 2, FINISHED)
    ended = watch.ended()
    assert ended is not None
    assert ended.message == (
        "the server of `time` exited with code 2; everything it created is removed"
    )


def test_a_run_that_was_stopped_has_not_ended_by_itself(kills: list[int], tmp_path: Path) -> None:
    engine = FakeEngine()
    watch = Watch(engine, server(engine, tmp_path), lambda line: None)
    assert watch.ended() is None
    watch.gone("the container was removed by the teardown")
    assert kills == []


def test_an_http_servers_output_is_followed_from_the_engine_until_it_stops(
    kills: list[int], tmp_path: Path
) -> None:
    engine, shown = FakeEngine(), []
    state = server(engine, tmp_path, "streamable-http")
    engine.output[state.container_id or ""] = [b"listening on 8080\nfail", b"ed: bye\nno newline"]
    watch = Watch(engine, state, shown.append)
    watch.follow()
    assert shown == ["listening on 8080", "failed: bye", "no newline"]
    assert kills == [signal.SIGTERM]
    engine.containers_by_id.clear()  # removed meanwhile: the reason stands, with no code
    ended = watch.ended()
    assert ended is not None
    assert "ended: the server's container stopped" in ended.message


def test_a_stdio_server_is_not_followed_from_the_engine(kills: list[int], tmp_path: Path) -> None:
    engine, shown = FakeEngine(), []
    state = server(engine, tmp_path)
    engine.output[state.container_id or ""] = [b"the attach stream carries this\n"]
    with Watch(engine, state, shown.append).following():
        pass
    assert (shown, kills) == ([], [])
