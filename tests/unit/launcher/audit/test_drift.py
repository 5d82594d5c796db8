from __future__ import annotations

from typing import Any

from mcp_lok.launcher.audit.drift import Drift, compare, origin_of, origins
from mcp_lok.launcher.audit.normalise import Live, inspect_view, plan_view

from .conftest import load


def drift_of(data: dict[str, Any], live: Live | None = None) -> list[Drift]:
    engine, record = data["engine"], data["record"]
    body = record["plan"]["container"]
    gate = data["gate"]
    names = {gate["Id"]: gate["Name"].lstrip("/")} if gate else {}
    observed = inspect_view(data["server"], engine, image=data["image"], names=names, live=live)
    return compare(plan_view(body, engine), observed, origins(body, record["trace"]["server"]))


def test_a_changed_memory_limit_names_the_rule_that_set_it() -> None:
    data = load("docker-std")
    data["server"]["HostConfig"]["Memory"] = 268435456
    (found,) = drift_of(data)
    assert (found.field, found.expected, found.found, found.origin, found.kind) == (
        "HostConfig.Memory",
        536870912,
        268435456,
        "default (baseline)",
        "changed",
    )
    assert found.describe() == "`HostConfig.Memory` is `268435456`, the plan says `536870912`"


def test_podman_update_is_seen_through_the_live_cgroup() -> None:
    data = load("podman-std")  # inspect still says 512 MiB after `podman update`
    (found,) = drift_of(data, Live(memory=268435456))
    assert (found.field, found.found) == ("HostConfig.Memory", 268435456)


def test_an_added_capability_is_unexpected_and_blamed_on_the_drop_all_rule() -> None:
    data = load("podman-std")
    host = data["server"]["HostConfig"]
    host["CapAdd"] = ["SYS_ADMIN"]  # how Podman reports CapDrop ALL + CapAdd SYS_ADMIN
    (found,) = drift_of(data)
    assert (found.field, found.kind, found.origin) == (
        "HostConfig.Capabilities[SYS_ADMIN]",
        "unexpected",
        "default (baseline)",
    )
    assert found.describe() == "capability `SYS_ADMIN` is held, which the plan does not grant"


def test_a_removed_mount_and_an_added_one_are_both_reported_with_origins() -> None:
    data = load("docker-http")
    mounts = data["server"]["Mounts"]
    mounts[:] = [m for m in mounts if m["Destination"] != "/tmp/w6data"]
    mounts.append(
        {"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/s", "RW": True}
    )
    found = {d.field: d for d in drift_of(data)}
    assert found["HostConfig.Mounts[/tmp/w6data]"].kind == "missing"
    assert found["HostConfig.Mounts[/tmp/w6data]"].origin == "/tmp/w6prof2.json#/read/0"
    assert found["HostConfig.Mounts[/s]"].kind == "unexpected"
    assert "should be" in found["HostConfig.Mounts[/tmp/w6data]"].describe()


def test_network_moves_are_drift_on_both_engines() -> None:
    for engine, default in (("docker", "bridge"), ("podman", "podman")):
        data = load(f"{engine}-net")
        networks = data["server"]["NetworkSettings"]["Networks"]
        networks[default] = networks.pop(next(iter(networks)))
        (found,) = drift_of(data)
        assert (found.field, found.found, found.origin) == (
            "Networks",
            [default],
            "default (network)",
        )


def test_a_different_seccomp_profile_is_drift_on_docker() -> None:
    data = load("docker-std")
    options = data["server"]["HostConfig"]["SecurityOpt"]
    options[1] = 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'
    (found,) = drift_of(data)
    assert found.field == "HostConfig.SecurityOpt[seccomp]"
    assert found.origin == "default (baseline)"


def test_env_values_are_never_shown_and_secrets_only_need_to_be_present() -> None:
    data = load("docker-std")
    body = data["record"]["plan"]["container"]
    body["Env"] = [*body["Env"], "TOKEN=${secret:env:GITHUB_TOKEN}"]
    data["record"]["trace"]["server"]["Env[1]"] = "policy.lok:3"
    data["server"]["Config"]["Env"] += ["TOKEN=ghp_real_value", "EXTRA=1"]
    data["server"]["Config"]["Env"][0] = "HOME=/root"
    found = {d.field: d for d in drift_of(data)}
    assert set(found) == {"Env[HOME]", "Env[EXTRA]"}
    assert (found["Env[HOME]"].expected, found["Env[HOME]"].found) == (
        "(hidden)",
        "(a different value)",
    )
    assert "ghp_real_value" not in repr(found)


def test_the_images_own_env_and_labels_are_not_drift() -> None:
    data = load("podman-http")
    assert drift_of(data) == []
    data["image"] = {}
    found = {d.field for d in drift_of(data)}
    assert "Env[PATH]" in found
    assert "Labels[io.buildah.version]" in found
    assert "Env[TERM]" not in found  # Podman sets it in every container


def test_origins_are_keyed_like_the_view() -> None:
    record = load("docker-http")["record"]
    body = record["plan"]["container"]
    table = origins(body, record["trace"]["server"])
    assert table["HostConfig.Mounts[/tmp/w6data/rw]"] == "/tmp/w6prof2.json#/write/0"
    assert table["Env[MCP_TRANSPORT]"] == "argument (--transport)"
    assert table["HostConfig.Ulimits[nofile]"] == "default (baseline)"
    assert table["HostConfig.SecurityOpt[seccomp]"] == "default (baseline)"
    assert origin_of("HostConfig.PidMode", table) == "default (engine)"
    assert origin_of("Labels[other]", {}) == "default (baseline)"
    caps = {**body, "HostConfig": {**body["HostConfig"], "CapAdd": ["NET_BIND_SERVICE"]}}
    table = origins(caps, {"HostConfig.CapAdd[0]": "p.lok:4"})
    assert table["HostConfig.Capabilities[NET_BIND_SERVICE]"] == "p.lok:4"


def test_drift_serialises_with_its_kind() -> None:
    gone = Drift("gate", "HostConfig.Init", True, None, "default (baseline)")
    assert gone.to_json()["kind"] == "missing"
    assert gone.describe() == "`HostConfig.Init` should be `true` but is not set"
    listed = Drift("server", "Networks", ["a"], [], "x")
    assert listed.describe() == "`Networks` is none, the plan says `a`"
