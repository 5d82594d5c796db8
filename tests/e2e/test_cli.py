"""Feature area: CLI commands (features/cli.feature)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from pytest_bdd import given, parsers, scenarios, then, when

from .conftest import MCP_LOK, World, mcp_lok

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
