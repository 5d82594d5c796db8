"""The escape matrix's address attacks (issue 11; `escape.feature`, "addresses"): address
rules that would reach the host are refused before anything is created, and a server under
`allow 127.0.0.1` — or an acknowledged catch-all — reaches nothing on the host's loopback,
through the gate's proxy with any spelling, by a name the host resolves to loopback, or
directly. The attacker is `probe.py --addresses`; the host-only service is this test's.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from mcp_lok.proxy.hostaddr import own_addresses

from .conftest import MCP_LOK, PROBE, World, image_required, mcp_lok
from .engines import PROBE_IMAGE, EngineUnderTest, unique_name
from .escape_support import HOST_REPLY, serving

# names the harness's resolver override points at the host's loopback and the unspecified
# address (`MCP_LOK_TEST_RESOLVE`, set only here): the host must still never dial them
RESOLVE = "loop.test=127.0.0.1,loop6.test=::1,unspec.test=0.0.0.0,unspec6.test=::"
NAMES = ["loop.test", "loop6.test", "unspec.test", "unspec6.test"]
# every spelling of "the host's loopback" an attacker tries through the gate's proxy
CONNECT = ["127.0.0.1", "localhost", "::1", "0.0.0.0", "0", "::", "::ffff:127.0.0.1",
           "::ffff:0.0.0.0", "64:ff9b::7f00:1", "2002:7f00:1::", "2130706433", "0x7f.1",
           "0x7f000001", "0177.0.0.1", "127.1"]  # fmt: skip
GET = ["127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "2130706433"]
DIRECT = ["127.0.0.1", "::1", "0.0.0.0", "::ffff:127.0.0.1"]


@pytest.fixture
def loopback_service() -> Iterator[dict[str, Any]]:
    """A TCP service on the host's 127.0.0.1 and ::1 only, as a host-only daemon would be."""
    v4 = socket.create_server(("127.0.0.1", 0))
    port = v4.getsockname()[1]
    listeners = [v4]
    with contextlib.suppress(OSError):
        listeners.append(socket.create_server(("::1", port), family=socket.AF_INET6))
    with serving(listeners) as service:
        yield service


# --- given ----------------------------------------------------------------------------------


@given("a service listening only on the host's loopback")
def host_loopback(world: World, loopback_service: dict[str, Any]) -> None:
    world["loopback"] = loopback_service


@given("an address of one of the host's own bridges")
def host_bridge(world: World) -> None:
    own = sorted(
        (a for a in own_addresses() if a.version == 4 and a.is_private and not a.is_loopback),
        key=lambda a: (str(a) != "172.17.0.1", str(a)),  # Docker's bridge first, if it is up
    )
    assert own, "this host has no private IPv4 address of its own"
    world["bridge"] = str(own[0])


@given("an address policy file:")
def address_policy(world: World, tmp_path: Path, docstring: str) -> None:
    write_address_policy(world, tmp_path, docstring)


def write_address_policy(world: World, tmp_path: Path, text: str) -> None:
    values = {k: str(v) for k, v in world.get("folders", {}).items()}
    values["port"] = str(world.get("loopback", {}).get("port", 8080))
    values["bridge"] = world.get("bridge", "")
    path = tmp_path / "policy.lok"
    path.write_text("extends stdio\n" + text.format(**values) + "\n")
    world["source"] = str(path)


# --- refusals -------------------------------------------------------------------------------


@when(parsers.parse('`mcp-lok start` runs a server under "{policy}"'))
def start_refused(world: World, tmp_path: Path, lok_servers: list[str], policy: str) -> None:
    engine: EngineUnderTest = world["engine"]
    image_required(engine, PROBE_IMAGE)
    write_address_policy(world, tmp_path, policy)
    name = unique_name("e2e-adr")
    lok_servers.append(name)  # removed afterwards should the refusal fail to happen
    world["name"] = name
    world["result"] = subprocess.run(
        [MCP_LOK, "start", "--no-wait", "--engine", engine.name, "--name", name,
         "--permission-profile", world["source"], PROBE_IMAGE, "--", "sleep", "60"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@then(parsers.parse('it exits 3 with "error[{code}]" naming {words}'))
def refused(world: World, code: str, words: str) -> None:
    result: subprocess.CompletedProcess[str] = world["result"]
    assert result.returncode == 3, result.stderr
    assert f"error[{code}]" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "help:" in result.stderr, result.stderr
    for word in words.split("; "):
        assert word.format(bridge=world.get("bridge", "")) in result.stderr, (word, result.stderr)


@then("nothing was created for it")
def nothing_created(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    label = {"label": f"mcp-lok-name={world['name']}"}
    assert engine.api.containers(all=True, filters=label) == []
    assert engine.api.networks(filters=label) == []
    assert not Path(f"/run/mcp-lok/{world['name']}").exists()


# --- the attacker ---------------------------------------------------------------------------


@when("`mcp-lok start` runs the address attacker under it")
def start_address_attacker(world: World, lok_servers: list[str]) -> None:
    engine: EngineUnderTest = world["engine"]
    image_required(engine, PROBE_IMAGE)
    name = unique_name("e2e-adr")
    lok_servers.append(name)
    world["name"] = name
    spec = {"out": "/out", "port": world["loopback"]["port"], "connect": CONNECT, "get": GET,
            "names": NAMES, "direct": DIRECT, "linger": 90}  # fmt: skip
    result = subprocess.run(
        [MCP_LOK, "start", "--no-wait", "--format", "json", "--engine", engine.name, "--name", name,
         "--permission-profile", world["source"], PROBE_IMAGE,
         "--", "python3", "-c", PROBE, "--addresses", json.dumps(spec)],
        capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, MCP_LOK_TEST_RESOLVE=RESOLVE),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    world["start_stderr"] = result.stderr


@then(parsers.parse("`mcp-lok start` warned that `{host}` is the server's own loopback"))
def warned_own_loopback(world: World, host: str) -> None:
    stderr = world["start_stderr"]
    assert "warning[policy.own-loopback]" in stderr, stderr
    assert f"`{host}` is the server's own loopback" in stderr, stderr


@then(parsers.parse("the attacker's address report arrives within {seconds:d} seconds"))
def address_report(world: World, seconds: int) -> None:
    path = Path(world["folders"]["out"]) / "addresses.json"
    end = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > end:
            logs = mcp_lok("logs", world["name"]).stdout
            raise AssertionError(f"no report in {seconds} s; the server's log:\n{logs}")
        time.sleep(0.5)
    world["addresses"] = json.loads(path.read_text())
    assert world["addresses"]["done"] is True


def _unreached(result: list[Any], what: str) -> None:
    """The attempt raised, or the proxy refused it; the host's service never answered."""
    assert HOST_REPLY.decode().strip() not in str(result), (what, result)
    if result[0] == "ok":
        assert str(result[1]).startswith(("HTTP/1.1 4", "HTTP/1.0 4")), (what, result)


@then("nothing on the host's loopback was reached, through the proxy, by name or directly")
def nothing_reached(world: World) -> None:
    report = world["addresses"]
    for target, result in report["connect"].items():
        _unreached(result, f"CONNECT {target}")
        assert result[0] == "ok", (target, result)  # the proxy answered: with a refusal
    for host, result in report["get"].items():
        _unreached(result, f"GET http://{host}/")
    for name, results in report["names"].items():
        _unreached(results["tcp"], f"{name} over plain TCP")
        _unreached(results["connect"], f"CONNECT {name}")
    for address, result in report["direct"].items():
        _unreached(result, f"{address} directly")
        assert result[0] == "error", (address, result)
    assert world["loopback"]["hits"] == [], world["loopback"]["hits"]


@then("`mcp-lok logs` shows the host never dialled its loopback or the unspecified address")
def logs_never_dialled(world: World) -> None:
    end = time.monotonic() + 10
    while True:
        logs = mcp_lok("logs", world["name"]).stdout
        wanted = [
            "loop.test:{port}/tcp: refused: 127.0.0.1 is a loopback address, which mcp-lok "
            "never dials",
            "loop6.test:{port}/tcp: refused: ::1 is a loopback address, which mcp-lok never dials",
            "unspec.test:{port}/tcp: refused: 0.0.0.0 is the unspecified address, which mcp-lok "
            "never dials",
        ]
        port = world["loopback"]["port"]
        if all(line.format(port=port) in logs for line in wanted):
            break
        assert time.monotonic() < end, logs
        time.sleep(0.5)
    assert "allowed to 127." not in logs, logs
    assert "allowed to ::1" not in logs, logs
    assert "allowed to 0.0.0.0" not in logs, logs


# --- explain --------------------------------------------------------------------------------


@when("I run `mcp-lok policy explain` on it")
def explain_it(world: World) -> None:
    world["explain"] = mcp_lok("policy", "explain", "--format", "json", world["source"])


@then("explain names every class of addresses the rule covers and scores high exposure")
def explain_classes(world: World) -> None:
    result: subprocess.CompletedProcess[str] = world["explain"]
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = [c for c in report["controls"] if c["field"].startswith("gate:egress.rules[0]")]
    assert len(rows) == 2, report  # `0.0.0.0/0` and `::/0`
    for row in rows:
        assert row["mark"] == "✗", row
        assert row["weight"] >= 0.4, row
        for words in ("a catch-all range", "the host's own addresses", "cloud metadata",
                      "link-local", "loopback addresses", "the unspecified address"):  # fmt: skip
            assert words in row["description"], (words, row)
        assert "egress only to addresses in" not in row["description"], row
    assert report["score"] >= 5.0, report["score"]
    assert report["level"] in ("EXPOSED", "UNSAFE"), report["level"]
