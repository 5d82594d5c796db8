"""`proc`: a container read from the host through its process, over a fake `/proc` whose
`<pid>/root` is a folder standing for the container's root. A symbolic link the container
planted never leads the reader out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcp_lok.launcher.audit import proc

PID = 4242


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    root = tmp_path / str(PID) / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_text("127.0.0.1\tlocalhost\n")
    (tmp_path / str(PID) / "mountinfo").write_text("1 0 0:1 / / ro - overlay overlay rw\n")
    return tmp_path


def test_the_mount_table_of_a_process(fake: Path) -> None:
    assert proc.mount_table(PID, fake) == "1 0 0:1 / / ro - overlay overlay rw\n"
    assert proc.mount_table(PID + 1, fake) is None
    assert proc.mount_table(0, fake) is None


def test_a_file_inside(fake: Path) -> None:
    assert proc.read(PID, "/etc/hosts", fake) == b"127.0.0.1\tlocalhost\n"
    assert proc.read(PID, "//etc/./hosts", fake) == b"127.0.0.1\tlocalhost\n"
    assert proc.files(PID, ["/etc/hosts", "/etc/nothing"], fake) == {
        "/etc/hosts": b"127.0.0.1\tlocalhost\n",
        "/etc/nothing": None,
    }


@pytest.mark.parametrize("path", ["/", "", "/etc", "/etc/../etc/hosts"])
def test_no_folder_nor_parent_step_is_read(fake: Path, path: str) -> None:
    assert proc.read(PID, path, fake) is None


def test_no_process_no_file(fake: Path) -> None:
    assert proc.read(0, "/etc/hosts", fake) is None
    assert proc.read(PID + 1, "/etc/hosts", fake) is None


def test_a_planted_symbolic_link_is_never_followed(fake: Path, tmp_path: Path) -> None:
    host = tmp_path / "host-secret"
    host.write_text("the host's")
    root = fake / str(PID) / "root"
    (root / "run").symlink_to(host.parent)  # a folder on the way
    (root / "etc" / "resolv.conf").symlink_to(host)  # the file itself
    (root / "etc" / "relative").symlink_to("hosts")
    assert proc.read(PID, "/run/host-secret", fake) is None
    assert proc.read(PID, "/etc/resolv.conf", fake) is None
    assert proc.read(PID, "/etc/relative", fake) is None


def test_only_regular_files_and_at_most_the_limit(fake: Path) -> None:
    root = fake / str(PID) / "root"
    os.mkfifo(root / "etc" / "fifo")  # would block a plain open
    assert proc.read(PID, "/etc/fifo", fake) is None
    (root / "etc" / "big").write_bytes(b"x" * (proc.LIMIT + 10))
    assert proc.read(PID, "/etc/big", fake) == b"x" * proc.LIMIT


def test_the_hosts_locator_resolves_links_first(tmp_path: Path) -> None:
    me = tmp_path / str(os.getpid())
    me.mkdir()
    (me / "mountinfo").write_text(
        f"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 0:9 / {tmp_path} rw - tmpfs t rw\n"
    )
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    locate = proc.host_locator(tmp_path)
    assert locate is not None
    assert locate(str(tmp_path / "link" / "hosts")) == ("0:9", "/real/hosts")
    assert proc.host_locator(tmp_path / "elsewhere") is None
