"""Shared steps for the BDD end-to-end suite (feature files in `features/`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from .engines import PROBE_IMAGE, EngineUnderTest, connect, parse_probe, unique_name

PROBE = (Path(__file__).parent / "probe.py").read_text()
MCP_LOK = str(Path(sys.executable).parent / "mcp-lok")


class World(dict[str, Any]):
    """What one scenario has seen so far."""


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def engines() -> Iterator[dict[str, EngineUnderTest]]:
    opened: dict[str, EngineUnderTest] = {}
    yield opened
    for engine in opened.values():
        engine.cleanup()


def mcp_lok(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MCP_LOK, *args], capture_output=True, text=True, timeout=60, check=False)


@given(parsers.parse("the {name} engine"))
def the_engine(world: World, engines: dict[str, EngineUnderTest], name: str) -> None:
    engines[name] = connect(name)
    world["engine"] = engines[name]


@given(parsers.parse('the policy source "{source}"'))
def policy_source(world: World, source: str) -> None:
    world["source"] = source


@given(parsers.parse('a host folder "{name}" holding "{file}"'))
def host_folder_with_file(world: World, tmp_path: Path, name: str, file: str) -> None:
    folder = tmp_path / name
    (folder / "hidden").mkdir(parents=True)
    (folder / "hidden" / "secret.txt").write_text("do not show")
    (folder / file).write_text("hello from the host")
    folder.chmod(0o755)
    world.setdefault("folders", {})[name] = folder


@given(parsers.parse('a host folder "{name}"'))
def host_folder(world: World, tmp_path: Path, name: str) -> None:
    folder = tmp_path / name
    folder.mkdir()
    folder.chmod(0o777)  # the server runs as 65534 and must be able to write here
    world.setdefault("folders", {})[name] = folder


@given("a policy file:")
def policy_file(world: World, tmp_path: Path, docstring: str) -> None:
    text = docstring.format(**{k: str(v) for k, v in world.get("folders", {}).items()})
    path = tmp_path / "policy.lok"
    path.write_text(text + "\n")
    world["source"] = str(path)


@when("I compile it with `mcp-lok policy compile` for the probe image")
def compile_for_probe(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    paths = ["/data", "/data/hello.txt", "/data/hidden", "/out"]
    name = unique_name()
    result = mcp_lok(
        "policy",
        "compile",
        world["source"],
        "--image",
        PROBE_IMAGE,
        "--engine",
        engine.name,
        "--name",
        name,
        "--",
        "python3",
        "-c",
        PROBE,
        *paths,
    )
    assert result.returncode == 0, result.stderr
    world["plan"] = json.loads(result.stdout)


@when("the engine creates and runs the container from the printed payload unchanged")
def create_and_run(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    plan = world["plan"]
    engine.write_files(plan["files"])
    container = engine.create(plan["container"], plan["container_name"])
    code, out, err = engine.run_to_end(container)
    assert code == 0, f"probe exited {code}: {err}"
    world["container"] = container
    world["probe"] = parse_probe(out)


@when(parsers.parse("I run `mcp-lok policy validate` on it"))
def validate_it(world: World) -> None:
    world["result"] = mcp_lok("policy", "validate", world["source"])


@then(parsers.parse("the exit code is {code:d}"))
def exit_code(world: World, code: int) -> None:
    result = world["result"]
    assert result.returncode == code, result.stderr


@then(parsers.parse('stderr names the diagnostic "{code}" twice'))
def names_twice(world: World, code: str) -> None:
    assert world["result"].stderr.count(f"error[{code}]") == 2, world["result"].stderr
