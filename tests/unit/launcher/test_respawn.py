"""A restarted stdio server gets its gate back: `gate_up` starts a stopped gate and waits
for its ready marker, leaves a running one alone, and says so when the gate is gone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.respawn import gate_up
from mcp_lok.launcher.state import ServerState

from .fakes import FakeEngine
from .test_state import make_state


@dataclass
class GateEngine(FakeEngine):
    """Inspect answers with the engine's State object (the shared fake gives a string);
    starting the gate writes its ready marker, as the real gate does once it serves."""

    marker: Path | None = None
    started: bool = True  # False: the gate stops again at once

    def inspect(self, container: str) -> dict[str, Any] | None:
        found = self.containers_by_id.get(container)
        if found is None:
            return None
        return {**found, "State": {"Running": found["State"] == "running"}}

    def start(self, container: str) -> None:
        self.calls.append(("start", container))
        if self.marker is not None:
            assert not self.marker.exists()  # a stale marker is gone before the start
        if not self.started:
            return
        self.containers_by_id[container]["State"] = "running"
        if self.marker is not None:
            self.marker.write_text("ready\n")


def _gate(engine: FakeEngine, state: str) -> str:
    return engine.add_container("mcp-lok-x-gate", {"mcp-lok-role": "gate"}, state=state)


def _state(gate: str, **changes: Any) -> ServerState:
    return make_state(gate_id=gate, **changes)


def test_a_running_gate_is_left_alone(tmp_path: Path) -> None:
    engine = GateEngine()
    gate = _gate(engine, "running")
    gate_up(engine, _state(gate), tmp_path / "ready")  # type: ignore[arg-type]
    assert engine.calls == []


def test_a_stopped_gate_is_started_and_waited_for(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    ready.write_text("ready\n")  # left behind by a gate that was killed outright
    engine = GateEngine(marker=ready)
    gate = _gate(engine, "exited")
    gate_up(engine, _state(gate, files=[str(ready)]), ready)  # type: ignore[arg-type]
    assert engine.calls == [("start", gate)]
    assert ready.exists()  # the fresh marker the started gate wrote


def test_a_gate_without_egress_is_started_without_waiting(tmp_path: Path) -> None:
    engine = GateEngine()
    gate = _gate(engine, "exited")
    gate_up(engine, _state(gate), tmp_path / "ready")  # type: ignore[arg-type]
    assert engine.calls == [("start", gate)]


def test_a_gate_that_stops_again_while_starting_is_an_error(tmp_path: Path) -> None:
    engine = GateEngine(started=False)
    gate = _gate(engine, "exited")
    state = _state(gate, files=[str(tmp_path / "ready")])
    with pytest.raises(LokError, match="the gate stopped before it was ready"):
        gate_up(engine, state, tmp_path / "ready")  # type: ignore[arg-type]


def test_a_gate_that_is_gone_is_an_error_with_a_hint(tmp_path: Path) -> None:
    engine = GateEngine()
    with pytest.raises(LokError, match="is gone") as caught:
        gate_up(engine, _state("missing"), tmp_path / "ready")  # type: ignore[arg-type]
    assert "mcp-lok rm" in (caught.value.hint or "")


def test_a_session_s_container_is_refused_when_a_bind_source_moved(tmp_path: Path) -> None:
    from mcp_lok.launcher.respawn import moved

    real = tmp_path / "data"
    real.mkdir()
    body = {"HostConfig": {"Mounts": [{"Type": "bind", "Source": str(real), "Target": "/d"}]}}
    moved(body)  # as the launch judged it: nothing to say
    real.rename(tmp_path / "elsewhere")
    real.symlink_to("/")  # the judged path now leads to the host's root
    with pytest.raises(LokError, match="changed since the launch judged it"):
        moved(body)
    real.unlink()  # gone altogether
    with pytest.raises(LokError, match="changed since the launch judged it"):
        moved(body)
