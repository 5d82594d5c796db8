"""Feature area: permission profiles and isolation — the escape matrix (features/escape.feature).

The attacker is `probe.py --attack`, run as the server's own command by `mcp-lok start`; it
writes its report into the server's write mount. Destinations the policy allows are played
by a test service in a container this test creates, on a network this test creates; their
names resolve through `MCP_LOK_TEST_RESOLVE`, which only this harness sets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from .conftest import World, lok_start, mcp_lok
from .engines import EngineUnderTest

# the `then` steps that judge the attacker's report; pytest-bdd registers each step as a
# fixture of the module that defines it, so they are imported here, where the scenarios run
from .escape_addresses import *  # noqa: F403
from .escape_checks import *  # noqa: F403
from .escape_identity import *  # noqa: F403
from .escape_paths import *  # noqa: F403
from .escape_private import *  # noqa: F403
from .escape_restart import *  # noqa: F403
from .escape_support import (
    SEED,
    attacker_command,
    failed,
    interrupt,
    read_report,
    remove_networks,
    serving_on_every_address,
    start_stand_in,
    write_policy,
)

scenarios("escape.feature")

pytestmark = pytest.mark.timeout(300)  # a safety net: every wait below has its own bound


# --- fixtures: what the scenario creates, removed afterwards by id ------------------------


@pytest.fixture
def networks(engines: dict[str, EngineUnderTest]) -> Iterator[list[tuple[EngineUnderTest, str]]]:
    made: list[tuple[EngineUnderTest, str]] = []
    yield made
    remove_networks(made)


@pytest.fixture
def host_service() -> Iterator[dict[str, Any]]:
    """A TCP service on every IPv4 and IPv6 address of the host, as a host daemon would be."""
    with serving_on_every_address() as service:
        yield service


@pytest.fixture
def foreground() -> Iterator[list[subprocess.Popen[str]]]:
    """`mcp-lok run` processes a scenario started; interrupted, then killed, if still up."""
    started: list[subprocess.Popen[str]] = []
    yield started
    interrupt(started)


# --- given ----------------------------------------------------------------------------------


@given(
    parsers.parse(
        'a test service container standing in for "{allowed}", "{tcp_only}" '
        'and the host\'s gateway as "{rebind}"'
    )
)
def service_container(
    world: World,
    networks: list[tuple[EngineUnderTest, str]],
    allowed: str,
    tcp_only: str,
    rebind: str,
) -> None:
    address, gateway = start_stand_in(world["engine"], networks)
    world["service"] = address
    world["gateway"] = gateway
    world["names"] = {"allowed": allowed, "tcp_only": tcp_only, "rebind": rebind}
    world["resolve"] = (
        f"{allowed}={address},{tcp_only}={address},{rebind}={gateway},a.wild.test={address},"
        f"b.c.wild.test={address}"
    )


@given("a service listening on every address of the host")
def host_listening(world: World, host_service: dict[str, Any]) -> None:
    world["host_service"] = host_service


@given("another mcp-lok server serving on the host")
def other_server(world: World, lok_servers: list[str]) -> None:
    mine = dict(world)
    lok_start(
        mine, lok_servers, "mcp-lok/http-test-server:latest", "--transport", "streamable-http"
    )
    world["other"] = {"name": mine["name"], "url": mine["started"]["url"]}


@given(parsers.parse('a host file "{relative}" that no rule lets the server read'))
def host_secret(world: World, tmp_path: Path, relative: str) -> None:
    path = tmp_path / relative
    path.parent.mkdir(parents=True)
    path.write_text("host secret")
    path.parent.chmod(0o755)
    path.chmod(0o644)  # readable by anyone on the host: only the mount table keeps it out
    world["secret"] = path


@given("the seed's example network profile, extended by:")
def seed_profile(world: World, tmp_path: Path, docstring: str) -> None:
    network = json.loads(SEED.read_text())["network"]  # verbatim, as the seed wrote it
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"read": [], "write": [], "network": network}))
    write_policy(world, tmp_path, f'extends "{profile}"\n{docstring}')


@given("a policy file:")
def escape_policy(world: World, tmp_path: Path, docstring: str) -> None:
    write_policy(world, tmp_path, docstring)


# --- when -----------------------------------------------------------------------------------


@when("`mcp-lok start` runs the attacker under it")
def start_attacker(world: World, lok_servers: list[str]) -> None:
    command = attacker_command(world, lok_servers, "start")
    environ = dict(os.environ, MCP_LOK_TEST_RESOLVE=world["resolve"])
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=environ
    )
    assert result.returncode == 0, result.stderr


@when("`mcp-lok run` runs the attacker under it in the foreground")
def run_attacker(
    world: World, lok_servers: list[str], foreground: list[subprocess.Popen[str]]
) -> None:
    command = attacker_command(world, lok_servers, "run")
    environ = dict(os.environ, MCP_LOK_TEST_RESOLVE=world["resolve"])
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environ
    )
    foreground.append(process)
    world["run"] = process


@when("the foreground `mcp-lok run` is interrupted")
def interrupt_run(world: World) -> None:
    process: subprocess.Popen[str] = world["run"]
    assert process.poll() is None, process.communicate(timeout=5)
    assert Path(f"/run/mcp-lok/{world['name']}/gate/egress.sock").exists()
    process.send_signal(signal.SIGINT)  # the process this scenario started, by its handle
    _, err = process.communicate(timeout=60)
    world["run_stderr"] = err
    assert process.returncode == 0, err


@then("it removes the server, its gate and the egress socket")
def run_removed(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    name = world["name"]
    assert f"{name} stopped and removed" in world["run_stderr"], world["run_stderr"]
    assert not Path(f"/run/mcp-lok/{name}").exists()
    label = {"label": f"mcp-lok-name={name}"}
    assert engine.api.containers(all=True, filters=label) == []


# --- then: the report -----------------------------------------------------------------------


@then(parsers.parse("the attacker's report arrives within {seconds:d} seconds"))
def report_arrives(world: World, seconds: int) -> None:
    world["report"] = read_report(world, seconds)
    assert world["report"]["done"] is True


@when("mcp-lok's host process for the server is killed")
def kill_host_process(world: World) -> None:
    """SIGKILL: the relay gets no chance to clean up, as after a crash."""
    state = json.loads(Path(f"/run/mcp-lok/{world['name']}/state.json").read_text())
    pid = state["proxy_pid"]
    assert pid, state
    os.kill(pid, signal.SIGKILL)  # the detached proxy this scenario's `mcp-lok start` made
    end = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < end:
        time.sleep(0.05)
    (Path(world["folders"]["out"]) / "go").write_text("go")


@then("the attacker can no longer reach the allowed destination in any way")
def no_host_no_egress(world: World) -> None:
    path = Path(world["folders"]["out"]) / "after.json"
    end = time.monotonic() + 60
    while not path.exists():
        assert time.monotonic() < end, "the attacker's second round never reported"
        time.sleep(0.3)
    after = json.loads(path.read_text())
    assert after["waited"] is True, after
    for way in ("plain_tcp", "by_connect"):
        failed(after[way], forbidding="echo:")


@then("`mcp-lok rm` removes the server, its gate and the egress socket")
def removed(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    name = world["name"]
    socket_path = Path(f"/run/mcp-lok/{name}/gate/egress.sock")
    assert socket_path.exists()  # the killed relay could not remove it: `rm` must
    assert mcp_lok("rm", "--force", name).returncode == 0
    assert not socket_path.exists()
    assert not Path(f"/run/mcp-lok/{name}").exists()
    label = {"label": f"mcp-lok-name={name}"}
    assert engine.api.containers(all=True, filters=label) == []
