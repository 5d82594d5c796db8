"""The escape matrix's path attacks (features/escape.feature, "paths"): second spellings of
host paths that reach the host — symlinks to the engine's socket, to `/`, through a middle
component, relative links, a loop, a folder holding a Unix socket — each refused by
`mcp-lok start` before anything exists; and a file system mounted beneath a granted folder,
which a non-recursive bind leaves out. Everything is made by the scenario in its temp
folder (and a tmpfs it mounts there, unmounted afterwards), and removed by it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from .conftest import PROBE, World, image_required, mcp_lok
from .engines import PROBE_IMAGE, SOCKETS, EngineUnderTest, unique_name

LOOKS = ("/data", "/data/hello.txt", "/data/nested")  # what the probe reports on


@pytest.fixture
def nested_mounts() -> Iterator[list[Path]]:
    """File systems a scenario mounted on the host; unmounted afterwards."""
    made: list[Path] = []
    yield made
    for path in reversed(made):
        subprocess.run(["umount", str(path)], check=False, capture_output=True)


@pytest.fixture
def listeners() -> Iterator[list[socket.socket]]:
    """Unix sockets a scenario listens on; closed afterwards."""
    made: list[socket.socket] = []
    yield made
    for listener in made:
        listener.close()


# --- given ----------------------------------------------------------------------------------


@given(
    "a host tree of symlinks to the engine's socket, `/` and `/etc`, a loop, and a folder "
    "holding a Unix socket"
)
def path_tree(world: World, tmp_path: Path, listeners: list[socket.socket]) -> None:
    engine: EngineUnderTest = world["engine"]
    root = tmp_path / "paths"
    deep = root / "a" / "b"
    (root / "sockets").mkdir(parents=True)
    deep.mkdir(parents=True)
    for folder in (tmp_path, root, root / "a", deep, root / "sockets"):
        folder.chmod(0o755)  # only root may change them: nothing here is replaceable
    links = {
        "to_socket": (root / "to-socket", SOCKETS[engine.name]),
        "to_root": (root / "to-root", "/"),
        "to_etc": (root / "to-etc", "/etc"),  # used in the middle of a path
        # climbs past `/` (extra `..` stay at `/`), then down to /etc
        "relative": (deep / "rel", "../" * (len(deep.parts) + 2) + "etc"),
        "loop": (root / "loop", "loop"),
    }
    for link, target in links.values():
        link.symlink_to(target)
    listener = socket.socket(socket.AF_UNIX)
    listeners.append(listener)
    listener.bind(str(root / "sockets" / "app.sock"))
    world["paths"] = {key: str(link) for key, (link, _) in links.items()}
    world["paths"]["holding_socket"] = str(root / "sockets")
    world["paths"]["plain"] = str(deep)  # an ordinary folder, granted over the kernel's paths
    home = root / "home"  # a user's home: its `.ssh` is what a grant of it would hand over
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("not a real key\n")
    (home / "notes.txt").write_text("notes\n")
    home.chmod(0o755)
    world["paths"]["home"] = str(home)


@given(parsers.parse('a tmpfs mounted at "{name}" in the host folder "{folder}", holding "{file}"'))
def nested_tmpfs(
    world: World, nested_mounts: list[Path], name: str, folder: str, file: str
) -> None:
    point = Path(world["folders"][folder]) / name
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "mcp-lok-e2e", str(point)], check=True)
    nested_mounts.append(point)
    point.chmod(0o755)
    (point / file).write_text("from the nested mount")
    assert (point / file).exists()  # on the host, the nested file is there


@given(parsers.parse('a policy granting "{grant}"'))
def policy_granting_one(world: World, tmp_path: Path, grant: str) -> None:
    write_grants(world, tmp_path, grant)


@given("a policy granting:")
def policy_granting(world: World, tmp_path: Path, docstring: str) -> None:
    write_grants(world, tmp_path, docstring)


def write_grants(world: World, tmp_path: Path, text: str) -> None:
    values = {k: str(v) for k, v in world.get("folders", {}).items()}
    values |= world.get("paths", {})
    world["grants"] = text.format(**values)
    path = tmp_path / "policy.lok"
    path.write_text(world["grants"] + "\n")
    world["source"] = str(path)


# --- when -----------------------------------------------------------------------------------


@when("`mcp-lok start` runs the probe under it")
def start_probe(world: World, lok_servers: list[str]) -> None:
    engine: EngineUnderTest = world["engine"]
    image_required(engine, PROBE_IMAGE)
    name = unique_name("e2e-path")
    lok_servers.append(name)  # removed afterwards, should it have started after all
    world["name"] = name
    world["result"] = mcp_lok(
        "start", "--no-wait", "--format", "json", "--engine", engine.name, "--name", name,
        "--permission-profile", world["source"], PROBE_IMAGE,
        "--", "python3", "-c", PROBE, "--into", "/out/report.json", *LOOKS,
    )  # fmt: skip


@when(parsers.parse('the granted folder "{folder}" is swapped for a symlink to "{target}"'))
def swap_folder(world: World, folder: str, target: str) -> None:
    path = Path(world["folders"][folder])
    path.rename(path.with_name(path.name + ".old"))
    path.symlink_to(target)


# --- then: refusals -------------------------------------------------------------------------


@then(parsers.parse('it exits 3 with "error[{code}]" on the grant\'s line, and a help line'))
def refused(world: World, code: str) -> None:
    result: subprocess.CompletedProcess[str] = world["result"]
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    assert f"{world['source']}:1:1: error[{code}]: " in result.stderr, result.stderr
    assert f"1 | {world['grants']}\n" in result.stderr, result.stderr  # the line, underlined
    assert "  = help: " in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@then("the engine holds no container or network of the server, and mcp-lok keeps no state of it")
def nothing_created(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    label = {"label": f"mcp-lok-name={world['name']}"}
    assert engine.api.containers(all=True, filters=label) == []
    assert engine.api.networks(filters=label) == []
    assert not Path(f"/run/mcp-lok/{world['name']}").exists()
    assert world["name"] not in mcp_lok("list", "--all").stdout


# --- then: what the server sees ---------------------------------------------------------------


@then(parsers.parse("the probe's report arrives within {seconds:d} seconds"))
def probe_report(world: World, seconds: int) -> None:
    result: subprocess.CompletedProcess[str] = world["result"]
    assert result.returncode == 0, result.stderr
    path = Path(world["folders"]["out"]) / "report.json"
    end = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > end:
            logs = mcp_lok("logs", world["name"]).stdout
            raise AssertionError(f"no report in {seconds} s; the server's log:\n{logs}")
        time.sleep(0.3)
    world["seen"] = json.loads(path.read_text())["paths"]


@then(parsers.parse('the server sees "{path}" holding "{text}"'))
def sees_file(world: World, path: str, text: str) -> None:
    assert world["seen"][path].get("content") == text, world["seen"]


@then(parsers.parse('the server sees "{path}" as an empty folder'))
def sees_empty(world: World, path: str) -> None:
    entry: dict[str, Any] = world["seen"][path]
    assert entry["exists"], world["seen"]
    assert entry["entries"] == [], entry  # not the nested mount's file


@then(
    parsers.parse(
        '`mcp-lok policy explain` says the mount point "{name}" beneath "{folder}" is not '
        "carried in"
    )
)
def explain_names_it(world: World, name: str, folder: str) -> None:
    result = mcp_lok("policy", "explain", world["source"])
    assert result.returncode == 0, result.stderr
    point = Path(world["folders"][folder]) / name
    assert f"the mount point `{point}` beneath it is not carried in" in result.stdout


# --- then: audit ------------------------------------------------------------------------------


@then(
    parsers.parse('`mcp-lok audit` reports that "{folder}" now leads to "{target}", and fails '
                  "CIS 5.6 for it")
)  # fmt: skip
def audit_sees_swap(world: World, folder: str, target: str) -> None:
    engine: EngineUnderTest = world["engine"]
    result = mcp_lok("audit", "--engine", engine.name, "--format", "json", world["name"])
    assert result.returncode == 3, result.stderr  # drift fails an audit
    (found,) = json.loads(result.stdout)["servers"]
    path = world["folders"][folder]
    notes = [n["message"] for n in found["notes"]]
    assert any(
        f"the host path `{path}` mounted at `/{folder}` now leads to `{target}`" in n for n in notes
    ), notes
    checks = {c["id"]: c for c in found["containers"][0]["checks"]}
    assert checks["CIS 5.6"]["status"] == "fail", checks["CIS 5.6"]
    assert f"`{path}`, which leads to `{target}`" in checks["CIS 5.6"]["finding"]
    with contextlib.suppress(FileNotFoundError):  # the swap undone before removal
        Path(path).unlink()
