"""Every engine on this machine at once (`census.take`), without an engine: which answer,
which are named as not answering, and the error when none does."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_lok.launcher.census import Census, Missing, Silent
from mcp_lok.launcher.engine import EngineError
from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.sockets import START_HINT
from mcp_lok.policy import Engine

from .conftest import REAL_TAKE as take
from .fakes import FakeEngine

DOCKER = "unix:///var/run/docker.sock"
PODMAN = "unix:///run/podman/podman.sock"
ROOTLESS = "unix:///xdg/podman/podman.sock"


def reach(answers: dict[str, Any]) -> Any:
    """A `reach` for `take`: the engine at each URL of `answers`, the error it raises (an
    `EngineError`), or, for any other URL, no socket."""

    def at(url: str) -> Any:
        found = answers.get(url, Missing("does not exist"))
        if isinstance(found, EngineError):
            raise found
        return found

    return at


def test_every_well_known_engine_that_answers_is_found_and_a_refusing_one_named() -> None:
    docker = FakeEngine(url=DOCKER)
    seen = take(
        None,
        {"XDG_RUNTIME_DIR": "/xdg"},
        reach({DOCKER: docker, ROOTLESS: EngineError("connection refused")}),
    )
    assert seen.answering == [docker]
    # Podman's socket does not exist: no engine there, nothing to warn about
    assert seen.silent == [Silent("podman", ROOTLESS, "connection refused")]
    assert str(seen.silent[0]) == (
        "podman at /xdg/podman/podman.sock does not answer (connection refused)"
    )
    assert seen.require() == [docker]


def test_both_engines_answer() -> None:
    docker, podman = FakeEngine(url=DOCKER), FakeEngine(Engine.PODMAN, url=PODMAN)
    seen = take(None, {}, reach({DOCKER: docker, PODMAN: podman}))
    assert seen.answering == [docker, podman]
    assert seen.silent == []


def test_the_engine_a_server_was_started_on_is_asked_and_named_when_silent() -> None:
    docker, elsewhere = FakeEngine(url=DOCKER), FakeEngine(url="unix:///relay.sock")
    servers = {
        "a": ("podman", "unix:///gone.sock"),
        "b": ("podman", "unix:///gone.sock"),
        "c": ("docker", "unix:///relay.sock"),
    }
    seen = take(servers, {}, reach({DOCKER: docker, "unix:///relay.sock": elsewhere}))
    assert seen.answering == [docker, elsewhere]
    assert seen.silent == [Silent("podman", "unix:///gone.sock", "does not exist", ("a", "b"))]


@pytest.mark.parametrize("variable", ["MCP_LOK_ENGINE", "DOCKER_HOST", "CONTAINER_HOST"])
def test_an_engine_the_environment_names_is_the_only_one_tried_and_named_when_silent(
    variable: str,
) -> None:
    docker = FakeEngine(url=DOCKER)
    seen = take(None, {variable: "unix:///named.sock"}, reach({DOCKER: docker}))
    assert seen.answering == []
    assert seen.silent == [Silent(None, "unix:///named.sock", "does not exist")]
    assert str(seen.silent[0]) == "/named.sock does not answer (does not exist)"


def test_no_engine_answering_is_an_error_saying_what_was_tried() -> None:
    seen = take(None, {}, reach({PODMAN: EngineError("cannot reach the engine")}))
    with pytest.raises(LokError) as caught:
        seen.require()
    assert caught.value.message == (
        "no container engine answers; tried /var/run/docker.sock (does not exist); "
        "/run/podman/podman.sock (cannot reach the engine)"
    )
    assert caught.value.hint == START_HINT
    with pytest.raises(LokError, match="tried nothing"):
        Census().require()


def test_a_variable_naming_no_engine_is_an_error() -> None:
    with pytest.raises(LokError, match="from DOCKER_HOST"):
        take(None, {"DOCKER_HOST": "tcp://10.0.0.1:2375"}, reach({}))
