"""`policy compile` prints what the engine receives: a user only the image can turn into
numbers is resolved through the engine when one answers and has the image; otherwise the
plan keeps the words, and a warning says the numbers are found at launch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher import paths
from mcp_lok.launcher.cli import cli
from mcp_lok.launcher.errors import LokError

from .fakes import FakeEngine

IMAGE = "mcp-lok/mcp-server-time"


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(adapter, "discover", lambda choice=None: fake)
    monkeypatch.setattr(paths, "default_root", lambda: tmp_path / "root")
    (tmp_path / "root").mkdir()
    return fake


def compile_(tmp_path: Path, user: str, image: str = IMAGE, command: str = "compile") -> Result:
    policy = tmp_path / "p.lok"
    policy.write_text(f"extends stdio\n{user}\n")
    args = ["policy", command, str(policy), "--image", image, "--name", "t"]
    args += ["--runtime-dir", str(tmp_path / "run")]
    if command == "explain":
        args += ["--format", "json"]
    return CliRunner().invoke(cli, args)


def test_the_printed_plan_carries_the_numbers_the_image_gives(
    tmp_path: Path, engine: FakeEngine
) -> None:
    printed = compile_(tmp_path, "user nobody")
    assert json.loads(printed.stdout)["container"]["User"] == "65534:65534"
    assert printed.stderr == ""


def test_without_the_image_the_plan_keeps_the_words_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nothing(choice: str | None = None) -> None:
        raise LokError("no container engine answers")

    monkeypatch.setattr(adapter, "discover", nothing)
    printed = compile_(tmp_path, "user nobody")
    assert json.loads(printed.stdout)["container"]["User"] == "nobody"
    warning = printed.stderr
    assert warning.startswith("warning: `User` is `nobody` as written")
    assert "(no container engine answers)" in warning


def test_a_name_the_image_maps_to_root_is_rejected_like_at_launch(
    tmp_path: Path, engine: FakeEngine
) -> None:
    engine.image_files[IMAGE] = {"/etc/passwd": b"toor:x:0:0::/:/bin/sh\n"}
    assert compile_(tmp_path, "user toor").exit_code == 3


def test_explain_without_an_image_says_how_to_see_the_numbers(
    tmp_path: Path, engine: FakeEngine
) -> None:
    printed = compile_(tmp_path, "user nobody", image="IMAGE", command="explain")
    assert "(name the image with `--image`)" in printed.stderr
    assert engine.calls == []


def test_explain_with_the_image_shows_the_numbers_and_where_they_came_from(
    tmp_path: Path, engine: FakeEngine
) -> None:
    printed = compile_(tmp_path, "user nobody", command="explain")
    (user,) = [c for c in json.loads(printed.stdout)["controls"] if c["field"] == "User"]
    assert user["description"].startswith(
        "the server runs as uid 65534, gid 65534 (`nobody` and its group in the image's "
        "/etc/passwd)"
    )


def test_numbers_need_no_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unexpected(choice: str | None = None) -> None:
        raise AssertionError("the engine was asked")

    monkeypatch.setattr(adapter, "discover", unexpected)
    printed = compile_(tmp_path, "user 1000:1000")
    assert json.loads(printed.stdout)["container"]["User"] == "1000:1000"


def test_without_a_runtime_root_nothing_is_kept(
    tmp_path: Path, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unset() -> None:
        raise LokError("cannot tell where to keep runtime files")

    monkeypatch.setattr(paths, "default_root", unset)
    printed = compile_(tmp_path, "user nobody")
    assert json.loads(printed.stdout)["container"]["User"] == "65534:65534"
