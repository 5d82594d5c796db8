from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mcp_lok.launcher.audit.cis import Check, Status, check, summary
from mcp_lok.launcher.audit.normalise import inspect_view
from mcp_lok.policy.host import Found, HostPath, Inside, PathKind

from .conftest import load


def statuses(data: dict[str, Any], role: str = "server") -> dict[str, Status]:
    view = inspect_view(data[role], data["engine"])
    return {c.id: c.status for c in check(view)}


def test_untampered_servers_fail_no_check(case: dict[str, Any]) -> None:
    for role in ("server", "gate"):
        if case[role] is not None:
            found = statuses(case, role)
            assert Status.FAIL not in found.values(), found
            assert len(found) == 32  # 21 CIS, 11 Pod Security


def test_checks_come_in_benchmark_order_with_ids_titles_and_fixes() -> None:
    data = load("docker-std")
    data["server"]["HostConfig"]["Privileged"] = True
    found = check(inspect_view(data["server"], "docker"))
    ids = [c.id for c in found]
    assert ids[:3] == ["CIS 5.4", "CIS 5.5", "CIS 5.6"]
    assert ids.index("CIS 5.10") < ids.index("CIS 5.11") < ids.index("CIS 5.32")
    assert ids[-1].startswith("PSS")
    privileged = next(c for c in found if c.id == "CIS 5.5")
    assert (privileged.status, privileged.finding) == (Status.FAIL, "the container is privileged")
    assert privileged.fix.startswith("recreate it")
    assert privileged.to_json()["status"] == "fail"
    assert summary(found)["fail"] >= 4


def _host(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def tamper(inspect: dict[str, Any]) -> None:
        inspect["HostConfig"][key] = value

    return tamper


def _mount(source: str, propagation: str = "rprivate") -> Callable[[dict[str, Any]], None]:
    def tamper(inspect: dict[str, Any]) -> None:
        inspect["Mounts"].append(
            {
                "Type": "bind",
                "Source": source,
                "Destination": "/x",
                "RW": True,
                "Propagation": propagation,
            }
        )

    return tamper


def _config(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def tamper(inspect: dict[str, Any]) -> None:
        inspect["Config"][key] = value

    return tamper


def _network(name: str) -> Callable[[dict[str, Any]], None]:
    def tamper(inspect: dict[str, Any]) -> None:
        inspect["NetworkSettings"]["Networks"] = {name: {}}
        inspect["HostConfig"]["NetworkMode"] = name

    return tamper


PUBLISHED = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "80"}]}


@pytest.mark.parametrize(
    ("tamper", "failing"),
    [
        (_host("CapDrop", None), {"CIS 5.4", "PSS restricted/capabilities"}),
        (_host("CapAdd", ["SYS_ADMIN"]), {"CIS 5.4", "PSS restricted/capabilities"}),
        (
            _host("Privileged", True),
            {"CIS 5.4", "CIS 5.5", "CIS 5.22", "PSS baseline/privileged"}
            | {"PSS restricted/capabilities", "PSS restricted/seccomp"},
        ),
        (_mount("/etc"), {"CIS 5.6"}),
        (_mount("/var/run/docker.sock"), {"CIS 5.6", "CIS 5.32"}),
        (_mount("/srv/data", "rshared"), {"CIS 5.20"}),
        (
            _host("PortBindings", PUBLISHED),
            {"CIS 5.8", "CIS 5.9", "CIS 5.14", "PSS baseline/host-ports"},
        ),
        (_host("PublishAllPorts", True), {"CIS 5.9"}),
        (_host("NetworkMode", "host"), {"CIS 5.10", "PSS baseline/host-namespaces"}),
        (_network("bridge"), {"CIS 5.30"}),
        (_host("Memory", 0), {"CIS 5.11"}),
        (_host("NanoCpus", 0), {"CIS 5.12"}),
        (_host("ReadonlyRootfs", False), {"CIS 5.13"}),
        (_host("RestartPolicy", {"Name": "always"}), {"CIS 5.15"}),
        (_host("RestartPolicy", {"Name": "on-failure", "MaximumRetryCount": 9}), {"CIS 5.15"}),
        (_host("PidMode", "host"), {"CIS 5.16", "PSS baseline/host-namespaces"}),
        (_host("IpcMode", "host"), {"CIS 5.17", "PSS baseline/host-namespaces"}),
        (
            _host("Devices", [{"PathOnHost": "/dev/kmsg", "PathInContainer": "/dev/kmsg"}]),
            {"CIS 5.18"},
        ),
        (_host("UTSMode", "host"), {"CIS 5.21"}),
        (
            _host("SecurityOpt", ["no-new-privileges", "seccomp=unconfined"]),
            {"CIS 5.22", "PSS restricted/seccomp"},
        ),
        (_host("SecurityOpt", []), {"CIS 5.26", "PSS restricted/privilege-escalation"}),
        (_host("PidsLimit", 0), {"CIS 5.29"}),
        (_host("UsernsMode", "host"), {"CIS 5.31"}),
        (_config("User", "0:0"), {"PSS restricted/run-as-non-root"}),
        (_config("User", ""), {"PSS restricted/run-as-non-root"}),
        (_host("Sysctls", {"kernel.msgmax": "1"}), {"PSS baseline/sysctls"}),
    ],
)
def test_each_check_fails_on_what_it_is_about(
    tamper: Callable[[dict[str, Any]], None], failing: set[str]
) -> None:
    data = load("docker-std")
    tamper(data["server"])
    found = statuses(data)
    assert {k for k, v in found.items() if v is Status.FAIL} == failing


def test_what_inspect_cannot_decide_is_a_warning() -> None:
    data = load("docker-std")
    data["server"]["Config"]["User"] = "app"
    data["server"]["HostConfig"]["Ulimits"] = None
    found = statuses(data)
    assert found["PSS restricted/run-as-non-root"] is Status.WARN
    assert found["CIS 5.19"] is Status.WARN
    assert statuses(load("podman-std"))["PSS baseline/sysctls"] is Status.WARN
    assert statuses(load("docker-http"))["PSS restricted/volume-types"] is Status.WARN
    assert statuses(load("docker-http"), "gate")["PSS restricted/volume-types"] is Status.PASS


def judged(source: str, fact: HostPath, rw: bool = True) -> dict[str, Check]:
    data = load("docker-std")
    _mount(source)(data["server"])
    data["server"]["Mounts"][-1]["RW"] = rw
    view = inspect_view(data["server"], "docker")
    return {c.id: c for c in check(view, paths={source: fact})}


def test_a_mount_is_judged_where_its_source_leads_not_by_its_text() -> None:
    socket = judged("/tmp/x", HostPath("/tmp/x", "/run/docker.sock", PathKind.SOCKET), rw=False)
    for cid in ("CIS 5.6", "CIS 5.32"):
        assert (socket[cid].status, socket[cid].finding) == (
            Status.FAIL,
            "mounts `/tmp/x`, which leads to `/run/docker.sock`, a Unix socket",
        )
    root = judged("/tmp/r", HostPath("/tmp/r", "/", PathKind.DIRECTORY), rw=False)
    assert (root["CIS 5.6"].status, root["CIS 5.6"].finding) == (
        Status.FAIL,
        "mounts `/tmp/r`, which leads to `/`",
    )
    assert root["CIS 5.32"].status is Status.PASS
    holding = HostPath(
        "/srv/x", "/srv/x", PathKind.DIRECTORY, found=(Found("/srv/x/a.sock", Inside.SOCKET),)
    )
    assert judged("/srv/x", holding)["CIS 5.32"].finding == (
        "mounts `/srv/x`, which holds `/srv/x/a.sock`, a Unix socket"
    )
    # the text `/etc` that leads to a harmless folder is still judged as written, too
    assert judged("/etc", HostPath("/etc", "/srv/etc", PathKind.DIRECTORY))["CIS 5.6"].status is (
        Status.FAIL
    )
    plain = judged("/srv/data", HostPath("/srv/data", "/srv/data", PathKind.DIRECTORY))
    assert Status.FAIL not in {c.status for c in plain.values()}


def test_mcp_lok_s_own_files_are_not_judged_as_grants() -> None:
    gate = HostPath(
        "/run/mcp-lok/x/gate",
        "/run/mcp-lok/x/gate",
        PathKind.DIRECTORY,
        found=(Found("/run/mcp-lok/x/gate/egress.sock", Inside.SOCKET),),
    )
    found = judged("/run/mcp-lok/x/gate", gate)
    assert found["CIS 5.6"].status is found["CIS 5.32"].status is Status.PASS
