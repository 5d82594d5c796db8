"""The proxy's log holds the server's stderr: it is created 0600 whatever the umask, by
every writer that may be the first (the server's stderr, the proxy's and the egress
relay's log lines), and an existing log keeps its mode (issue 11)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mcp_lok.proxy import logfile
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
    assert stderr.read_text().endswith(" server: a line\n")
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


def test_each_line_opens_with_when_and_who(tmp_path: Path) -> None:
    """One line per event: stamped, named, newlines in a message escaped."""
    at = 1796678678.216  # 2026-12-07T21:24:38.216Z
    text = logfile.line(logfile.PROXY, "two\nlines", at, "warning")
    assert text == "2026-12-07T21:24:38.216Z proxy warning: two\\nlines"
    when, who = logfile.parse_line(text)
    assert (when, who) == (datetime(2026, 12, 7, 21, 24, 38, 216000, tzinfo=UTC), "proxy")
    assert logfile.parse_line("an older line") == (None, "")


def test_server_lines_are_stamped_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "proxy.log"
    server = ServerLog(str(path))
    server.write(b"one\ntw")
    server.write(b"o\nthree")
    server.close()
    lines = path.read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "server: one",
        "server: two",
        "server: three",
    ]
    assert all(logfile.parse_line(line)[1] == "server" for line in lines)


def test_a_detached_proxy_writes_each_line_once(tmp_path: Path) -> None:
    """Its stderr is the log file: the proxy's lines are not passed on to stderr too,
    where they landed a second time; requests are logged, but only to the file."""
    log = tmp_path / "proxy.log"
    private_log(str(log))
    saved = os.dup(2)
    with open(log, "ab") as handle:
        os.dup2(handle.fileno(), 2)
    stderr = logging.StreamHandler()  # as a detached proxy's root handler: stderr
    root = logging.getLogger()
    root.addHandler(stderr)
    try:
        with _log_file(str(log)):
            logging.getLogger("mcp_lok.proxy.bridge").info("session 1234 opened")
            logging.getLogger(logfile.ACCESS_LOGGER).info("POST /mcp 200")
        stderr.flush()
    finally:
        root.removeHandler(stderr)
        os.dup2(saved, 2)
        os.close(saved)
    lines = log.read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "proxy: session 1234 opened",
        "request: POST /mcp 200",
    ]


def test_a_foreground_proxy_passes_its_lines_on(tmp_path: Path) -> None:
    """In `run`, stderr is a terminal: the proxy's lines go there as well as to the file."""
    log = tmp_path / "proxy.log"
    logger = logging.getLogger("mcp_lok.proxy")
    with _log_file(str(log)):
        assert logger.propagate
    assert not logfile.stderr_is(str(log))


def test_each_whole_line_is_also_handed_on_as_it_comes(tmp_path: Path) -> None:
    seen: list[str] = []
    server = ServerLog(str(tmp_path / "stderr.log"), seen.append)
    server.write(b"usage: server [-h]\nerror: unrecognized argu")
    assert seen == ["usage: server [-h]"]
    server.write(b"ments: --bogus-flag\n")
    server.close()
    assert seen == ["usage: server [-h]", "error: unrecognized arguments: --bogus-flag"]
    stamped = (tmp_path / "stderr.log").read_text().splitlines()
    assert [line.split(" server: ", 1)[1] for line in stamped] == seen
