"""Feature area: CLI commands (features/cli.feature)."""

from __future__ import annotations

import json

from pytest_bdd import parsers, scenarios, then, when

from .conftest import World, mcp_lok

scenarios("cli.feature")


@when(parsers.parse("I run `mcp-lok {command}` twice"))
def run_twice(world: World, command: str) -> None:
    world["runs"] = [mcp_lok(*command.split()) for _ in range(2)]


@when(parsers.parse("I run `mcp-lok {command}`"))
def run_once(world: World, command: str) -> None:
    world["result"] = mcp_lok(*command.split())


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
