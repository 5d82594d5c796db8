"""The escape matrix's scenarios for issue 11's findings 5-7 (`test_escape.py` runs them):
a file that is not a policy is never printed, wherever it is named; mcp-lok removes only
what it created, never a container that merely carries its labels; a running server's
files are its owner's alone and its proxy requires the bearer token `start` printed.
"""

from __future__ import annotations

import json
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import docker
from pytest_bdd import given, parsers, then, when

from .conftest import World, lok_list, mcp_lok, proxy_auth, proxy_url
from .engines import EngineUnderTest, unique_name

RUNTIME = Path("/run/mcp-lok")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
SHADOW = (
    "root:$6$Vq2x1T0Zm$u0pLqJ3nXxK9fE8rW4yH7sD2aB5cG1hN6mQ0tR3vZ8kP9jL4wE7iU2oY5x:19800:0:99999:7:::\n"
    "mcpuser:$y$j9T$Zk3QfG8sX1$pWq2LxV7nB4mR9tY6uE3oI1aS5dF8gH0jK2lZ4:19800:0:99999:7:::\n"
)
WORDS = ("$6$", "$y$", "Vq2x1T0Zm", "pWq2LxV7", "root:", "mcpuser", "19800")


# --- diagnostics show only policy text --------------------------------------------------------


@given(parsers.parse('a file of `/etc/shadow`-like lines named "{name}"'))
def shadow_file(world: World, tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(SHADOW)
    world.setdefault("files", {})[name] = tmp_path / name


@given(parsers.parse('a link "{name}" to a file of such lines with no extension'))
def shadow_link(world: World, tmp_path: Path, name: str) -> None:
    target = tmp_path / "shadow-copy"
    target.write_text(SHADOW)
    (tmp_path / name).symlink_to(target)
    world.setdefault("files", {})[name] = tmp_path / name


def sources(world: World, tmp_path: Path, datatable: list[list[str]]) -> list[tuple[str, int]]:
    """The SOURCE of each row and the exit code it must end with: a file of the scenario,
    `/etc/shadow`, or a policy that extends one of them (written next to them, with a good
    first statement)."""
    found = []
    for row, code in datatable[1:]:
        row = row.strip()
        target = row.removeprefix("a policy that extends ")
        if target != row:
            policy = tmp_path / f"extends-{len(found)}.lok"
            policy.write_text(f'read /srv\nextends "{target}"\n')
            found.append((str(policy), int(code)))
        else:
            found.append((str(world["files"].get(row, row)), int(code)))
    return found


def secret_words() -> list[str]:
    """Pieces of the real `/etc/shadow` that must never be printed (its hashes)."""
    words = []
    for line in Path("/etc/shadow").read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 1 and len(fields[1]) > 3:
            words.append(fields[1])
    return words


@then(parsers.parse("`mcp-lok policy validate` prints no word of them, nor of `/etc/shadow`, for:"))
def validate_prints_nothing(world: World, tmp_path: Path, datatable: list[list[str]]) -> None:
    world["sources"] = sources(world, tmp_path, datatable)
    forbidden = [*WORDS, *secret_words()]
    for source, code in world["sources"]:
        for fmt in ("human", "json"):
            done = mcp_lok("policy", "validate", "--format", fmt, source)
            assert done.returncode == code, (source, done.stderr)
            printed = done.stdout + done.stderr
            assert not [w for w in forbidden if w in printed], (source, printed)
            codes = ("source.not-a-policy", "source.unknown-kind")
            assert any(code in printed for code in codes), (source, printed)


@then(
    "`mcp-lok start` under each of them prints no word of them, exits as validate did and "
    "creates nothing"
)
def start_prints_nothing(world: World, lok_servers: list[str]) -> None:
    engine: EngineUnderTest = world["engine"]
    forbidden = [*WORDS, *secret_words()]
    for source, code in world["sources"]:
        name = unique_name("e2e-nap")
        lok_servers.append(name)
        done = mcp_lok("start", "--engine", engine.name, "--name", name,
                       "--permission-profile", source, "mcp-lok/mcp-server-time")  # fmt: skip
        assert done.returncode == code, (source, done.stderr)
        printed = done.stdout + done.stderr
        assert not [w for w in forbidden if w in printed], (source, printed)
        assert not (RUNTIME / name).exists(), source
        label = {"label": f"mcp-lok-name={name}"}
        assert engine.api.containers(all=True, filters=label) == [], source


# --- private by default ------------------------------------------------------------------------


def as_nobody(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NOBODY, *command], capture_output=True, text=True, timeout=30)


@then("another user can neither list the server's folder nor read its state or its proxy log")
def other_user_locked_out(world: World) -> None:
    folder = RUNTIME / world["name"]
    state, log = folder / "state.json", folder / "proxy.log"
    assert state.is_file()
    assert log.is_file()
    for command in (["ls", str(RUNTIME)], ["ls", str(folder)], ["cat", str(state)],
                    ["cat", str(log)], ["cat", str(folder / "plan.json")]):  # fmt: skip
        done = as_nobody(*command)
        assert done.returncode != 0, (command, done.stdout)
        assert "Permission denied" in done.stderr, (command, done.stderr)
        assert done.stdout == "", command
    # the same user, in a process of its own: it is the folders that keep it out
    assert as_nobody("id", "-u").stdout.strip() == "65534"


@then("the runtime folders are 0700, and mcp-lok's own files in them 0600")
def private_modes(world: World) -> None:
    folder = RUNTIME / world["name"]

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(RUNTIME) == 0o700
    assert mode(folder) == 0o700
    for name in ("state.json", "proxy.log", "plan.json"):
        assert mode(folder / name) == 0o600, name
    assert mode(RUNTIME / ".launcher.lock") == 0o600


def post(world: World, headers: dict[str, str], path: str = "/mcp") -> int:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "e2e", "version": "0"}}}  # fmt: skip
    request = urllib.request.Request(
        proxy_url(world, "/mcp").removesuffix("/mcp") + path,
        data=json.dumps(body).encode() if path == "/mcp" else None,
        method="POST" if path == "/mcp" else "GET",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        refused.close()
        return int(refused.code)


@then("a request to the proxy without the token is answered 401, and with it 200")
def token_required(world: World) -> None:
    assert world["started"]["auth"] is True
    assert post(world, {}) == 401
    assert post(world, {"Authorization": "Bearer " + "x" * 43}) == 401
    assert post(world, proxy_auth(world)) == 200
    assert post(world, {}, "/health") == 200  # for monitors: it tells nothing of the server


@then("`mcp-lok inspect` shows the server, and its token only with --show-token")
def inspect_shows(world: World) -> None:
    token = world["started"]["token"]
    human = mcp_lok("inspect", world["name"])
    assert human.returncode == 0, human.stderr
    assert token not in human.stdout
    assert f"url:       {world['started']['url']}" in human.stdout
    found = json.loads(mcp_lok("inspect", world["name"], "--format", "json").stdout)
    assert "token" not in found
    assert found["auth"] is True
    assert found["container"]["id"] == world["container"]
    assert found["status"] == "running"
    shown = json.loads(mcp_lok("inspect", world["name"], "--format", "json", "--show-token").stdout)
    assert shown["token"] == token
    # the nonce every object of the launch carries
    labels = world["engine"].inspect(world["container"])["Config"]["Labels"]
    assert labels["mcp-lok-launch"] == found["launch"]


# --- mcp-lok acts only on what it created -------------------------------------------------------


def look_alike(world: World, body: dict[str, Any]) -> None:
    engine: EngineUnderTest = world["engine"]
    container = engine.create(body, unique_name("e2e-hand"))  # removed by id afterwards
    engine.api.start(container)
    world.setdefault("look_alikes", []).append(container)


@given("a container made by hand with the labels `mcp-lok=true` and `mcp-lok-name` of that server")
def labelled_by_hand(world: World) -> None:
    labels = {"mcp-lok": "true", "mcp-lok-name": world["name"], "mcp-lok-role": "server"}
    # Podman's default limits exceed this host's hard limits
    limits = [{"Name": n, "Soft": 1024, "Hard": 1024} for n in ("nofile", "nproc")]
    body = {"Image": "mcp-lok/base:latest", "Cmd": ["sleep", "300"], "Labels": labels,
            "HostConfig": {"Ulimits": limits, "NetworkMode": "none"}}  # fmt: skip
    look_alike(world, body)


@given("a container made by hand from `mcp-lok policy compile`'s plan for that server's name")
def compiled_by_hand(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    compiled = mcp_lok("policy", "compile", "stdio", "--image", "mcp-lok/mcp-server-time",
                       "--engine", engine.name, "--name", world["name"])  # fmt: skip
    assert compiled.returncode == 0, compiled.stderr
    plan = json.loads(compiled.stdout)
    assert plan["container"]["Labels"]["mcp-lok-launch"] == "${launch}"
    look_alike(world, plan["container"])


@when("I remove the server with `mcp-lok rm --force`")
@when("I remove the server with `mcp-lok rm --force` again")
def remove_force(world: World) -> None:
    world["removed"] = mcp_lok("rm", "--force", world["name"])


def running(world: World, container: str) -> bool:
    engine: EngineUnderTest = world["engine"]
    try:
        return bool(engine.inspect(container)["State"]["Running"])
    except docker.errors.NotFound:
        return False


@then("the server's own container is gone and both look-alikes still run")
def own_gone(world: World) -> None:
    assert world["removed"].returncode == 0, world["removed"].stderr
    assert not running(world, world["container"])
    assert [running(world, c) for c in world["look_alikes"]] == [True, True]


@then("`mcp-lok rm` said it left both alone")
def said_left(world: World) -> None:
    said = world["removed"].stderr
    assert "left alone" in said, said
    for container in world["look_alikes"]:
        assert container[:12] in said, said


@then(parsers.parse('`mcp-lok list --all` shows both as "{status}", not created by mcp-lok'))
def listed_foreign(status: str, world: World) -> None:
    result = mcp_lok("list", "--all", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {r["container"]: r for r in json.loads(result.stdout)}
    for container in world["look_alikes"]:
        row = rows[container]
        assert (row["name"], row["status"]) == (world["name"], status), row
        assert "not created by mcp-lok" in row["note"], row
    assert world["name"] not in {r["name"] for r in lok_list().values() if r["status"] != status}


@then("`mcp-lok audit` reports both as not created by mcp-lok")
def audit_reports(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    done = mcp_lok("audit", "--engine", engine.name, "--format", "json", world["name"])
    assert done.returncode == 3, done.stderr  # a finding
    found = json.loads(done.stdout)["servers"]
    ids = {c["id"] for s in found for c in s["containers"]}
    assert ids == set(world["look_alikes"]), found
    for server in found:
        assert server["recorded"] is False, server
        assert "not created by mcp-lok" in server["notes"][0]["message"], server


@then("it fails naming both look-alikes, which still run")
def fails_naming(world: World) -> None:
    done = world["removed"]
    assert done.returncode == 1, done.stderr
    assert "were not created by mcp-lok" in done.stderr, done.stderr
    for container in world["look_alikes"]:
        assert container[:12] in done.stderr, done.stderr
    assert [running(world, c) for c in world["look_alikes"]] == [True, True]
