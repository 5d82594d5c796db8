"""A launch resolves the server's user against the image's own /etc/passwd and /etc/group,
read through the engine once per image id and kept privately; the create body then names
the user by numbers, judged like numbers written in the policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_lok.launcher import accounts
from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.launch import plan_launch
from mcp_lok.launcher.request import LaunchRequest
from mcp_lok.policy import FixedHost, PolicyError, Target
from mcp_lok.policy.diagnostics import Code
from mcp_lok.policy.identity import Account

from .fakes import BASE_GROUP, BASE_PASSWD, FakeEngine

IMAGE = "mcp-lok/mcp-server-time"
HOST = FixedHost(groups={0: "is root's group", 105: "may open `/run/docker.sock`"})


def reads(engine: FakeEngine) -> int:
    return sum(1 for call, _ in engine.calls if call == "read-image")


def test_the_images_files_are_read_once_and_kept_privately(tmp_path: Path) -> None:
    engine = FakeEngine()
    first = accounts.read(engine, IMAGE, tmp_path)
    assert first.users[-1] == Account("nobody", 65534, 65534)
    assert reads(engine) == 1
    assert accounts.read(engine, IMAGE, tmp_path) == first
    assert reads(engine) == 1  # warm: no container created, nothing read
    folder = tmp_path / accounts.CACHE
    (kept,) = folder.iterdir()
    assert folder.stat().st_mode & 0o777 == 0o700
    assert kept.stat().st_mode & 0o777 == 0o600
    saved = json.loads(kept.read_text())
    assert saved["image"] == engine.image_id(IMAGE)
    assert saved["passwd"] == BASE_PASSWD.decode()
    assert saved["group"] == BASE_GROUP.decode()


def test_without_a_root_nothing_is_kept(tmp_path: Path) -> None:
    engine = FakeEngine()
    accounts.read(engine, IMAGE, None)
    accounts.read(engine, IMAGE, None)
    assert reads(engine) == 2


def _kept(tmp_path: Path, engine: FakeEngine) -> Path:
    accounts.read(engine, IMAGE, tmp_path)
    (kept,) = (tmp_path / accounts.CACHE).iterdir()
    return kept


def test_a_kept_copy_others_could_have_written_is_not_used(tmp_path: Path) -> None:
    engine = FakeEngine()
    kept = _kept(tmp_path, engine)
    kept.write_text(kept.read_text().replace("nobody", "nobodx"))
    kept.chmod(0o666)
    assert accounts.read(engine, IMAGE, tmp_path).users[-1].name == "nobody"
    assert reads(engine) == 2


def test_a_cache_folder_others_could_write_is_not_used(tmp_path: Path) -> None:
    engine = FakeEngine()
    _kept(tmp_path, engine)
    (tmp_path / accounts.CACHE).chmod(0o777)
    accounts.read(engine, IMAGE, tmp_path)
    assert reads(engine) == 2


def test_a_cache_folder_that_is_a_symlink_is_not_used(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    root = tmp_path / "root"
    root.mkdir()
    (root / accounts.CACHE).symlink_to(elsewhere)
    engine = FakeEngine()
    accounts.read(engine, IMAGE, root)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        json.dumps({"version": 99}),
        json.dumps({"version": 1, "image": "sha256:other", "passwd": "", "group": ""}),
        json.dumps([1, 2]),
    ],
)
def test_a_damaged_or_foreign_copy_is_read_again(tmp_path: Path, text: str) -> None:
    engine = FakeEngine()
    kept = _kept(tmp_path, engine)
    kept.write_text(text)
    assert accounts.read(engine, IMAGE, tmp_path).users
    assert reads(engine) == 2


def test_an_unwritable_cache_file_is_only_slower(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(path: Path, content: str, mode: int) -> None:
        raise PermissionError(13, "denied")

    monkeypatch.setattr(accounts, "write_atomic", refuse)
    engine = FakeEngine()
    assert accounts.read(engine, IMAGE, tmp_path).users
    assert accounts.read(engine, IMAGE, tmp_path).users
    assert reads(engine) == 2


def test_a_missing_image_is_the_engines_error(tmp_path: Path) -> None:
    with pytest.raises(LokError, match="is not on docker"):
        accounts.read(FakeEngine(), "acme/missing:1", tmp_path)


# --- the launch's compile ---------------------------------------------------------------


def launch(tmp_path: Path, user: str, engine: FakeEngine | None = None) -> dict[str, object]:
    policy = tmp_path / "p.lok"
    policy.write_text(f"extends stdio\n{user}\n")
    engine = engine or FakeEngine()
    request = LaunchRequest(image=IMAGE, name="t", profile=str(policy))
    target = Target(image=IMAGE, name="t")
    _, plan = plan_launch(
        request,
        str(policy),
        target,
        lambda: accounts.read(engine, IMAGE, tmp_path),
        host=HOST,
    )
    return dict(plan.server.body)


@pytest.mark.parametrize(
    ("user", "numbers"), [("user nobody", "65534:65534"), ("user 65534", "65534:65534")]
)
def test_a_name_or_a_lone_uid_reaches_the_engine_as_numbers(
    tmp_path: Path, user: str, numbers: str
) -> None:
    # the image lists `nobody` in `docker` (105): with numbers, no engine adds that group
    assert launch(tmp_path, user)["User"] == numbers


def test_a_user_written_as_numbers_does_not_read_the_image(tmp_path: Path) -> None:
    engine = FakeEngine()
    assert launch(tmp_path, "user 1000:1000", engine)["User"] == "1000:1000"
    assert reads(engine) == 0


def test_a_name_the_image_maps_to_root_is_refused(tmp_path: Path) -> None:
    engine = FakeEngine()
    engine.image_files[IMAGE] = {"/etc/passwd": b"toor:x:0:0::/:/bin/sh\n", "/etc/group": b""}
    with pytest.raises(PolicyError) as caught:
        launch(tmp_path, "user toor", engine)
    assert [d.code for d in caught.value.diagnostics] == [Code.INSECURE_REQUIRED]
    assert str(tmp_path / "p.lok") in caught.value.sources


def test_a_user_whose_primary_group_may_open_the_engine_socket_is_refused(tmp_path: Path) -> None:
    engine = FakeEngine()
    engine.image_files[IMAGE] = {"/etc/passwd": b"dock:x:2000:105::/:/bin/sh\n", "/etc/group": b""}
    with pytest.raises(PolicyError) as caught:
        launch(tmp_path, "user dock", engine)
    (problem,) = caught.value.diagnostics
    assert "the group 105 may open `/run/docker.sock`" in problem.message


def test_a_user_left_unresolved_is_never_launched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_lok.launcher import planning

    policy = tmp_path / "p.lok"
    policy.write_text("extends stdio\nuser nobody\n")
    request = LaunchRequest(image=IMAGE, name="t", profile=str(policy))
    # whatever goes wrong in resolving it, the last check before a create holds
    monkeypatch.setattr(planning, "with_accounts", lambda compiled, *_: compiled)
    with pytest.raises(LokError, match="must be resolved against the image") as caught:
        plan_launch(request, str(policy), Target(image=IMAGE, name="t"), FakeEngine, host=HOST)
    assert caught.value.hint
