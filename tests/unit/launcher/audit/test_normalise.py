from __future__ import annotations

from typing import Any

import pytest

from mcp_lok.launcher.audit import drift, normalise
from mcp_lok.launcher.audit.normalise import (
    DEFAULT_CAPS,
    PODMAN_DEFAULT_CAPS,
    Live,
    capabilities,
    image_name,
    inspect_view,
    namespace,
    network_fields,
    plan_view,
    seccomp_value,
    security_options,
    tmpfs_options,
    ulimit_name,
)

from .conftest import load


def compare(data: dict[str, Any], role: str = "server") -> list[drift.Drift]:
    engine = data["engine"]
    record = data["record"]
    body = record["plan"]["container"] if role == "server" else record["plan"]["gate"]["container"]
    gate = data["gate"]
    names = {gate["Id"]: gate["Name"].lstrip("/")} if gate else {}
    image = data["image"] if role == "server" else data["gate_image"]
    observed = inspect_view(data[role], engine, image=image, names=names)
    table = drift.origins(body, record["trace"][role])
    return drift.compare(plan_view(body, engine), observed, table, role)


def test_an_untampered_server_matches_its_plan_on_its_engine(case: dict[str, Any]) -> None:
    assert compare(case) == []
    if case["gate"] is not None:
        assert compare(case, "gate") == []


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_the_two_engines_report_one_view_of_the_same_plan(engine: str) -> None:
    data = load(f"{engine}-http")
    view = inspect_view(data["server"], engine, image=data["image"]).fields
    assert view["HostConfig.SecurityOpt[no-new-privileges]"] is True
    assert [k for k in view if k.startswith("HostConfig.Capabilities[")] == []
    assert view["HostConfig.Ulimits[nofile]"] == [1024, 1024]
    assert view["HostConfig.Tmpfs[/tmp]"] == ["nodev", "noexec", "nosuid", "rw", "size=67108864"]
    assert view["HostConfig.Mounts[/tmp/w6data]"] == {
        "Source": "/tmp/w6data",
        "ReadOnly": True,
        "Propagation": "rprivate",
    }
    assert view["HostConfig.PidMode"] == view["HostConfig.IpcMode"] == "private"
    assert view["Image"] == "mcp-lok/http-test-server:latest"


def test_podman_does_not_report_sysctls_so_they_are_not_compared() -> None:
    data = load("podman-http")
    assert (
        "HostConfig.Sysctls[net.ipv4.ip_unprivileged_port_start]"
        in plan_view(data["record"]["plan"]["gate"]["container"], "podman").fields
    )
    assert inspect_view(data["gate"], "podman").unreported == {"HostConfig.Sysctls"}
    assert compare(data, "gate") == []


@pytest.mark.parametrize(
    ("add", "drop", "privileged", "held"),
    [
        ([], ["ALL"], False, set()),  # Docker echoes the create body
        (["SYS_ADMIN"], ["ALL"], False, {"SYS_ADMIN"}),
        (None, None, False, set(DEFAULT_CAPS)),
        # Podman 4.3, measured: CapDrop ALL + CapAdd SYS_ADMIN, NET_BIND_SERVICE
        (
            ["SYS_ADMIN"],
            sorted(DEFAULT_CAPS - {"NET_BIND_SERVICE"}),
            False,
            {"SYS_ADMIN", "NET_BIND_SERVICE"},
        ),
        # Podman 4.3, measured: nothing given → its own defaults
        ([], ["AUDIT_WRITE", "MKNOD", "NET_RAW"], False, set(PODMAN_DEFAULT_CAPS)),
        (["cap_net_admin"], ["all"], False, {"NET_ADMIN"}),
        ([], ["ALL"], True, {"ALL"}),
    ],
)
def test_capabilities_are_what_the_process_holds(
    add: list[str] | None, drop: list[str] | None, privileged: bool, held: set[str]
) -> None:
    assert capabilities(add, drop, privileged) == held


@pytest.mark.parametrize(
    ("reported", "name"),
    [
        ("mcp-lok/x", "mcp-lok/x:latest"),
        ("localhost/mcp-lok/x:latest", "mcp-lok/x:latest"),
        ("docker.io/library/python:3.11", "python:3.11"),
        ("registry:5000/x", "registry:5000/x:latest"),
        ("x@sha256:abc", "x@sha256:abc"),
        ("", ""),
    ],
)
def test_image_names_read_alike(reported: str, name: str) -> None:
    assert image_name(reported) == name


def test_small_normalisations() -> None:
    assert tmpfs_options("rw,noexec,size=1,rprivate,tmpcopyup") == ["noexec", "rw", "size=1"]
    assert ulimit_name("RLIMIT_NOFILE") == ulimit_name("nofile") == "nofile"
    assert namespace("") == namespace("shareable") == namespace(None) == "private"
    assert namespace("host") == "host"
    assert network_fields("none", ["none"]) == {"HostConfig.NetworkMode": "none", "Networks": []}
    assert network_fields("bridge", ["n1"]) == {
        "HostConfig.NetworkMode": "network",
        "Networks": ["n1"],
    }


def test_security_options_read_alike_on_both_engines() -> None:
    docker = security_options(["no-new-privileges:true", 'seccomp={"a": 1, "b": [2]}'])
    podman = security_options(["no-new-privileges", "seccomp=/run/mcp-lok/seccomp/x.json"])
    assert docker["HostConfig.SecurityOpt[no-new-privileges]"] is True
    assert podman["HostConfig.SecurityOpt[no-new-privileges]"] is True
    assert docker["HostConfig.SecurityOpt[seccomp]"] == seccomp_value('{"b":[2],"a":1}')
    assert podman["HostConfig.SecurityOpt[seccomp]"] == "/run/mcp-lok/seccomp/x.json"
    off = security_options(["no-new-privileges:false", "seccomp:unconfined", "label=disable"])
    assert off == {
        "HostConfig.SecurityOpt[no-new-privileges]": False,
        "HostConfig.SecurityOpt[seccomp]": "unconfined",
        "HostConfig.SecurityOpt[label=disable]": True,
    }
    assert seccomp_value("{broken") == "inline:unparseable"
    real = load("docker-std")["server"]["HostConfig"]["SecurityOpt"]
    assert security_options(real)["HostConfig.SecurityOpt[seccomp]"].startswith("inline:sha256:")
    assert security_options(None)["HostConfig.SecurityOpt[seccomp]"] == "engine default"


def test_live_cgroup_limits_win_over_what_inspect_says() -> None:
    data = load("podman-std")
    live = Live(memory=268435456, nano_cpus=None, pids=64)
    view = inspect_view(data["server"], "podman", live=live).fields
    assert view["HostConfig.Memory"] == 268435456
    assert view["HostConfig.NanoCpus"] == 1_000_000_000  # unreadable: inspect's stands
    assert view["HostConfig.PidsLimit"] == 64


def test_published_ports_and_devices_are_read_from_inspect() -> None:
    data = load("docker-std")
    host = data["server"]["HostConfig"]
    host["PortBindings"] = {"80/tcp": [{"HostIp": "", "HostPort": "8081"}], "81/tcp": None}
    host["Devices"] = [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse"}]
    view = inspect_view(data["server"], "docker").fields
    assert view["HostConfig.PortBindings"] == ["0.0.0.0:8081->80/tcp"]
    assert view["HostConfig.Devices"] == ["/dev/fuse:/dev/fuse"]


def test_a_plan_promises_the_engine_defaults_it_relies_on() -> None:
    body = load("docker-std")["record"]["plan"]["container"]
    fields = plan_view(body, "docker").fields
    for key, value in normalise.IMPLICIT.items():
        assert fields[key] == value
    assert "Cmd" not in fields  # the image's command: not the plan's to compare


def test_shm_size_is_compared_where_the_plan_sets_it() -> None:
    data = load("docker-std")
    body = data["record"]["plan"]["container"]
    # a plan from before mcp-lok named them leaves them to the engine
    assert "HostConfig.ShmSize" not in plan_view(body, "docker").fields
    observed = inspect_view(data["server"], "docker")
    assert observed.fields["HostConfig.ShmSize"] == 64 * 1024 * 1024
    planned = {**body, "HostConfig": {**body["HostConfig"], "ShmSize": 16 << 20}}
    expected = plan_view(planned, "docker")
    assert expected.fields["HostConfig.ShmSize"] == 16 << 20
    found = {d.field: (d.expected, d.found) for d in drift.compare(expected, observed, {})}
    assert found["HostConfig.ShmSize"] == (16 << 20, 64 << 20)
