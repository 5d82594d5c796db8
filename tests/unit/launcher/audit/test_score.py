from __future__ import annotations

from pathlib import Path

import pytest

from mcp_lok.launcher.audit.normalise import inspect_view, plan_view
from mcp_lok.launcher.audit.score import level, rows, score
from mcp_lok.policy import BUILTINS, Engine, Target, Transport, compile_policy, lower
from mcp_lok.policy.explain import WEIGHTS, explain
from mcp_lok.policy.host import FixedHost, Found, HostPath, Inside, PathKind

from .conftest import load

EXAMPLES = sorted((Path(__file__).parents[4] / "examples").glob("*.[lj]*"))


@pytest.mark.parametrize("engine", list(Engine))
@pytest.mark.parametrize("transport", list(Transport))
@pytest.mark.parametrize("source", [*sorted(BUILTINS), *map(str, EXAMPLES)])
def test_a_plan_scores_what_policy_explain_says(
    source: str, transport: Transport, engine: Engine
) -> None:
    """Audit's score of what a plan promises equals explain's, except for the per-destination
    rows of an allow-list, which inspect cannot see (audit then scores less)."""
    compiled = compile_policy(source, host=FixedHost())
    plan = lower(
        compiled.policy, Target(image="img", name="srv", engine=engine, transport=transport)
    )
    expected = explain(compiled.policy, plan).score
    egress = plan.gate is not None and plan.gate.config.egress is not None
    gate = plan_view(plan.gate.container.body, engine.value) if plan.gate else None
    joined = gate.fields["Networks"] if gate else []
    view = plan_view(plan.server.body, engine.value)
    found = score(rows(view, engine.value, egress=egress, joined=joined))
    if egress:
        assert found <= expected
    else:
        assert found == expected


def test_recorded_servers_score_what_explain_printed() -> None:
    expected = {"std": (1.0, 1.1), "net": (5.5, 5.6), "http": (2.0, 2.2)}
    for kind, (docker, podman) in expected.items():
        for engine, value in (("docker", docker), ("podman", podman)):
            data = load(f"{engine}-{kind}")
            assert score(rows(inspect_view(data["server"], engine), engine)) == value


def test_tampering_raises_the_score() -> None:
    data = load("docker-std")
    host = data["server"]["HostConfig"]
    host["CapAdd"] = ["SYS_ADMIN", "NET_BIND_SERVICE"]
    host["SecurityOpt"] = ["seccomp=unconfined"]
    host["ReadonlyRootfs"] = False
    host["Memory"] = host["NanoCpus"] = host["PidsLimit"] = 0
    host["PidMode"] = "host"
    data["server"]["Config"]["User"] = ""
    found = rows(inspect_view(data["server"], "docker"), "docker")
    kinds = {r.kind for r in found}
    assert kinds >= {"capability", "safe-capability", "unconfined", "escalation", "writable-root"}
    assert kinds >= {"no-memory-limit", "no-cpu-limit", "no-pids-limit", "host-namespace", "root"}
    assert score(found) > 9
    assert level(score(found)) == "UNSAFE"


def test_privilege_default_caps_ports_and_mounts_are_weighed() -> None:
    data = load("docker-std")
    host = data["server"]["HostConfig"]
    host["Privileged"] = True
    assert {r.kind for r in rows(inspect_view(data["server"], "docker"), "docker")} >= {
        "privileged",
        "privileged-caps",
        "privileged-seccomp",
    }
    data = load("docker-http")
    server = data["server"]
    server["HostConfig"]["CapDrop"] = []
    server["HostConfig"]["NetworkMode"] = "host"
    server["HostConfig"]["PortBindings"] = {"80/tcp": [{"HostIp": "", "HostPort": "80"}]}
    server["HostConfig"]["MemorySwap"] = -1
    server["HostConfig"]["SecurityOpt"] = ["no-new-privileges"]
    server["Mounts"] += [
        {"Type": "bind", "Source": "/run/docker.sock", "Destination": "/a", "RW": False},
        {"Type": "bind", "Source": "/etc", "Destination": "/b", "RW": False},
        {"Type": "bind", "Source": "/usr/local/x", "Destination": "/c", "RW": True},
        {
            "Type": "bind",
            "Source": "/run/mcp-lok/srv/resolv.conf",
            "Destination": "/d",
            "RW": False,
        },
    ]
    kinds = [r.kind for r in rows(inspect_view(server, "docker"), "docker")]
    for kind in ("default-caps", "host-network", "published", "more-swap", "engine-seccomp"):
        assert kind in kinds
    assert kinds.count("engine-socket") == kinds.count("sensitive-read") == 1
    assert "sensitive-write" in kinds
    assert kinds.count("read-mount") == 1  # /tmp/w6data; mcp-lok's own resolv.conf weighs 0


def test_podman_without_its_scratch_mounts_is_noted() -> None:
    data = load("podman-std")
    del data["server"]["HostConfig"]["Tmpfs"]["/run"]
    assert "podman-tmpfs" in {
        r.kind for r in rows(inspect_view(data["server"], "podman"), "podman")
    }
    data["server"]["Config"]["User"] = "app"
    assert "named-user" in {r.kind for r in rows(inspect_view(data["server"], "podman"), "podman")}


def test_a_mount_weighs_what_policy_explain_weighs_it_by_where_it_leads() -> None:
    data = load("docker-std")
    data["server"]["Mounts"] += [
        {"Type": "bind", "Source": "/tmp/s", "Destination": "/a", "RW": False},
        {"Type": "bind", "Source": "/srv/x", "Destination": "/b", "RW": False},
        {"Type": "bind", "Source": "/tmp/w", "Destination": "/c", "RW": True},
    ]
    paths = {
        "/tmp/s": HostPath("/tmp/s", "/srv/app.sock", PathKind.SOCKET),
        "/srv/x": HostPath(
            "/srv/x", "/srv/x", PathKind.DIRECTORY, found=(Found("/srv/x/d", Inside.CHAR_DEVICE),)
        ),
        "/tmp/w": HostPath("/tmp/w", "/tmp/w", PathKind.DIRECTORY, replaceable="why"),
    }
    found = {
        (r.field, r.kind): r.weight
        for r in rows(inspect_view(data["server"], "docker"), "docker", paths=paths)
    }
    assert found[("HostConfig.Mounts[/a]", "host-socket")] == WEIGHTS["host-socket"] == 0.95
    assert found[("HostConfig.Mounts[/b]", "holds-socket")] == 0.8
    assert found[("HostConfig.Mounts[/c]", "write-mount")] == 0.1
    assert found[("HostConfig.Mounts[/c]", "replaceable-mount")] == 0.3
