"""The lifecycle commands' command line, without an engine: usage errors and output shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher.cli import cli
from mcp_lok.launcher.errors import LokError


@pytest.mark.parametrize("command", ["stop", "rm", "logs"])
@pytest.mark.parametrize("name", ["../etc", "seccomp", "-"])
def test_a_bad_server_name_is_a_usage_error(command: str, name: str) -> None:
    result = CliRunner().invoke(cli, [command, "--", name])
    assert result.exit_code == 2, result.output


def test_env_must_be_key_equals_value() -> None:
    result = CliRunner().invoke(cli, ["run", "-e", "NOVALUE", "img"])
    assert result.exit_code == 2
    assert "is not KEY=VALUE" in result.output


def test_a_reserved_name_is_refused_before_the_engine_is_asked() -> None:
    result = CliRunner().invoke(cli, ["start", "--name", "seccomp", "img"])
    assert result.exit_code == 2
    assert "reserved" in result.output


def test_version_shows_the_engine_when_one_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    class Found:
        kind = adapter.Engine.PODMAN
        engine_version = "4.3.1"
        url = "unix:///run/podman/podman.sock"

    monkeypatch.setattr(adapter, "discover", lambda choice=None: Found())
    result = CliRunner().invoke(cli, ["version", "--format", "json"])
    assert json.loads(result.output)["engine"] == {
        "kind": "podman",
        "version": "4.3.1",
        "socket": "unix:///run/podman/podman.sock",
    }
    human = CliRunner().invoke(cli, ["version"])
    assert human.output.startswith("mcp-lok ")
    assert "engine: podman 4.3.1" in human.output


def test_version_without_an_engine_still_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    def nothing(choice: str | None = None) -> None:
        raise LokError("no container engine answers")

    monkeypatch.setattr(adapter, "discover", nothing)
    result = CliRunner().invoke(cli, ["version", "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["engine"] is None


@pytest.mark.parametrize("command", ["run", "start"])
def test_a_host_path_swapped_after_the_check_exits_3_and_creates_nothing(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_lok.launcher import state

    from .fakes import FakeEngine

    fake = FakeEngine()
    monkeypatch.setattr(state, "default_root", lambda: tmp_path / "run")
    monkeypatch.setattr(adapter, "discover", lambda choice=None: fake)
    (tmp_path / "real").mkdir()
    (tmp_path / "other").mkdir()
    link = tmp_path / "link"
    link.symlink_to("real")
    policy = tmp_path / "p.lok"
    policy.write_text(f"read {link} as /data\n")

    def swap(image: str) -> None:  # after the compile, before anything is created
        link.unlink()
        link.symlink_to("other")

    monkeypatch.setattr(fake, "require_image", swap, raising=False)
    args = [command, "--name", "srv", "--permission-profile", str(policy), "img"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3, result.output
    assert f"{policy}:1:1: error[policy.path-changed]: `{link}` changed since" in result.output
    assert "= help: " in result.output
    assert fake.calls == []
    assert state.Store().names() == []


def test_rm_says_what_it_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from mcp_lok.launcher import servers

    monkeypatch.setattr(servers, "remove_server", lambda name, force: ["d" * 64])
    result = CliRunner().invoke(cli, ["rm", "--force", "time"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "time\n"
    assert result.stderr == (
        "left alone: containers carrying the labels of `time` that mcp-lok did not create "
        "(dddddddddddd)\n"
    )


def test_list_explains_a_foreign_row(monkeypatch: pytest.MonkeyPatch) -> None:
    from mcp_lok.launcher import servers

    row = {
        "name": "time", "status": "foreign", "transport": "stdio", "url": None,
        "sse_url": None, "image": "img", "engine": "docker", "profile": None,
        "created": None, "container": "d" * 64, "auth": None, "note": servers.FOREIGN_NOTE,
    }  # fmt: skip
    monkeypatch.setattr(servers, "rows", lambda: [row])
    result = CliRunner().invoke(cli, ["list", "--all"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split() == [
        "time",
        "foreign",
        "stdio",
        "-",
        "img",
        "docker",
        "-",
        "-",
    ]
    assert "not created by mcp-lok" in result.stderr
    assert CliRunner().invoke(cli, ["list"]).stdout.splitlines()[1:] == []
