"""`ThisHost` on real trees in a temp folder: symlinks resolved component by component
(chains, relative links, links in the middle of a path, loops), the second spellings of a
path, sockets and devices, what a folder holds, and who could change where a path leads.
Run as root (as CI does), a file owned by another user is made with `chown`."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_lok.launcher import host as thishost
from mcp_lok.launcher.host import ThisHost, mount_points, replaceable, resolve
from mcp_lok.policy.host import Found, Inside, PathKind

OTHER_UID = 4321  # a user that is neither root nor whoever runs the tests

# making a device node and another user's file needs root (CI runs the tests as root)
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """`real/sub/file.txt`, in folders only root may change."""
    root = tmp_path / "t"
    (root / "real" / "sub").mkdir(parents=True)
    (root / "real" / "sub" / "file.txt").write_text("x")
    for folder in (tmp_path, root, root / "real", root / "real" / "sub"):
        folder.chmod(0o755)
    return root


@pytest.fixture
def listening(tree: Path) -> Iterator[Path]:
    path = tree / "real" / "app.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        yield path


def identity(path: Path) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_dev, info.st_ino


# --- where a path leads ------------------------------------------------------------------


def test_a_chain_of_symlinks_leads_to_its_end(tree: Path) -> None:
    (tree / "c").symlink_to(tree / "real")
    (tree / "b").symlink_to("c")
    (tree / "a").symlink_to(tree / "b")
    found = ThisHost().path(str(tree / "a"))
    assert (found.written, found.resolved, found.kind) == (
        str(tree / "a"),
        str(tree / "real"),
        PathKind.DIRECTORY,
    )
    assert found.identity == identity(tree / "real")


def test_a_relative_link_climbs_from_where_it_is(tree: Path) -> None:
    deep = tree / "x" / "y"
    deep.mkdir(parents=True)
    (deep / "up").symlink_to("../../real/sub")
    assert resolve(str(deep / "up" / "file.txt")) == (str(tree / "real/sub/file.txt"), False)
    (deep / "top").symlink_to("../../../../../../../../../..")  # more `..` than there are
    assert resolve(str(deep / "top" / "etc")) == ("/etc", False)


def test_a_link_in_the_middle_of_a_path_is_resolved(tree: Path) -> None:
    (tree / "mid").symlink_to("real")
    found = ThisHost().path(str(tree / "mid" / "sub" / "file.txt"))
    assert (found.resolved, found.kind) == (str(tree / "real/sub/file.txt"), PathKind.FILE)


def test_parent_segments_are_physical_not_textual(tree: Path) -> None:
    # `link/..` is the parent of where `link` leads, not the folder holding `link`: the
    # reason the check pass refuses `..` in a written path
    (tree / "link").symlink_to(tree / "real" / "sub")
    assert resolve(f"{tree}/link/../sub/../sub/file.txt") == (
        str(tree / "real/sub/file.txt"),
        False,
    )
    assert resolve(f"{tree}/link/..") == (str(tree / "real"), False)


def test_second_spellings_lead_to_the_same_place(tree: Path) -> None:
    (tree / "link").symlink_to("real")
    want = (str(tree / "real/sub"), False)
    for spelling in (f"/{tree}//link/sub", f"{tree}/link/sub/.", f"{tree}/./link/./sub/"):
        assert resolve(spelling) == want


def test_a_symlink_to_the_root_leads_to_the_root(tree: Path) -> None:
    (tree / "root").symlink_to("/")
    (tree / "etc").symlink_to("/etc/")
    assert resolve(str(tree / "root")) == ("/", False)
    assert resolve(f"{tree}/root/etc") == ("/etc", False)
    assert resolve(str(tree / "etc")) == ("/etc", False)


def test_a_loop_cannot_be_resolved(tree: Path) -> None:
    (tree / "l1").symlink_to("l2")
    (tree / "l2").symlink_to("l1")
    (tree / "self").symlink_to("self")
    for path in ("l1", "self", "l2/sub"):
        assert ThisHost().path(f"{tree}/{path}").kind is PathKind.UNRESOLVABLE


def test_a_missing_tail_is_kept_as_written(tree: Path) -> None:
    (tree / "link").symlink_to("real")
    found = ThisHost().path(f"{tree}/link/nowhere/deeper")
    assert (found.resolved, found.kind, found.identity) == (
        str(tree / "real/nowhere/deeper"),
        PathKind.MISSING,
        None,
    )
    (tree / "dangling").symlink_to("gone")
    assert ThisHost().path(str(tree / "dangling")).resolved == str(tree / "gone")


# --- what it is, and what a folder holds --------------------------------------------------


def test_a_socket_made_with_bind_is_a_socket_however_it_is_reached(
    tree: Path, listening: Path
) -> None:
    (tree / "s").symlink_to(listening)
    found = ThisHost().path(str(tree / "s"))
    assert (found.resolved, found.kind) == (str(listening), PathKind.SOCKET)
    assert ThisHost().path(str(tree / "real")).found == (Found(str(listening), Inside.SOCKET),)


@root_only
def test_a_device_is_a_device(tree: Path) -> None:
    (tree / "null").symlink_to("/dev/null")
    assert ThisHost().path(str(tree / "null")).kind is PathKind.CHAR_DEVICE
    os.mknod(tree / "real" / "null", 0o600 | 0o020000, os.makedev(1, 3))
    assert (
        Found(str(tree / "real/null"), Inside.CHAR_DEVICE)
        in ThisHost().path(str(tree / "real")).found
    )


def test_a_symlink_beneath_a_folder_is_not_followed(tree: Path, listening: Path) -> None:
    # inside the container a symlink resolves against the container's own filesystem
    (tree / "real" / "sub" / "to-socket").symlink_to(listening)
    (tree / "real" / "sub" / "to-root").symlink_to("/")
    assert ThisHost().path(str(tree / "real" / "sub")).found == ()


def test_an_engine_folder_beneath_a_folder_is_found_and_not_entered(tree: Path) -> None:
    engine = tree / "home" / ".local" / "share" / "containers"
    (engine / "storage").mkdir(parents=True)
    found = ThisHost().path(str(tree / "home"))
    assert found.found == (Found(str(engine), Inside.ENGINE_FOLDER),)


def test_stores_of_credentials_beneath_a_folder_are_found_and_not_entered(tree: Path) -> None:
    home = tree / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("key")
    (home / "work").mkdir()
    (home / "work" / ".netrc").write_text("machine x password y")
    (home / "notes.txt").write_text("notes")
    found = ThisHost().path(str(home))
    assert sorted(found.found, key=lambda f: f.path) == [
        Found(str(home / ".ssh"), Inside.CREDENTIALS),
        Found(str(home / "work" / ".netrc"), Inside.CREDENTIALS),
    ]


def test_mount_points_beneath_a_folder_are_reported_and_not_entered(
    tree: Path, listening: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ThisHost, "mount_points", lambda self: frozenset({str(tree / "real")}))
    found = ThisHost().path(str(tree))
    assert found.found == (Found(str(tree / "real"), Inside.MOUNT_POINT),)  # not its socket


def test_a_folder_mcp_lok_cannot_read_is_reported(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scandir = os.scandir
    closed = str(tree / "real" / "sub")

    def refusing(path: str) -> Iterator[os.DirEntry[str]]:
        if path == closed:
            raise PermissionError(13, "Permission denied", path)
        return scandir(path)

    monkeypatch.setattr(thishost.os, "scandir", refusing)
    assert ThisHost().path(str(tree / "real")).found == (Found(closed, Inside.UNREADABLE),)


def test_a_folder_too_big_to_search_says_so(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        (tree / "real" / f"f{i}").write_text("")
    monkeypatch.setattr(thishost, "SCAN_LIMIT", 3)
    found = ThisHost().path(str(tree / "real"))
    assert found.truncated
    assert not ThisHost().path(str(tree / "real" / "sub")).truncated


def test_the_worst_things_are_kept_when_the_list_is_full(
    tree: Path, listening: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = frozenset(str(tree / "real" / "sub" / f"m{i}") for i in range(3))
    for point in points:
        Path(point).mkdir()
    monkeypatch.setattr(ThisHost, "mount_points", lambda self: points)
    monkeypatch.setattr(thishost, "MAX_FOUND", 2)
    found = ThisHost().path(str(tree / "real")).found
    assert len(found) == 2
    assert Found(str(listening), Inside.SOCKET) in found


# --- who could change where it leads ------------------------------------------------------


def test_a_path_only_root_can_change_is_not_replaceable(tree: Path) -> None:
    assert ThisHost().path(str(tree / "real" / "sub")).replaceable is None


@root_only
def test_an_entry_of_another_user_in_a_sticky_shared_folder_is_replaceable(tree: Path) -> None:
    shared = tree / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "mine").mkdir()
    (shared / "theirs").mkdir()
    os.chown(shared / "theirs", OTHER_UID, OTHER_UID)
    assert ThisHost().path(str(shared / "mine")).replaceable is None
    assert ThisHost().path(str(shared / "theirs" / "x")).replaceable == (
        f"`{shared}/theirs` belongs to uid {OTHER_UID}, in the shared folder `{shared}`"
    )
    # a symlink there is theirs to re-point, but the plan binds where it leads, not the
    # link: re-pointing it later changes nothing the engine is sent (and the launch's
    # second look refuses the change)
    (shared / "link").symlink_to(tree / "real")
    os.chown(shared / "link", OTHER_UID, OTHER_UID, follow_symlinks=False)
    found = ThisHost().path(str(shared / "link"))
    assert (found.resolved, found.replaceable) == (str(tree / "real"), None)


@root_only
def test_a_folder_others_may_write_makes_what_is_in_it_replaceable(tree: Path) -> None:
    for mode, who in ((0o777, "everyone"), (0o775, "group 0")):
        (tree / "real").chmod(mode)
        assert ThisHost().path(str(tree / "real" / "sub")).replaceable == (
            f"the folder `{tree / 'real'}` is writable by {who}"
        )
    (tree / "real").chmod(0o755)
    os.chown(tree / "real", OTHER_UID, 0)
    assert replaceable(str(tree / "real" / "sub"), frozenset({0})) == (
        f"the folder `{tree / 'real'}` belongs to uid {OTHER_UID}"
    )
    # the user who runs mcp-lok is trusted like root
    assert replaceable(str(tree / "real" / "sub"), frozenset({0, OTHER_UID})) is None


# --- one compile, one look -----------------------------------------------------------------


def test_a_host_answers_from_its_first_look_and_a_new_one_looks_again(tree: Path) -> None:
    (tree / "link").symlink_to("real")
    first = ThisHost()
    before = first.path(str(tree / "link"))
    (tree / "link").unlink()
    (tree / "link").symlink_to("real/sub")
    assert first.path(str(tree / "link")) is before
    assert ThisHost().path(str(tree / "link")).resolved == str(tree / "real/sub")


def test_mount_points_are_read_from_the_mount_table() -> None:
    assert "/" in mount_points()
    assert thishost._unescape("/a\\040b\\134c") == "/a b\\c"
