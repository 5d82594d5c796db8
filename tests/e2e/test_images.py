"""Servers straight from PyPI (features/images.feature), on real Docker and Podman.

`mcp-lok build uvx://mcp-server-time` resolves on this host with its pip (PyPI is reached
through the host's configuration) and builds on the engine; the image is removed first so
that every run builds it for real, and removed again afterwards. The server is started
through the spec and driven only through the URLs `mcp-lok start` prints, by the official
MCP SDK client. Refusals are asked of the real index.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from .conftest import MCP_LOK, SdkClient, World, assert_time_in, lok_list, tool_json
from .engines import EngineUnderTest, unique_name

scenarios("images.feature")

pytestmark = pytest.mark.timeout(400)  # a cold build on a busy machine; every step is bounded

BUILD_TIMEOUT = 300  # seconds a cold `build` may take: pip resolves and unpacks ~30 wheels
SPEC_LABEL = "io.mcp-lok.spec"
PACKAGES_LABEL = "io.mcp-lok.packages"
SBOM_LABEL = "io.mcp-lok.sbom"
REQUEST = "io.mcp-lok.request"
# the host's pip, made unable to reach any index: a build that resolved would fail
NO_INDEX = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": ""}


def lok(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MCP_LOK, *args],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
        env={**os.environ, **(env or {})},
    )


def images_of(engine: EngineUnderTest, spec: str) -> list[dict[str, Any]]:
    """The images mcp-lok built of `spec` (as asked, or resolved) on the engine."""
    found = engine.api.images(filters={"label": [SPEC_LABEL]})
    labelled = [(image, image.get("Labels") or {}) for image in found]
    return [i for i, labels in labelled if spec in (labels.get(SPEC_LABEL), labels.get(REQUEST))]


@pytest.fixture
def built_images(engines: dict[str, EngineUnderTest]) -> Iterator[list[tuple[str, str]]]:
    """(engine, image) a scenario built; removed afterwards."""
    made: list[tuple[str, str]] = []
    yield made
    for name, image in made:
        with contextlib.suppress(docker.errors.APIError):
            engines[name].api.remove_image(image)


@given(parsers.parse('no image of "{spec}" on the engine'))
def no_image(world: World, spec: str) -> None:
    engine: EngineUnderTest = world["engine"]
    for image in images_of(engine, spec):
        for tag in image.get("RepoTags") or [image["Id"]]:
            engine.api.remove_image(tag)
    assert images_of(engine, spec) == []


@when(parsers.parse('`mcp-lok build` builds "{spec}"'))
def build(world: World, built_images: list[tuple[str, str]], spec: str) -> None:
    engine: EngineUnderTest = world["engine"]
    result = lok("build", "--engine", engine.name, "--format", "json", spec)
    assert result.returncode == 0, result.stderr
    world["built"] = json.loads(result.stdout)
    built_images.append((engine.name, world["built"]["image"]))


@when(parsers.parse('`mcp-lok build` builds "{spec}" again with no package index reachable'))
def build_again(world: World, spec: str) -> None:
    engine: EngineUnderTest = world["engine"]
    result = lok("build", "--engine", engine.name, "--format", "json", spec, env=NO_INDEX)
    assert result.returncode == 0, result.stderr
    world["again"] = json.loads(result.stdout)


@then("the image is new, and its labels record the spec, every resolved version and the SBOM")
def labels_recorded(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    built = world["built"]
    assert built["built"] is True, built
    labels = engine.api.inspect_image(built["image"])["Config"]["Labels"]
    version = built["packages"]["mcp-server-time"]
    assert labels[SPEC_LABEL] == built["spec"] == f"uvx://mcp-server-time@{version}", labels
    assert labels["io.mcp-lok.request"] == "uvx://mcp-server-time", labels
    assert json.loads(labels[PACKAGES_LABEL]) == built["packages"], labels
    assert {"mcp", "pydantic", "tzdata"} <= set(built["packages"]), built
    assert labels[SBOM_LABEL] == "/opt/mcp-lok/sbom.cdx.json", labels
    assert labels["io.mcp-lok.entrypoint"] == built["entrypoint"] == "mcp-server-time", labels
    world["labels"] = labels


def read_file(engine: EngineUnderTest, image: str, path: str) -> bytes:
    """A file of the image, read from a container that is created and never started."""
    name = unique_name("e2e-sbom")
    created = engine.api.create_container(image, name=name, network_disabled=True)
    try:
        stream, _ = engine.api.get_archive(created["Id"], path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile(tar.getmembers()[0])
            assert member is not None
            return member.read()
    finally:
        engine.api.remove_container(created["Id"], force=True)


@then("the SBOM in the image lists every package of the labels, with a hash for each of its files")
def sbom_lists(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    labels = world["labels"]
    raw = read_file(engine, world["built"]["image"], labels[SBOM_LABEL])
    assert hashlib.sha256(raw).hexdigest() == labels["io.mcp-lok.sbom-sha256"]
    bom = json.loads(raw)
    assert bom["bomFormat"] == "CycloneDX", bom.keys()
    listed = {c["name"].lower().replace("_", "-"): c for c in bom["components"]}
    packages = json.loads(labels[PACKAGES_LABEL])
    assert set(listed) == set(packages), set(listed) ^ set(packages)
    for name, version in packages.items():
        component = listed[name]
        assert component["version"] == version, component["name"]
        assert component["purl"] == f"pkg:pypi/{name}@{version}", component["purl"]
        assert len(component["hashes"][0]["content"]) == 64, component["name"]
        files = component["components"]
        assert files, f"{name} lists no file"
        for entry in files:
            assert entry["name"].startswith("/opt/mcp-lok/site-packages/"), entry
            assert len(entry["hashes"][0]["content"]) == 64, entry
    # one file, checked against the image itself: the server's own module
    server = next(
        f for f in listed["mcp-server-time"]["components"] if f["name"].endswith("/server.py")
    )
    content = read_file(engine, world["built"]["image"], server["name"])
    assert hashlib.sha256(content).hexdigest() == server["hashes"][0]["content"]


@then("`mcp-lok images` lists the image with its spec and versions")
def images_listed(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    result = lok("images", "--engine", engine.name, "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {row["image"]: row for row in json.loads(result.stdout)}
    row = rows[world["built"]["image"]]
    assert row["spec"] == world["built"]["spec"], row
    assert row["packages"] == world["built"]["packages"], row
    assert row["size"] > 50_000_000, row


@then("the same image is used, not built again")
def same_image(world: World) -> None:
    again, built = world["again"], world["built"]
    assert again["built"] is False, again
    assert again["image"] == built["image"], (again, built)


@when(parsers.parse('`mcp-lok start` runs the package "{spec}"'))
def start_package(world: World, lok_servers: list[str], spec: str) -> None:
    engine: EngineUnderTest = world["engine"]
    name = unique_name("e2e")
    lok_servers.append(name)
    result = lok("start", "--format", "json", "--engine", engine.name, "--name", name, spec)
    assert result.returncode == 0, result.stderr
    world["started"] = json.loads(result.stdout)
    world["name"] = name
    assert lok_list()[name]["image"] == world["built"]["image"]


@then("`mcp-lok inspect` shows the spec and the versions it was built from")
def inspect_shows(world: World) -> None:
    result = lok("inspect", "--format", "json", world["name"])
    assert result.returncode == 0, result.stderr
    package = json.loads(result.stdout)["package"]
    assert package["spec"] == world["built"]["spec"], package
    assert package["packages"] == world["built"]["packages"], package
    assert package["sbom"] == "/opt/mcp-lok/sbom.cdx.json", package
    human = lok("inspect", world["name"])
    assert f"package:   {world['built']['spec']} (" in human.stdout, human.stdout


@when(parsers.parse('`mcp-lok build` is asked for "{spec}"'))
def build_refused(world: World, spec: str) -> None:
    engine: EngineUnderTest = world["engine"]
    world["result"] = lok("build", "--engine", engine.name, spec)


@then(parsers.parse('no image of "{spec}" was built'))
def none_built(world: World, spec: str) -> None:
    assert world["result"].stdout == ""
    assert images_of(world["engine"], spec) == []


@pytest.fixture
def foreground() -> Iterator[list[subprocess.Popen[str]]]:
    """`mcp-lok run` processes a scenario started; killed afterwards if still running."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def stderr_until_snippet(process: subprocess.Popen[str], timeout: float) -> str:
    """`run`'s stderr up to the end of the client config it prints (read in a thread, so
    the wait is bounded)."""
    lines: list[str] = []
    done = threading.Event()

    def reader() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if line.rstrip() == "}" and any("client config:" in seen for seen in lines):
                break
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    assert done.wait(timeout), "".join(lines)
    return "".join(lines)


@when(parsers.parse('`mcp-lok run` runs the package "{spec}" in the foreground'))
def run_package(
    world: World, lok_servers: list[str], foreground: list[subprocess.Popen[str]], spec: str
) -> None:
    engine: EngineUnderTest = world["engine"]
    name = unique_name("e2e")
    lok_servers.append(name)
    process = subprocess.Popen(
        [MCP_LOK, "run", "--engine", engine.name, "--name", name, spec],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    foreground.append(process)
    text = stderr_until_snippet(process, timeout=90)
    entry = json.loads(text.split("client config:", 1)[1])["mcpServers"][name]
    world["run"] = {"process": process, "url": entry["url"], "headers": entry["headers"]}


@then(
    parsers.parse(
        'an SDK client gets the current time in "{zone}" through the URL and token it printed'
    )
)
def run_answers(world: World, zone: str) -> None:
    client = SdkClient(world["run"]["url"], world["run"]["headers"])
    try:
        assert client.connect().server_info.name == "mcp-time"
        answer = client.run(lambda s: s.call_tool("get_current_time", {"timezone": zone}))
    finally:
        client.close()  # before the Ctrl-C: the session ends as a client's would
    assert not answer.is_error, answer
    assert_time_in(tool_json(answer), zone)


@then("after Ctrl-C it says the server is stopped and removed, and exits 0")
def run_interrupted(world: World) -> None:
    process: subprocess.Popen[str] = world["run"]["process"]
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    assert "stopped and removed" in rest, rest
