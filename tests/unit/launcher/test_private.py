"""Private by default (issue 11): `run` and `start` make the proxy require a bearer token
unless one is given, print it (the client snippet, `--format json`) and keep it in the
state; `--no-auth` opts out, loudly, in `start`, `run` and `list`; `inspect` shows a
server again to its owner, the token only with `--show-token`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mcp_lok.launcher import creation, handoff, launch, servers, state
from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher.cli import cli
from mcp_lok.launcher.inspection import owner_problem
from mcp_lok.launcher.readiness import START_WAIT
from mcp_lok.launcher.state import Store

from .fakes import FakeEngine

IMAGE = "mcp-lok/mcp-server-time"
URL = "http://127.0.0.1:4321"


@pytest.fixture
def proxies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    """A fake engine and a fake detached proxy; the token each proxy was handed, by name."""
    fake = FakeEngine()
    handed: dict[str, str | None] = {}
    monkeypatch.setattr(state, "default_root", lambda: tmp_path)
    monkeypatch.setattr(adapter, "discover", lambda choice=None: fake)
    monkeypatch.setattr(servers, "_connect", lambda url: fake)
    monkeypatch.setattr(creation.os, "chown", lambda *_: None)
    monkeypatch.delenv("MCP_LOK_AUTH_TOKEN", raising=False)

    def spawn(
        store: Store,
        server: state.ServerState,
        port: int,
        token: str | None = None,
        on_attached: Callable[[], None] | None = None,
        **_: Any,
    ) -> str:
        handed[server.name] = token
        if on_attached is not None:
            on_attached()  # starts the container
        # as the real proxy does once it serves
        me = os.getpid()
        serving = {"proxy_pid": me, "proxy_start": state.process_start(me)}
        store.save(replace(server, phase="running", url=URL, **serving))
        return URL

    monkeypatch.setattr(handoff, "spawn", spawn)

    # no server behind the fake proxy: whether it serves is `test_readiness`'s business;
    # how long `start` was told to wait is kept under the name "wait"
    def waited(*args: Any) -> None:
        handed["wait"] = str(args[-1])  # (engine, state, url, token, timeout)

    monkeypatch.setattr(launch, "wait_serving", waited)
    return handed


def start(*options: str, env: dict[str, str] | None = None) -> Any:
    args = ["start", "--format", "json", "--name", "time", *options, IMAGE]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    return result


def test_start_requires_a_random_token_by_default(proxies: dict[str, str | None]) -> None:
    result = start()
    printed = json.loads(result.stdout)
    token = printed["token"]
    assert printed["auth"] is True
    assert len(token) >= 40
    assert proxies["time"] == token  # what the proxy checks
    saved = Store().load("time")
    assert saved is not None
    assert saved.token == token  # kept, 0600, for `inspect`
    assert "warning" not in result.stderr


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_given_token_is_the_one_required(proxies: dict[str, str | None], how: str) -> None:
    given = "s3cret-s3cret-s3cret"
    if how == "option":
        result = start("--auth-token", given)
    else:
        result = start(env={"MCP_LOK_AUTH_TOKEN": given})
    assert json.loads(result.stdout)["token"] == given
    assert proxies["time"] == given


def test_no_auth_is_loud_in_start_and_in_list(proxies: dict[str, str | None]) -> None:
    result = start("--no-auth")
    printed = json.loads(result.stdout)
    assert (printed["auth"], printed["token"]) == (False, None)
    assert proxies["time"] is None
    warning = "`time` serves without a bearer token (--no-auth): every local user"
    assert warning in result.stderr
    listed = CliRunner().invoke(cli, ["list", "--all"])
    assert warning in listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert listed.stdout.count("\n") == 2, listed.stdout
    assert header.split()[-1] == "AUTH"
    assert row.split()[-1] == "NONE"
    as_json = CliRunner().invoke(cli, ["list", "--all", "--format", "json"])
    assert json.loads(as_json.stdout)[0]["auth"] is False
    assert warning in as_json.stderr


def test_no_auth_and_a_token_contradict(proxies: dict[str, str | None]) -> None:
    result = CliRunner().invoke(cli, ["start", "--no-auth", "--auth-token", "x" * 20, IMAGE])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--no-auth'" in result.stderr
    assert "contradicts" in result.stderr
    assert proxies == {}


def test_run_prints_the_token_in_its_client_snippet(
    proxies: dict[str, str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[str | None] = []

    def serve(engine: Any, store: Store, server: Any, port: int, announce: Any, **kw: Any) -> None:
        served.append(kw["token"])
        announce(URL)

    monkeypatch.setattr(handoff, "serve", serve)
    result = CliRunner().invoke(cli, ["run", "--name", "time", IMAGE])
    assert result.exit_code == 0, result.output
    (token,) = served
    assert token is not None
    assert f"bearer token: {token}" in result.stderr
    snippet = result.stderr.split("client config:\n", 1)[1].split("\ntime stopped", 1)[0]
    entry = json.loads(snippet)["mcpServers"]["time"]
    assert entry["headers"] == {"Authorization": f"Bearer {token}"}
    unsafe = CliRunner().invoke(cli, ["run", "--name", "time", "--no-auth", IMAGE])
    assert "serves without a bearer token" in unsafe.stderr
    assert "Authorization" not in unsafe.stderr


def test_session_limits_reach_the_state_the_proxys_config_and_inspect(
    proxies: dict[str, str | None],
) -> None:
    start("--session-mode", "per-session", "--max-sessions", "3", "--session-idle-timeout", "60")
    saved = Store().load("time")
    assert saved is not None
    assert (saved.session_mode, saved.max_sessions, saved.session_idle_timeout) == (
        "per-session",
        3,
        60,
    )
    config = handoff.proxy_config(Store(), saved, 0)
    assert (config.max_sessions, config.session_idle_timeout) == (3, 60)
    found = json.loads(CliRunner().invoke(cli, ["inspect", "time", "--format", "json"]).stdout)
    assert found["sessions"] == {"mode": "per-session", "max": 3, "idle_timeout": 60}
    refused = CliRunner().invoke(cli, ["start", "--max-sessions", "0", IMAGE])
    assert refused.exit_code == 2
    assert "`0` is outside 1–65536 sessions" in refused.stderr


def test_inspect_shows_the_server_and_the_token_only_when_asked(
    proxies: dict[str, str | None],
) -> None:
    token = json.loads(start().stdout)["token"]
    saved = Store().load("time")
    assert saved is not None
    human = CliRunner().invoke(cli, ["inspect", "time"])
    assert human.exit_code == 0, human.output
    assert token not in human.stdout
    assert f"url:       {URL}/mcp" in human.stdout
    assert "auth:      bearer token (`--show-token` prints it)" in human.stdout
    assert f"container: mcp-lok-time ({saved.container_id})" in human.stdout
    assert f"launch:    {saved.launch}" in human.stdout
    shown = CliRunner().invoke(cli, ["inspect", "time", "--show-token"])
    assert f"token:     {token}" in shown.stdout
    found = json.loads(CliRunner().invoke(cli, ["inspect", "time", "--format", "json"]).stdout)
    assert "token" not in found
    assert found == {
        "name": "time",
        "status": "running",
        "url": f"{URL}/mcp",
        "sse_url": f"{URL}/sse",
        "transport": "stdio",
        "image": IMAGE,
        "engine": "docker",
        "engine_url": "unix:///fake/docker.sock",
        "profile": "stdio",
        "policy_digest": saved.policy_digest,
        "created": saved.created,
        "container": {"name": "mcp-lok-time", "id": saved.container_id},
        "gate": None,
        "networks": [],
        "launch": saved.launch,
        "plan": str(Store().layout("time").record),  # what `audit` compares with
        "port": saved.port,
        "command": [],
        "restart": {"policy": "no", "restarts": 0},
        "auth": True,
        "sessions": {"mode": "shared", "max": 128, "idle_timeout": 3600},  # the defaults
    }
    assert "sessions:  shared: at most 128, idle ones closed after 3600 s" in human.stdout
    with_token = ["inspect", "time", "--format", "json", "--show-token"]
    assert json.loads(CliRunner().invoke(cli, with_token).stdout)["token"] == token
    missing = CliRunner().invoke(cli, ["inspect", "nothing"])
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: no server named `nothing`\n")


def test_the_token_is_shown_to_the_servers_owner_only(
    proxies: dict[str, str | None], tmp_path: Path
) -> None:
    start()
    folder = Store().folder("time")
    assert owner_problem(folder) is None
    stranger = os.geteuid() + 1
    assert owner_problem(folder, stranger) == (
        f"the server is uid {os.geteuid()}'s: only they can see its bearer token"
    )
    assert owner_problem(tmp_path / "gone") == (
        "cannot look at the server's folder: No such file or directory"
    )


def test_start_waits_as_long_as_asked_or_not_at_all(proxies: dict[str, str | None]) -> None:
    start()
    assert proxies.pop("wait") == str(START_WAIT)
    start("--wait", "2.5", "--name", "other")
    assert proxies.pop("wait") == "2.5"
    start("--no-wait", "--name", "third")
    assert "wait" not in proxies


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--wait", "3", "--no-wait"], "`--wait` and `--no-wait` cannot be used together"),
        (["--wait", "0"], "'--wait'"),
        (["--wait", "soon"], "'--wait'"),
    ],
)
def test_a_wait_that_cannot_be_is_a_usage_error(
    proxies: dict[str, str | None], options: list[str], says: str
) -> None:
    result = CliRunner().invoke(cli, ["start", *options, IMAGE])
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert proxies == {}  # nothing was started
