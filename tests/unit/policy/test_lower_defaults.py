"""What the engines add on their own, named by the plan: mcp-lok's files in place of the
engine's (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, Podman's `/run/.containerenv`),
`/dev/shm`'s size, and every other mount an engine makes (`engine_mounts`), for the server
and the gate, on both engines, under every network mode and transport."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_lok.policy import rules
from mcp_lok.policy.build import build
from mcp_lok.policy.ir import IR, NetworkMode
from mcp_lok.policy.lower import (
    Engine,
    LaunchPlan,
    Target,
    Transport,
    docker,
    lower,
    mounts,
    podman,
)
from mcp_lok.policy.lower.files import HOSTS
from mcp_lok.policy.lower.network import GATE_RESOLVER, NO_RESOLVER
from mcp_lok.policy.origin import BASELINE, Default, Span

MATRIX = [(e, t, m) for e in Engine for t in Transport for m in NetworkMode]
ETC = "/run/mcp-lok/srv/etc"
MIB = 1024 * 1024
STDIO = Default("stdio")
OPEN = Default("network")


def policy_for(mode: NetworkMode, *more: rules.Rule) -> IR:
    if mode is NetworkMode.ALLOW_LIST:
        net: rules.Rule = rules.Allow(
            hosts=(rules.Item("api.example.com", Span("p", 1, 1, 1, 5)),),
            ports=(rules.Item("443", Span("p", 1, 1, 1, 5)),),
            protocols=(rules.Item("tcp", Span("p", 1, 1, 1, 5)),),
            origin=Span("p", 1, 1, 1, 5),
        )
    elif mode is NetworkMode.OPEN:
        net = rules.NetworkOpen(origin=OPEN, insecure=OPEN)
    else:
        net = rules.NetworkNone(origin=STDIO)
    return build([net, *more], "p")


def plan_for(
    engine: Engine, transport: Transport, mode: NetworkMode, *more: rules.Rule
) -> LaunchPlan:
    target = Target(image="img", name="srv", engine=engine, transport=transport)
    return lower(policy_for(mode, *more), target)


def bodies(plan: LaunchPlan) -> dict[str, Any]:
    found: dict[str, Any] = {"server": plan.server.body}
    if plan.gate is not None:
        found["gate"] = plan.gate.container.body
    return found


def own_files(plan: LaunchPlan, role: str) -> dict[str, str]:
    """Target → content of the files mcp-lok binds into the `role` container."""
    content = {f.path: f.content for f in plan.files}
    binds = bodies(plan)[role]["HostConfig"]["Mounts"]
    return {m["Target"]: content[m["Source"]] for m in binds if m["Source"].startswith(ETC)}


def expected_resolver(engine: Engine, mode: NetworkMode, role: str) -> str | None:
    if role == "gate" or mode is NetworkMode.NONE:
        return NO_RESOLVER
    if mode is NetworkMode.ALLOW_LIST:
        return GATE_RESOLVER
    return "nameserver 127.0.0.11\noptions ndots:0\n" if engine is Engine.DOCKER else None


@pytest.mark.parametrize(("engine", "transport", "mode"), MATRIX)
def test_every_container_gets_mcp_loks_files_in_place_of_the_engines(
    engine: Engine, transport: Transport, mode: NetworkMode
) -> None:
    plan = plan_for(engine, transport, mode)
    for role, body in bodies(plan).items():
        files = own_files(plan, role)
        assert files.pop("/etc/hosts") == HOSTS
        assert HOSTS == "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        assert files.pop("/etc/hostname") == "srv\n"
        assert files.pop("/run/.containerenv", None) == ("" if engine is Engine.PODMAN else None)
        assert files.pop("/etc/resolv.conf", None) == expected_resolver(engine, mode, role)
        assert files == {}
        for bind in body["HostConfig"]["Mounts"]:
            if bind["Source"].startswith(ETC):
                assert bind["Source"].startswith(f"{ETC}/{role}/")
                assert bind["ReadOnly"] is True
                assert bind["BindOptions"] == {"Propagation": "rprivate", "NonRecursive": True}
    for planned in plan.files:
        if planned.path.startswith(ETC):
            # the server reads them as its own uid, whatever the runtime folder's mode
            assert (planned.mode, planned.owner, planned.directory) == (0o644, None, False)


@pytest.mark.parametrize(("engine", "transport", "mode"), MATRIX)
def test_no_nameserver_of_the_hosts_reaches_a_server_without_egress(
    engine: Engine, transport: Transport, mode: NetworkMode
) -> None:
    plan = plan_for(engine, transport, mode)
    resolv = own_files(plan, "server").get("/etc/resolv.conf")
    if mode is NetworkMode.NONE:
        assert resolv is not None
        assert "nameserver" not in resolv.replace("# no nameserver", "")
    if mode is NetworkMode.ALLOW_LIST:
        assert resolv == "nameserver 127.0.0.53\noptions ndots:1\n"
    # the resolv.conf mount is the network mode's consequence, traced to its rule
    mounts_ = plan.server.body["HostConfig"]["Mounts"]
    at = [i for i, m in enumerate(mounts_) if m["Target"] == "/etc/resolv.conf"]
    if at:
        origin = plan.server.trace[f"HostConfig.Mounts[{at[0]}]"]
        assert origin == policy_for(mode).network.mode.origin


@pytest.mark.parametrize(("engine", "transport", "mode"), MATRIX)
def test_shm_is_sized_for_the_server_and_the_gate(
    engine: Engine, transport: Transport, mode: NetworkMode
) -> None:
    plan = plan_for(engine, transport, mode)
    for body in bodies(plan).values():
        assert body["HostConfig"]["ShmSize"] == 16 * MIB
        # the kernel's hostname stays the engine's (the container's id): a plan sets none
        assert "Hostname" not in body
    assert plan.server.trace["HostConfig.ShmSize"] == BASELINE


def exact(plan_mounts: tuple[Any, ...]) -> dict[str, Any]:
    return {m.target: m for m in plan_mounts if not m.beneath}


@pytest.mark.parametrize(("engine", "transport", "mode"), MATRIX)
def test_every_container_names_the_engines_own_mounts(
    engine: Engine, transport: Transport, mode: NetworkMode
) -> None:
    plan = plan_for(engine, transport, mode)
    containers = {"server": plan.server}
    if plan.gate is not None:
        containers["gate"] = plan.gate.container
    for role, container in containers.items():
        named = exact(container.engine_mounts)
        host = container.body["HostConfig"]
        assert {"/", "/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue"} <= set(
            named
        )
        assert named["/"].options == ("ro",)
        assert named["/sys"].options == ("ro", "nosuid", "nodev", "noexec")
        assert named["/dev/shm"].size == host["ShmSize"] == 16 * MIB
        assert set(named["/dev/shm"].options) == {"nosuid", "nodev", "noexec"}
        init = "/usr/sbin/docker-init" if engine is Engine.DOCKER else "/run/podman-init"
        assert named[init].options == ("ro",)
        [controllers] = [m for m in container.engine_mounts if m.beneath]
        assert (controllers.target, controllers.types, controllers.optional) == (
            "/sys/fs/cgroup",
            ("cgroup",),
            True,
        )
        # nothing named twice: the payload's own mounts and tmpfs are not engine mounts
        payload = {m["Target"] for m in host["Mounts"]} | set(host["Tmpfs"])
        assert not payload & set(named), role
        # Podman keeps its resolv.conf only for a server on its own bridge
        keeps = engine is Engine.PODMAN and role == "server" and mode is NetworkMode.OPEN
        assert ("/etc/resolv.conf" in named) is keeps
        assert ("/etc/resolv.conf" in {m["Target"] for m in host["Mounts"]}) is not keeps
        every = [*named.values(), controllers]
        assert all(m.why and not m.why.endswith(".") for m in every)


def test_each_engine_masks_and_protects_its_own_kernel_paths() -> None:
    for engine, module in ((Engine.DOCKER, docker), (Engine.PODMAN, podman)):
        plan = plan_for(engine, Transport.STDIO, NetworkMode.NONE)
        named = exact(plan.server.engine_mounts)
        for path in module.MASKED_FOLDERS:
            assert (named[path].types, named[path].options, named[path].optional) == (
                ("tmpfs",), ("ro",), True,
            )  # fmt: skip
        for path in mounts.MASKED_FILES:
            assert (named[path].types, named[path].optional) == (("tmpfs",), True)
        for path in module.READ_ONLY:
            assert named[path].options == ("ro", "nosuid", "nodev", "noexec")
    assert docker.MASKED_FOLDERS == ("/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware")
    assert "/proc/asound" in podman.READ_ONLY  # Podman makes it read-only where Docker hides it
    assert {"/sys/dev/block", "/sys/fs/selinux"} <= set(podman.MASKED_FOLDERS)
    # Docker's /dev may hold executables (measured: `nosuid` only); Podman's may not
    docker_dev = exact(
        plan_for(Engine.DOCKER, Transport.STDIO, NetworkMode.NONE).server.engine_mounts
    )
    podman_dev = exact(
        plan_for(Engine.PODMAN, Transport.STDIO, NetworkMode.NONE).server.engine_mounts
    )
    assert (docker_dev["/dev"].options, podman_dev["/dev"].options) == (
        ("nosuid",),
        ("nosuid", "noexec"),
    )
    assert docker_dev["/dev"].size == mounts.DEV_SIZE == 64 * MIB
    # Podman may add its own passwd and group, only when the image lacks the uid
    assert podman_dev["/etc/passwd"].optional
    assert podman_dev["/etc/group"].optional
    assert "/etc/passwd" not in docker_dev


@pytest.mark.parametrize("engine", list(Engine))
def test_a_privileged_container_has_nothing_masked_and_a_writable_sys(engine: Engine) -> None:
    mark = Span("p", 9, 1, 9, 5)
    plan = plan_for(
        engine,
        Transport.STDIO,
        NetworkMode.NONE,
        rules.Privileged(origin=mark, insecure=mark, reason="kvm"),
        rules.WritableRoot(origin=mark, insecure=mark, reason="apt"),
    )
    named = plan.server.engine_mounts
    assert not [m for m in named if m.optional and not m.beneath and m.target.startswith("/proc/")]
    by_target = exact(named)
    assert by_target["/sys"].options == ("nosuid", "nodev", "noexec")
    assert by_target["/"].options == ()
    assert by_target["/"].why.endswith("writable")
    [controllers] = [m for m in named if m.beneath]
    assert "ro" not in controllers.options


@pytest.mark.parametrize("engine", list(Engine))
def test_no_init_no_init_binary(engine: Engine) -> None:
    plan = plan_for(engine, Transport.STDIO, NetworkMode.NONE)
    body: Any = {
        **plan.server.body,
        "HostConfig": {**plan.server.body["HostConfig"], "Init": False},
    }
    module = docker if engine is Engine.DOCKER else podman
    targets = {m.target for m in module.engine_mounts(body)}
    assert not targets & {"/usr/sbin/docker-init", "/run/podman-init"}


def test_engine_mounts_are_in_the_plans_json_per_container() -> None:
    plan = plan_for(Engine.PODMAN, Transport.SSE, NetworkMode.ALLOW_LIST)
    assert plan.gate is not None
    layout = plan.to_dict()["engine_mounts"]
    assert set(layout) == {"server", "gate"}
    assert layout["gate"] == [m.to_dict() for m in plan.gate.container.engine_mounts]
    shm = next(m for m in layout["server"] if m["target"] == "/dev/shm")
    assert shm == {
        "target": "/dev/shm",
        "types": ["tmpfs"],
        "options": ["nosuid", "nodev", "noexec"],
        "size": 16 * MIB,
        "beneath": False,
        "optional": False,
        "why": "private shared memory of the container's own IPC namespace (`ShmSize`), "
        "charged to the memory limit, not executable",
    }
    alone = plan_for(Engine.DOCKER, Transport.STDIO, NetworkMode.NONE).to_dict()
    assert set(alone["engine_mounts"]) == {"server"}
