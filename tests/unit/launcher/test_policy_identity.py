"""`policy compile` prints what the engine receives: a user only the image can turn into
numbers is resolved through the engine when one answers and has the image; otherwise the
plan keeps the words, and a warning says the numbers are found at launch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher import paths, policy_actions
from mcp_lok.launcher.errors import LokError

from .fakes import FakeEngine

IMAGE = "mcp-lok/mcp-server-time"


class Printed:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.err: list[str] = []

    def __call__(self, message: str, *, nl: bool = True, err: bool = False) -> None:
        (self.err if err else self.out).append(message + ("\n" if nl else ""))


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(adapter, "discover", lambda choice=None: fake)
    monkeypatch.setattr(paths, "default_root", lambda: tmp_path / "root")
    (tmp_path / "root").mkdir()
    return fake


def compile_(tmp_path: Path, user: str, image: str = IMAGE, command: str = "compile") -> Printed:
    policy = tmp_path / "p.lok"
    policy.write_text(f"extends stdio\n{user}\n")
    printed = Printed()
    values: dict[str, Any] = {
        "source": str(policy),
        "image": image,
        "engine": "docker",
        "transport": "stdio",
        "name": "t",
        "env": (),
        "runtime_dir": str(tmp_path / "run"),
        "target_port": 8080,
    }
    if command == "compile":
        values["args"] = ()
    else:
        values |= {"fmt": "json", "threshold": None}
    policy_actions.run(command, values, printed)
    return printed


def test_the_printed_plan_carries_the_numbers_the_image_gives(
    tmp_path: Path, engine: FakeEngine
) -> None:
    printed = compile_(tmp_path, "user nobody")
    assert json.loads("".join(printed.out))["container"]["User"] == "65534:65534"
    assert printed.err == []


def test_without_the_image_the_plan_keeps_the_words_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nothing(choice: str | None = None) -> None:
        raise LokError("no container engine answers")

    monkeypatch.setattr(adapter, "discover", nothing)
    printed = compile_(tmp_path, "user nobody")
    assert json.loads("".join(printed.out))["container"]["User"] == "nobody"
    (warning,) = printed.err
    assert warning.startswith("warning: `User` is `nobody` as written")
    assert "(no container engine answers)" in warning


def test_a_name_the_image_maps_to_root_is_rejected_like_at_launch(
    tmp_path: Path, engine: FakeEngine
) -> None:
    engine.image_files[IMAGE] = {"/etc/passwd": b"toor:x:0:0::/:/bin/sh\n"}
    with pytest.raises(SystemExit) as caught:
        compile_(tmp_path, "user toor")
    assert caught.value.code == 3


def test_explain_without_an_image_says_how_to_see_the_numbers(
    tmp_path: Path, engine: FakeEngine
) -> None:
    printed = compile_(tmp_path, "user nobody", image="IMAGE", command="explain")
    assert "(name the image with `--image`)" in "".join(printed.err)
    assert engine.calls == []


def test_explain_with_the_image_shows_the_numbers_and_where_they_came_from(
    tmp_path: Path, engine: FakeEngine
) -> None:
    printed = compile_(tmp_path, "user nobody", command="explain")
    (user,) = [c for c in json.loads("".join(printed.out))["controls"] if c["field"] == "User"]
    assert user["description"].startswith(
        "the server runs as uid 65534, gid 65534 (`nobody` and its group in the image's "
        "/etc/passwd)"
    )


def test_numbers_need_no_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unexpected(choice: str | None = None) -> None:
        raise AssertionError("the engine was asked")

    monkeypatch.setattr(adapter, "discover", unexpected)
    printed = compile_(tmp_path, "user 1000:1000")
    assert json.loads("".join(printed.out))["container"]["User"] == "1000:1000"


def test_without_a_runtime_root_nothing_is_kept(
    tmp_path: Path, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unset() -> None:
        raise LokError("cannot tell where to keep runtime files")

    monkeypatch.setattr(paths, "default_root", unset)
    printed = compile_(tmp_path, "user nobody")
    assert json.loads("".join(printed.out))["container"]["User"] == "65534:65534"
