"""The proxy's log holds the server's stderr: it is created 0600 whatever the umask, by
every writer that may be the first (the server's stderr, the proxy's and the egress
relay's log lines), and an existing log keeps its mode (issue 11)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_lok.proxy.bridge import ServerLog
from mcp_lok.proxy.config import private_log
from mcp_lok.proxy.server import _log_file


@pytest.fixture
def no_umask() -> Iterator[None]:
    old = os.umask(0)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("no_umask")
def test_every_first_writer_makes_the_log_private(tmp_path: Path) -> None:
    stderr = tmp_path / "stderr.log"
    server = ServerLog(str(stderr))
    server.write(b"a line\n")
    server.close()
    assert mode(stderr) == 0o600
    assert stderr.read_bytes() == b"a line\n"
    proxy = tmp_path / "proxy.log"
    with _log_file(str(proxy)):
        logging.getLogger("mcp_lok.proxy").warning("hello")
    assert mode(proxy) == 0o600
    assert "hello" in proxy.read_text()


@pytest.mark.usefixtures("no_umask")
def test_an_existing_log_is_appended_to(tmp_path: Path) -> None:
    log = tmp_path / "proxy.log"
    log.write_text("before\n")
    log.chmod(0o600)
    private_log(str(log))
    assert (mode(log), log.read_text()) == (0o600, "before\n")


def test_each_whole_line_is_also_handed_on_as_it_comes(tmp_path: Path) -> None:
    seen: list[str] = []
    server = ServerLog(str(tmp_path / "stderr.log"), seen.append)
    server.write(b"usage: server [-h]\nerror: unrecognized argu")
    assert seen == ["usage: server [-h]"]
    server.write(b"ments: --bogus-flag\n")
    server.close()
    assert seen == ["usage: server [-h]", "error: unrecognized arguments: --bogus-flag"]
    assert (tmp_path / "stderr.log").read_text().splitlines() == seen
