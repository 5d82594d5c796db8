"""The escape matrix's identity scenarios (`test_escape.py` runs them): a group that may open
the host's Docker socket is root by another name, a name the image maps to uid 0 is root,
the gate's uid is the gate's — each refused before anything is created — and a name or a
lone uid that the image resolves reaches the engine as `uid:gid` numbers, so the server
runs with no supplementary group even where the image's /etc/group lists it in the socket's
group. `audit` reads the groups the kernel really holds.

The image is built here, once per engine and test session, `FROM mcp-lok/base` with RUN
steps that need no network, labelled, and removed by id when the session ends.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from pytest_bdd import given, parsers, then, when

from .conftest import MCP_LOK, World, image_required, mcp_lok
from .engines import PROBE_IMAGE, SOCKETS, EngineUnderTest, unavailable, unique_name

SERVER = ["python3", "-c", "import time; time.sleep(600)"]  # a server that only waits
TEST_LABEL = "mcp-lok-test"
WAIT = 30.0  # seconds for a started server's processes to appear


def socket_gid() -> int:
    """The group of the host's Docker socket: whoever is in it controls Docker."""
    try:
        return os.stat(SOCKETS["docker"]).st_gid
    except OSError:
        unavailable(f"{SOCKETS['docker']} does not exist: no group to test with")
        raise  # pragma: no cover - `unavailable` fails or skips


@pytest.fixture(scope="session")
def identity_images() -> Iterator[dict[str, tuple[str, str]]]:
    """Engine name → the tag and id of the identity test image built on it this session
    (built on demand), removed by id at the end."""
    built: dict[str, tuple[str, str]] = {}
    yield built
    for name, (_, image_id) in built.items():
        api = docker.APIClient(base_url=f"unix://{SOCKETS[name]}", version="1.41", timeout=120)
        with contextlib.suppress(docker.errors.APIError):
            api.remove_image(image_id, force=True)


def build_identity_image(engine: EngineUnderTest, images: dict[str, tuple[str, str]]) -> str:
    if engine.name in images:
        return images[engine.name][0]
    image_required(engine, PROBE_IMAGE)
    gid = socket_gid()
    recipe = (
        f"FROM {PROBE_IMAGE}\n"
        "RUN echo 'toor:x:0:0::/:/bin/sh' >> /etc/passwd"
        f" && echo 'docker:x:{gid}:nobody' >> /etc/group\n"
    )
    tag = f"mcp-lok-test/identity:{unique_name('s')}"
    output = engine.api.build(
        fileobj=io.BytesIO(recipe.encode()),
        tag=tag,
        labels={TEST_LABEL: "identity"},
        network_mode="none",
        pull=False,
        rm=True,
        decode=True,
    )
    failures = [line for line in output if "error" in line or "errorDetail" in line]
    assert not failures, failures
    images[engine.name] = (tag, str(engine.api.inspect_image(tag)["Id"]))
    return tag


# --- given / when ------------------------------------------------------------------------------


@given(
    "an image whose /etc/passwd maps `toor` to root and whose /etc/group puts `nobody` "
    "in the group of the host's Docker socket"
)
def identity_image(world: World, identity_images: dict[str, tuple[str, str]]) -> None:
    engine: EngineUnderTest = world["engine"]
    world["image"] = build_identity_image(engine, identity_images)
    world["socket_gid"] = socket_gid()


@given(parsers.parse('a policy for the user "{user}"'))
def user_policy(world: World, tmp_path: Path, user: str) -> None:
    spelled = user.format(socket=world["socket_gid"])
    path = tmp_path / "identity.lok"
    path.write_text(f"extends stdio\nuser {spelled}\n")
    world["source"], world["user"] = str(path), spelled


@when("`mcp-lok start` runs that image under it")
def start_identity(world: World, lok_servers: list[str]) -> None:
    engine: EngineUnderTest = world["engine"]
    name = unique_name("e2e-id")
    lok_servers.append(name)  # before starting: a half-done start is cleaned up too
    world["name"] = name
    command = [
        MCP_LOK, "start", "--no-wait", "--format", "json", "--engine", engine.name, "--name", name,
        "--permission-profile", world["source"], world["image"], "--", *SERVER,
    ]  # fmt: skip
    world["result"] = mcp_lok(*command[1:])


# --- then: refused ------------------------------------------------------------------------------


@then(parsers.parse('it exits 3 with "{code}" saying "{words}"'))
def refused(world: World, code: str, words: str) -> None:
    result = world["result"]
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert f"error[{code}]" in result.stderr, result.stderr
    assert words.format(socket=world["socket_gid"]) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{world['source']}:2:1: error[{code}]" in result.stderr, result.stderr


@then("nothing was created for the server")
def nothing_created(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    name = world["name"]
    assert engine.api.containers(all=True, filters={"label": f"mcp-lok-name={name}"}) == []
    # the container that read the image's files was removed too
    assert engine.api.containers(all=True, filters={"label": "mcp-lok-reader"}) == []
    assert not Path(f"/run/mcp-lok/{name}").exists()
    assert name not in mcp_lok("list", "--all", "--format", "json").stdout


# --- then: started -----------------------------------------------------------------------------


def server_container(world: World) -> dict[str, Any]:
    result = world["result"]
    assert result.returncode == 0, result.stderr
    state = json.loads(Path(f"/run/mcp-lok/{world['name']}/state.json").read_text())
    engine: EngineUnderTest = world["engine"]
    end = time.monotonic() + WAIT
    while True:
        seen = engine.inspect(state["container_id"])
        if seen["State"]["Running"] and seen["State"]["Pid"]:
            return seen
        assert time.monotonic() < end, seen["State"]
        time.sleep(0.2)


@then(parsers.parse('the server\'s container was created with `User` "{user}"'))
def created_as(world: World, user: str) -> None:
    seen = server_container(world)
    assert seen["Config"]["User"] == user, seen["Config"]
    world["server"] = seen


def statuses(pid: int) -> list[dict[str, list[int]]]:
    """The ids of `pid` and of its children, from the host's /proc."""
    found = []
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for each in [pid, *map(int, children)]:
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{each}/status").read_text().splitlines()
        )
        found.append({k: [int(v) for v in fields[k].split()] for k in ("Uid", "Gid", "Groups")})
    return found


@then("the server's processes run as uid 65534 and gid 65534 in no other group")
def no_other_group(world: World) -> None:
    pid = world["server"]["State"]["Pid"]
    end = time.monotonic() + WAIT
    while len(found := statuses(pid)) < 2:  # the engine's init, then the server under it
        assert time.monotonic() < end, found
        time.sleep(0.2)
    for ids in found:
        assert set(ids["Uid"]) == {65534}, ids
        assert set(ids["Gid"]) == {65534}, ids
        assert set(ids["Groups"]) <= {65534}, ids
        assert world["socket_gid"] not in ids["Groups"], ids


@when("a process is started in the server with the group of the Docker socket, by hand")
def exec_in_socket_group(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    container = world["server"]["Id"]
    made = engine.api.exec_create(container, ["sleep", "60"], user=f"65534:{world['socket_gid']}")
    engine.api.exec_start(made["Id"], detach=True)
    end = time.monotonic() + WAIT
    while not engine.api.exec_inspect(made["Id"]).get("Running"):
        assert time.monotonic() < end, engine.api.exec_inspect(made["Id"])
        time.sleep(0.2)


@then("`mcp-lok audit` exits 3 and reports that process in the socket's group")
def audit_reports_group(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    result = mcp_lok("audit", "--engine", engine.name, "--format", "json", world["name"])
    assert result.returncode == 3, result.stderr
    (server,) = json.loads(result.stdout)["servers"]
    notes = [n["message"] for n in server["notes"]]
    words = f"(`sleep`) runs in the group {world['socket_gid']} (it may open"
    assert any(words in n and "its plan does not acknowledge" in n for n in notes), notes
    assert server["drifted"], server
    assert "privileged-group" in {row["kind"] for row in server["exposure"]}, server
