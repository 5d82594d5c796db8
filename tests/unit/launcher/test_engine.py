"""The engine adapter without an engine: discovery, identification, error mapping, and
that a payload is sent as the compiled bytes."""

from __future__ import annotations

import json
from typing import Any

import docker
import pytest
import requests

from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher.engine import (
    Conflict,
    EngineClient,
    EngineError,
    NotFound,
    discover,
    mapped,
)
from mcp_lok.launcher.errors import LokError, UsageError
from mcp_lok.launcher.sockets import (
    START_HINT,
    candidates,
    elsewhere_problem,
    identify_ping,
    named,
    same_engine,
)
from mcp_lok.policy import Engine, canonical_json

DOCKER = "unix:///var/run/docker.sock"
PODMAN = "unix:///run/podman/podman.sock"


def test_without_a_choice_the_well_known_sockets_are_tried_in_order() -> None:
    assert candidates(None, {}) == [DOCKER, PODMAN]
    assert candidates(None, {"XDG_RUNTIME_DIR": "/run/user/1000"}) == [
        DOCKER,
        PODMAN,
        "unix:///run/user/1000/podman/podman.sock",
    ]


def test_a_named_engine_tries_only_its_own_sockets() -> None:
    assert candidates("docker", {"DOCKER_HOST": "unix:///x.sock"}) == [DOCKER]
    assert candidates("podman", {"XDG_RUNTIME_DIR": "/r"}) == [
        PODMAN,
        "unix:///r/podman/podman.sock",
    ]


def test_a_socket_url_or_the_environment_is_the_only_candidate() -> None:
    assert candidates("unix:///tmp/relay.sock", {"DOCKER_HOST": DOCKER}) == [
        "unix:///tmp/relay.sock"
    ]
    assert candidates(None, {"DOCKER_HOST": "unix:///a.sock"}) == ["unix:///a.sock"]
    assert candidates(None, {"CONTAINER_HOST": "unix:///b.sock"}) == ["unix:///b.sock"]


def test_mcp_lok_engine_names_the_engine_before_the_engines_own_variables() -> None:
    both = {"MCP_LOK_ENGINE": "podman", "DOCKER_HOST": "unix:///a.sock"}
    assert named(None, both) == "podman"
    assert candidates(None, both) == [PODMAN]
    assert candidates(None, {"MCP_LOK_ENGINE": "unix:///c.sock"}) == ["unix:///c.sock"]
    assert candidates("docker", both) == [DOCKER]  # `--engine` first
    assert named(None, {"DOCKER_HOST": "unix:///a.sock"}) == "unix:///a.sock"
    assert named(None, {"XDG_RUNTIME_DIR": "/r"}) is None
    with pytest.raises(LokError, match="from MCP_LOK_ENGINE") as caught:
        named(None, {"MCP_LOK_ENGINE": "dockre"})
    assert caught.value.hint


def test_an_engine_mcp_lok_engine_names_must_be_that_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adapter.os.path, "exists", lambda path: True)
    fake = EngineClient(Engine.DOCKER, PODMAN, {}, None)
    monkeypatch.setattr(EngineClient, "connect", classmethod(lambda cls, url: fake))
    with pytest.raises(LokError, match=r"^the engine `podman` does not answer; .*is docker"):
        discover(None, {"MCP_LOK_ENGINE": "podman"})


def test_a_choice_names_a_servers_engine_by_kind_or_by_socket(tmp_path: Any) -> None:
    real = tmp_path / "docker.sock"
    real.touch()
    (tmp_path / "alias.sock").symlink_to(real)
    url = f"unix://{real}"
    assert same_engine("docker", "docker", url)
    assert not same_engine("podman", "docker", url)
    assert same_engine(f"unix://{tmp_path}/alias.sock", "docker", url)  # the same file
    assert not same_engine(PODMAN, "docker", url)
    assert elsewhere_problem("time", "docker", "docker", url) is None
    assert elsewhere_problem("time", "podman", "docker", url) == (
        f"`time` was started on docker ({url}), not on `podman`"
    )


@pytest.mark.parametrize("value", ["tcp://10.0.0.1:2375", "dockre", "unix://"])
def test_an_engine_that_is_not_a_local_socket_is_refused(value: str) -> None:
    # named on the command line: a usage error about `--engine`
    with pytest.raises(UsageError) as caught:
        candidates(value, {})
    (problem,) = caught.value.problems
    assert problem.field == "engine"
    assert problem.message == f"`{value}` is not an engine mcp-lok can use"
    assert problem.hint
    assert "unix:///var/run/docker.sock" in problem.hint
    # named by the environment: a failure, saying which variable
    with pytest.raises(LokError, match="from DOCKER_HOST"):
        candidates(None, {"DOCKER_HOST": value})


def test_the_engine_is_identified_from_its_ping() -> None:
    podman = {
        "Libpod-Api-Version": "4.3.1",
        "Server": "Libpod/4.3.1 (linux)",
        "Api-Version": "1.41",
    }
    assert identify_ping(podman) == (
        Engine.PODMAN,
        {"Version": "4.3.1", "Server": "Libpod/4.3.1 (linux)", "ApiVersion": "1.41"},
    )
    docker = {"Server": "Docker/20.10.24+dfsg1 (linux)", "Api-Version": "1.41"}
    assert identify_ping(docker)[0] is Engine.DOCKER
    assert identify_ping(docker)[1]["Version"] == "20.10.24+dfsg1"
    assert identify_ping({}) == (
        Engine.DOCKER,
        {"Version": "unknown", "Server": "", "ApiVersion": ""},
    )


def test_no_engine_says_what_was_tried_and_how_to_start_one(tmp_path: Any) -> None:
    dead = tmp_path / "dead.sock"
    with pytest.raises(LokError) as caught:
        discover(None, {"DOCKER_HOST": f"unix://{dead}"})
    assert str(dead) in caught.value.message
    assert "does not exist" in caught.value.message
    assert caught.value.hint
    assert "systemctl start docker" in caught.value.hint
    assert "systemctl start podman.socket" in caught.value.hint


def test_a_named_engine_that_turns_out_to_be_the_other_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(adapter.os.path, "exists", lambda path: True)
    fake = EngineClient(Engine.DOCKER, PODMAN, {}, None)
    monkeypatch.setattr(EngineClient, "connect", classmethod(lambda cls, url: fake))
    with pytest.raises(LokError, match="is docker, not podman"):
        discover("podman", {})
    assert discover(None, {}) is fake


def _api_error(status: int) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError("boom", response=response, explanation="the reason")


@pytest.mark.parametrize(
    ("raised", "kind"),
    [
        (_api_error(404), NotFound),
        (_api_error(409), Conflict),
        (_api_error(500), EngineError),
        (requests.exceptions.ConnectionError("refused"), EngineError),
        (requests.exceptions.ReadTimeout("slow"), EngineError),
        (docker.errors.DockerException("odd"), EngineError),
    ],
)
def test_sdk_errors_are_mapped_once_with_the_cause_kept(
    raised: Exception, kind: type[EngineError]
) -> None:
    with pytest.raises(kind) as caught, mapped("do a thing"):
        raise raised
    assert type(caught.value) is kind
    assert caught.value.__cause__ is raised
    assert "do a thing" in caught.value.message


def test_an_unreachable_engine_hints_at_starting_one() -> None:
    with pytest.raises(EngineError) as caught, mapped("list containers"):
        raise requests.exceptions.ConnectionError("refused")
    assert caught.value.hint == START_HINT


class RecordingAPI:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, bytes, dict[str, str]]] = []

    def _url(self, path: str) -> str:
        return f"http+docker://localhost/v1.41{path}"

    def _post(self, url: str, params: Any, data: bytes, headers: dict[str, str]) -> str:
        self.sent.append((url, params, data, headers))
        return "response"

    def _result(self, response: str, as_json: bool) -> dict[str, str]:
        return {"Id": "abc123"}


def test_a_create_body_is_sent_as_its_canonical_json_bytes() -> None:
    api = RecordingAPI()
    client = EngineClient(Engine.DOCKER, DOCKER, {}, api)
    body = {
        "Image": "x",
        "Env": ["B=2", "A=1"],
        "HostConfig": {"Memory": 1, "CapDrop": ["ALL"]},
        "Labels": {"é": "ü"},
    }
    assert client.create_container("mcp-lok-x", body) == "abc123"
    url, params, data, headers = api.sent[0]
    assert url.endswith("/containers/create")
    assert params == {"name": "mcp-lok-x"}
    assert data == canonical_json(body).encode()
    assert json.loads(data) == body
    assert headers == {"Content-Type": "application/json"}


def test_a_network_body_is_sent_unchanged() -> None:
    api = RecordingAPI()
    client = EngineClient(Engine.PODMAN, PODMAN, {}, api)
    body = {
        "Name": "mcp-lok-x",
        "Driver": "bridge",
        "Internal": False,
        "Labels": {"mcp-lok": "true"},
    }
    client.create_network(body)
    assert api.sent[0][0].endswith("/networks/create")
    assert api.sent[0][2] == canonical_json(body).encode()


class MissingImageAPI:
    def inspect_image(self, image: str) -> None:
        raise docker.errors.ImageNotFound(
            "no such image", response=None, explanation="no such image"
        )


@pytest.mark.parametrize("kind", [Engine.DOCKER, Engine.PODMAN])
def test_a_missing_image_hints_at_building_or_pulling_it(kind: Engine) -> None:
    client = EngineClient(kind, DOCKER, {}, MissingImageAPI())
    with pytest.raises(LokError) as caught:
        client.require_image("acme/thing:1")
    assert "`acme/thing:1`" in caught.value.message
    assert caught.value.hint
    assert f"{kind.value} pull acme/thing:1" in caught.value.hint
    assert "or build it" in caught.value.hint


class GoneAPI:
    def stop(self, container: str, timeout: int) -> None:
        raise _api_error(404)

    def remove_container(self, container: str, force: bool, v: bool) -> None:
        raise _api_error(404)

    def inspect_container(self, container: str) -> None:
        raise _api_error(404)


def test_stopping_or_removing_what_is_gone_is_not_an_error() -> None:
    client = EngineClient(Engine.DOCKER, DOCKER, {}, GoneAPI())
    client.stop("abc")
    client.remove_container("abc")
    assert client.inspect("abc") is None


def test_label_filters_are_rechecked_on_what_the_engine_returns() -> None:
    class API:
        def containers(self, all: bool, filters: Any) -> list[dict[str, Any]]:
            assert filters == {"label": ["mcp-lok=true", "mcp-lok-name=a"]}
            return [
                {"Id": "1", "Labels": {"mcp-lok": "true", "mcp-lok-name": "a"}},
                {"Id": "2", "Labels": {"mcp-lok": "true", "mcp-lok-name": "b"}},
                {"Id": "3", "Labels": None},
            ]

    client = EngineClient(Engine.DOCKER, DOCKER, {}, API())
    found = client.containers({"mcp-lok": "true", "mcp-lok-name": "a"})
    assert [c["Id"] for c in found] == ["1"]
