"""The lifecycle commands' command line, without an engine: usage errors and output shape."""

from __future__ import annotations

import json

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
