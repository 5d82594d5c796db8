"""`mcp-lok restart NAME`: a server that is not running launched again from the request
its state recorded, through the one launch pipeline, with its name, port and token; its
policy judged again before anything changes. On the fake engine and a fake proxy
(`test_private.proxies`); the e2e scenarios run it on both engines."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mcp_lok.launcher import restart as restart_module
from mcp_lok.launcher.cli import cli
from mcp_lok.launcher.request import LaunchRequest
from mcp_lok.launcher.state import Phase, Store

from .fakes import FakeEngine
from .test_private import IMAGE, URL, proxies  # noqa: F401 (the fixture, used by name)


@pytest.fixture(autouse=True)
def engine(proxies: dict[str, str | None], monkeypatch: pytest.MonkeyPatch) -> FakeEngine:  # noqa: F811 (the fixture)
    """The fake engine `proxies` installed, also where `restart` connects to it."""
    from mcp_lok.launcher import engine as adapter

    fake = adapter.discover(None)
    assert isinstance(fake, FakeEngine)  # never a real engine
    monkeypatch.setattr(restart_module.EngineClient, "connect", lambda url: fake)
    return fake


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def started(*options: str) -> dict[str, Any]:
    result = invoke("start", "--format", "json", "--name", "time", *options, IMAGE)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_a_request_is_kept_whole_but_for_its_token() -> None:
    asked = LaunchRequest(
        IMAGE, "time", env=("A=1",), args=("serve", "-v"), restart="on-failure:3", port=4000
    )
    record = asked.record()
    assert "auth_token" not in record
    assert json.loads(json.dumps(record)) == record  # kept as JSON in the state
    assert LaunchRequest.recorded(record, "t" * 20) == replace(asked, auth_token="t" * 20)
    assert LaunchRequest.recorded({**record, "no_auth": True}, None).auth_token is None
    with pytest.raises(ValueError, match="image"):
        LaunchRequest.recorded({}, None)


def test_a_stopped_server_comes_back_with_its_name_port_and_token(engine: FakeEngine) -> None:
    first = started("-e", "A=1", "--restart", "on-failure:2")
    store = Store()
    before = store.load("time")
    assert before is not None
    assert before.request is not None
    assert before.request["env"] == ["A=1"]
    assert invoke("stop", "time").exit_code == 0
    Path(before.log_path).write_text("2026-12-07T21:00:00.000Z server: before\n")
    result = invoke("restart", "--format", "json", "time")
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)
    assert again == first  # name, URLs, token: what its clients know
    after = store.load("time")
    assert after is not None
    assert after.restarts == 1
    assert after.container_id != before.container_id  # created afresh from the plan
    assert before.container_id not in engine.containers_by_id
    assert after.token == before.token
    assert after.request == {**before.request, "engine": before.engine_url}  # its own engine
    log = Path(after.log_path).read_text().splitlines()
    assert log[0] == "2026-12-07T21:00:00.000Z server: before"  # the log goes on
    assert log[-1].endswith(" mcp-lok: started again (restart 1)")
    shown = json.loads(invoke("inspect", "time", "--format", "json").stdout)
    assert shown["restart"] == {"policy": "on-failure:2", "restarts": 1}
    assert "client config:" not in result.stderr  # JSON: the object is all
    human = invoke("stop", "time"), invoke("restart", "time")
    assert human[1].stdout.splitlines()[:2] == ["time", f"{URL}/mcp"]
    assert '"Authorization": "Bearer ' in human[1].stderr  # the snippet `run` prints


def test_a_running_server_is_not_restarted() -> None:
    started()
    result = invoke("restart", "time")
    assert result.exit_code == 1
    assert "error: `time` is running" in result.stderr
    assert "stop it first with `mcp-lok stop time`, then `mcp-lok restart time`" in result.stderr


def grants(tmp_path: Path, verb: str) -> Path:
    """A policy file granting a folder of the test's own, by `verb` (`read`, `write`)."""
    (tmp_path / "data").mkdir(exist_ok=True)
    policy = tmp_path / "p.lok"
    policy.write_text(f"{verb} {tmp_path / 'data'}\n")
    return policy


def test_a_policy_that_no_longer_compiles_leaves_the_server_as_it_was(
    tmp_path: Path, engine: FakeEngine
) -> None:
    policy = grants(tmp_path, "read")
    started("--permission-profile", str(policy))
    assert invoke("stop", "time").exit_code == 0
    before = Store().load("time")
    containers = dict(engine.containers_by_id)
    policy.write_text("frobnicate everything\n")
    result = invoke("restart", "time")
    assert result.exit_code == 3, result.output
    assert "policy rejected" in result.stderr
    assert Store().load("time") == before
    assert engine.containers_by_id == containers


def test_a_policy_that_changed_is_said_so(tmp_path: Path) -> None:
    policy = grants(tmp_path, "read")
    started("--permission-profile", str(policy))
    digest = Store().load("time").policy_digest  # type: ignore[union-attr]
    assert invoke("stop", "time").exit_code == 0
    grants(tmp_path, "write")
    result = invoke("restart", "time")
    assert result.exit_code == 0, result.output
    assert f"note: the policy of `time` changed since its last launch (digest {digest[:12]}" in (
        result.stderr
    )
    assert Store().load("time").policy_digest != digest  # type: ignore[union-attr]


def test_a_server_launched_before_requests_were_kept_says_how_to_relaunch() -> None:
    started()
    store = Store()
    state = store.load("time")
    assert state is not None
    store.save(replace(state, request=None, phase=Phase.STOPPED.value))
    result = invoke("restart", "time")
    assert result.exit_code == 1
    assert "launched by an older mcp-lok" in result.stderr
    assert "`mcp-lok rm time` and start it again" in result.stderr
