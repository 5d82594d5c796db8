"""Feature area: CLI commands (features/cli.feature)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from pytest_bdd import given, parsers, scenarios, then, when

from .conftest import MCP_LOK, SdkClient, World, lok_list, lok_start, mcp_lok
from .engines import EngineUnderTest

# steps of `restart`, `inspect` and `logs`, imported so that pytest-bdd finds them here
from .verbs_steps import *  # noqa: F403

scenarios("cli.feature")

REPO = Path(__file__).resolve().parents[2]


@when(parsers.parse("I run `mcp-lok {command}` twice"))
def run_twice(world: World, command: str) -> None:
    world["runs"] = [mcp_lok(*command.split()) for _ in range(2)]


@when(parsers.parse("I run `mcp-lok {command}`"))
def run_once(world: World, command: str) -> None:
    world["result"] = mcp_lok(*command.split())


@when(parsers.parse("I run `mcp-lok {command}` from the repository"))
def run_in_repository(world: World, command: str) -> None:
    world["result"] = subprocess.run(
        [MCP_LOK, *command.split()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


@then("both outputs are byte-identical")
def identical(world: World) -> None:
    first, second = world["runs"]
    assert first.returncode == second.returncode == 0, first.stderr
    assert first.stdout == second.stdout


@then("the output is a plan with a container, networks and a gate")
def plan_shape(world: World) -> None:
    plan = json.loads(world["runs"][0].stdout)
    assert plan["container"]["Image"] == "mcp-lok/mcp-server-time"
    assert plan["container"]["HostConfig"]["CapDrop"] == ["ALL"]
    assert plan["networks"] == []
    assert plan["gate"] is None


@then(parsers.parse('stdout starts with "{text}"'))
def stdout_starts(world: World, text: str) -> None:
    assert world["result"].stdout.startswith(text)


@given("a wheel built from the repository", target_fixture="wheel")
def wheel(tmp_path: Path) -> Path:
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True,
        timeout=300,
    )
    [built] = out.glob("mcp_lok-*.whl")
    return built


@when("I install it into a fresh virtualenv", target_fixture="venv_bin")
def fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, timeout=600
    )
    return venv / "bin"


@then("`mcp-lok version` there prints the project's version")
def wheel_version(venv_bin: Path) -> None:
    from mcp_lok.launcher.version import __version__

    done = subprocess.run(
        [str(venv_bin / "mcp-lok"), "version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[0] == f"mcp-lok {__version__}"


@then("`mcp-lok policy compile` there compiles a policy file without Lark installed")
def wheel_compiles(venv_bin: Path, tmp_path: Path) -> None:
    policy = tmp_path / "p.lok"
    policy.write_text("extends stdio\nlimit memory 256M\n")
    # run from elsewhere, so nothing can come from the repository's working tree
    done = subprocess.run(
        [str(venv_bin / "mcp-lok"), "policy", "compile", str(policy), "--image", "x"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["container"]["HostConfig"]["Memory"] == 256 * 1024**2
    located = subprocess.run(
        [str(venv_bin / "python"), "-c", "import mcp_lok.policy as p; print(p.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert located.stdout.startswith(str(venv_bin.parent)), located.stdout
    # the generated parser is enough: Lark is a development dependency only
    lark = subprocess.run(
        [str(venv_bin / "python"), "-c", "import lark"], capture_output=True, cwd=tmp_path
    )
    assert lark.returncode != 0


@then("`mcp-lok` there, spawned by an SDK client over stdio, lists its tools")
def wheel_serves_mcp(venv_bin: Path, tmp_path: Path) -> None:
    """The MCP server's subpackage and the SDK, a runtime dependency, are in the install."""

    async def tools() -> list[str]:
        spawned = StdioServerParameters(command=str(venv_bin / "mcp-lok"), cwd=tmp_path)
        async with stdio_client(spawned) as streams, ClientSession(*streams[:2]) as session:
            await session.initialize()
            return sorted(tool.name for tool in (await session.list_tools()).tools)

    names = asyncio.run(asyncio.wait_for(tools(), 60))
    assert "run_server" in names, names
    assert "explain_policy" in names, names


@when("I run the demo")
def run_demo(world: World) -> None:
    world["demo"] = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@then("it prints the current time in Europe/Paris, answered through the proxy")
def demo_answer(world: World) -> None:
    done = world["demo"]
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["timezone"] == "Europe/Paris"
    assert "through the proxy" in done.stderr


@then("it leaves no server behind")
def demo_clean(world: World) -> None:
    names = [row["name"] for row in json.loads(mcp_lok("list", "--all", "--format", "json").stdout)]
    assert not [name for name in names if name.startswith("demo-")], names


# --- one view of every server, on both engines ---------------------------------------------


@then("stdout names docker and podman, each with its version and socket")
def version_names_both(world: World) -> None:
    lines = world["result"].stdout.splitlines()
    assert re.fullmatch(r"engine: docker \S+ \(unix:///var/run/docker\.sock\)", lines[1]), lines
    assert re.fullmatch(r"engine: podman \S+ \(unix:///run/podman/podman\.sock\)", lines[2]), lines


@when(parsers.parse("I run `mcp-lok {command}` with MCP_LOK_ENGINE={value}"))
def run_with_engine_variable(world: World, command: str, value: str) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "CONTAINER_HOST")}
    world["result"] = subprocess.run(
        [MCP_LOK, *command.split()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**environ, "MCP_LOK_ENGINE": value},
    )


@then(parsers.parse("the JSON names {kind} only"))
def json_names_only(world: World, kind: str) -> None:
    found = json.loads(world["result"].stdout)
    assert [e["kind"] for e in found["engines"]] == [kind], found
    assert found["not_answering"] == [], found


@given(parsers.parse('`mcp-lok start` runs "{image}" on docker and on podman'))
def start_on_both(
    world: World, engines: dict[str, EngineUnderTest], lok_servers: list[str], image: str
) -> None:
    world["on"] = {}
    for kind in ("docker", "podman"):
        world["engine"] = engines[kind]
        lok_start(world, lok_servers, image)
        world["on"][kind] = world["name"]


@then("`mcp-lok list` shows both servers at once, each on its engine")
def list_shows_both(world: World) -> None:
    listed = mcp_lok("list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0][:6] == ["NAME", "STATUS", "TRANSPORT", "URL", "IMAGE", "ENGINE"], rows
    for kind, name in world["on"].items():
        (row,) = [r for r in rows if r[0] == name]
        assert (row[1], row[5]) == ("running", kind), row
    assert "does not answer" not in listed.stderr, listed.stderr


def audited(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """`mcp-lok audit --format json`'s servers: name → engine."""
    return {s["name"]: s["engine"] for s in json.loads(result.stdout)["servers"]}


@then("`mcp-lok audit` of the podman server without `--engine` audits it on podman")
def audit_named_on_podman(world: World) -> None:
    name = world["on"]["podman"]
    result = mcp_lok("audit", "--format", "json", name)
    assert result.returncode == 0, result.stderr
    assert audited(result) == {name: "podman"}
    human = mcp_lok("audit", name)
    assert human.returncode == 0, human.stderr
    assert human.stdout.startswith(f"{name} on podman: matches its plan"), human.stdout


@then("`mcp-lok audit --all` audits both servers, each on its engine")
def audit_all_on_both(world: World) -> None:
    result = mcp_lok("audit", "--all", "--format", "json")
    # 3 would be another server on this machine that drifted: not this scenario's business
    assert result.returncode in (0, 3), result.stderr
    found = audited(result)
    for kind, name in world["on"].items():
        assert found.get(name) == kind, (name, found)
    assert "does not answer" not in result.stderr, result.stderr


@then("`mcp-lok audit --engine docker` of the podman server exits 2 saying where it was started")
def audit_elsewhere_refused(world: World) -> None:
    name = world["on"]["podman"]
    result = mcp_lok("audit", "--engine", "docker", name)
    assert result.returncode == 2, result.stderr
    assert (
        f"Invalid value for '--engine': `{name}` was started on podman "
        "(unix:///run/podman/podman.sock), not on `docker`"
    ) in result.stderr
    assert "= hint: name no engine" in result.stderr


@then("`mcp-lok rm --engine docker` of the podman server exits 2 and removes nothing")
def rm_elsewhere_refused(world: World) -> None:
    name = world["on"]["podman"]
    result = mcp_lok("rm", "--force", "--engine", "docker", name)
    assert result.returncode == 2, result.stderr
    assert "was started on podman" in result.stderr
    assert lok_list()[name]["status"] == "running"


@when(
    "I stop and remove the podman server with `mcp-lok stop` and `mcp-lok rm`, without `--engine`"
)
def stop_and_rm_podman(world: World) -> None:
    name = world["on"]["podman"]
    for command in ("stop", "rm"):
        result = mcp_lok(command, name)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout == f"{name}\n"


@then("podman holds none of its containers")
def podman_holds_none(world: World, engines: dict[str, EngineUnderTest]) -> None:
    label = {"label": f"mcp-lok-name={world['on']['podman']}"}
    assert engines["podman"].api.containers(all=True, filters=label) == []


@then("`mcp-lok list --all` shows the docker server only")
def list_shows_docker_only(world: World) -> None:
    listed = lok_list()
    assert world["on"]["podman"] not in listed
    assert listed[world["on"]["docker"]]["engine"] == "docker"


# --- client set-up (docs/clients.md) ---------------------------------------------------------

CLAUDE_CODE_BEFORE = {
    "numStartups": 7,
    "projects": {"/src/app": {"allowedTools": ["Bash"]}},
    "mcpServers": {"theirs": {"type": "stdio", "command": "theirs-server", "args": ["-v"]}},
}


def in_home(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    """`mcp-lok ARGS` with the scenario's home folder: the clients' files and mcp-lok's
    record of what it wrote there are that folder's; the servers are where `start` put
    them (the runtime folder does not follow HOME)."""
    env = {k: v for k, v in os.environ.items() if k not in HOME_VARIABLES}
    return subprocess.run(
        [MCP_LOK, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**env, "HOME": str(world["home"])},
    )


HOME_VARIABLES = {"HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "CLAUDE_CONFIG_DIR"}


@given("a home folder where Claude Code keeps another server and settings of its own")
def claude_code_home(world: World, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".claude.json").write_text(json.dumps(CLAUDE_CODE_BEFORE, indent=2))
    world["home"] = home


@when("I point Claude Code at it with `mcp-lok client setup NAME --client claude-code`")
def client_setup(world: World) -> None:
    done = in_home(world, "client", "setup", world["name"], "--client", "claude-code")
    assert done.returncode == 0, done.stderr
    path = world["home"] / ".claude.json"
    assert done.stdout.startswith(f"claude-code: added `mcp-lok-{world['name']}` in {path}")
    # the token goes into the file, never to the terminal
    assert world["started"]["token"] not in done.stdout + done.stderr


def claude_code_file(world: World) -> dict[str, Any]:
    path: Path = world["home"] / ".claude.json"
    return dict(json.loads(path.read_text()))


@then("Claude Code's file holds its entry, and everything it held before")
def claude_code_holds_entry(world: World) -> None:
    held = claude_code_file(world)
    entry = held["mcpServers"].pop(f"mcp-lok-{world['name']}")
    assert held == CLAUDE_CODE_BEFORE
    assert entry["type"] == "http"
    assert entry["url"] == world["started"]["url"]
    backups = list(world["home"].glob(".claude.json.mcp-lok-backup-*"))
    assert [json.loads(b.read_text()) for b in backups] == [CLAUDE_CODE_BEFORE]


@then(
    "an SDK client that reads the URL and token from Claude Code's file connects through the proxy"
)
def sdk_from_claude_code(world: World, sdk_clients: list[SdkClient]) -> None:
    entry = claude_code_file(world)["mcpServers"][f"mcp-lok-{world['name']}"]
    client = SdkClient(entry["url"], entry["headers"])  # exactly what Claude Code would send
    sdk_clients.append(client)
    world["initialized"] = client.connect()
    world["client"] = client
    assert world["initialized"].server_info.name == "mcp-time"


@then("`mcp-lok client list` says Claude Code's entry points at it")
def client_list_ok(world: World) -> None:
    done = in_home(world, "client", "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {
            "client": "claude-code",
            "entry": f"mcp-lok-{world['name']}",
            "path": str(world["home"] / ".claude.json"),
            "server": world["name"],
            "state": "ok",
            "status": "running",
        }
    ]


@when("I remove it with `mcp-lok rm --force NAME`")
def rm_it(world: World, sdk_clients: list[SdkClient]) -> None:
    while sdk_clients:  # the session ends first: the server goes
        sdk_clients.pop().close()
    done = in_home(world, "rm", "--force", world["name"])
    assert done.returncode == 0, done.stderr


@then("Claude Code's file holds everything it held before, and nothing else")
def claude_code_as_before(world: World) -> None:
    assert claude_code_file(world) == CLAUDE_CODE_BEFORE


@then("`mcp-lok client list` shows no entry")
def client_list_empty(world: World) -> None:
    done = in_home(world, "client", "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
