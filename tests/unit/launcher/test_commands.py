"""The lifecycle commands' command line, without an engine: usage errors and output shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcp_lok.launcher import census
from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher.census import Census, Silent
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


class Found:
    def __init__(self, kind: str, version: str, url: str) -> None:
        self.kind, self.engine_version, self.url = adapter.Engine(kind), version, url


DOCKER = Found("docker", "20.10.24", "unix:///var/run/docker.sock")
PODMAN = Found("podman", "4.3.1", "unix:///run/podman/podman.sock")


def test_version_shows_the_engine_when_one_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapter, "discover", lambda choice=None: PODMAN)
    result = CliRunner().invoke(cli, ["version", "--format", "json"])
    assert json.loads(result.output)["engines"] == [
        {"kind": "podman", "version": "4.3.1", "socket": "unix:///run/podman/podman.sock"}
    ]
    human = CliRunner().invoke(cli, ["version"])
    assert human.output.startswith("mcp-lok ")
    assert "engine: podman 4.3.1" in human.output


def test_version_reports_every_engine_found_and_which_did_not_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead = Silent("podman", "unix:///run/user/1000/podman/podman.sock", "connection refused")
    seen = Census([DOCKER, PODMAN], [dead])  # type: ignore[list-item]  # what version reads
    monkeypatch.setattr(census, "take", lambda: seen)
    human = CliRunner().invoke(cli, ["version"])
    assert human.exit_code == 0, human.output
    assert human.stdout.splitlines()[1:] == [
        "engine: docker 20.10.24 (unix:///var/run/docker.sock)",
        "engine: podman 4.3.1 (unix:///run/podman/podman.sock)",
    ]
    assert human.stderr == (
        "warning: podman at /run/user/1000/podman/podman.sock does not answer "
        "(connection refused)\n"
    )
    found = json.loads(CliRunner().invoke(cli, ["version", "--format", "json"]).stdout)
    assert [e["kind"] for e in found["engines"]] == ["docker", "podman"]
    assert found["not_answering"] == [
        {
            "kind": "podman",
            "socket": "unix:///run/user/1000/podman/podman.sock",
            "reason": "connection refused",
        }
    ]


def test_version_without_an_engine_still_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    def nothing(choice: str | None = None) -> None:
        raise LokError("no container engine answers")

    monkeypatch.setattr(adapter, "discover", nothing)
    result = CliRunner().invoke(cli, ["version", "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["engines"] == []


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["--engine", "podman"], {}),
        ([], {"MCP_LOK_ENGINE": "podman"}),
        ([], {"DOCKER_HOST": "unix:///nowhere.sock"}),
    ],
    ids=["option", "MCP_LOK_ENGINE", "DOCKER_HOST"],
)
def test_version_of_a_named_engine_that_does_not_answer_exits_1_with_a_hint(
    argv: list[str], environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("MCP_LOK_ENGINE", "DOCKER_HOST", "CONTAINER_HOST"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    asked: list[str | None] = []

    def silent(choice: str | None = None) -> None:
        asked.append(choice)
        raise LokError("the engine `podman` does not answer; tried x", hint="start it")

    monkeypatch.setattr(adapter, "discover", silent)
    result = CliRunner().invoke(cli, ["version", *argv])
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("mcp-lok ")  # its own version, still
    assert "error: the engine `podman` does not answer" in result.stderr
    assert "= hint: start it" in result.stderr
    assert asked == [argv[1] if argv else None]


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

    monkeypatch.setattr(servers, "remove_server", lambda name, force, engine_choice: ["d" * 64])
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
    monkeypatch.setattr(servers, "rows", lambda seen: [row])
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
