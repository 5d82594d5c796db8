"""The lower pass: exact Engine API payloads for Docker and Podman, every transport and
network mode; every payload field traced to an origin; byte-identical output each time."""

from __future__ import annotations

import hashlib
import json
import typing
from typing import Any

import pytest

from mcp_lok.policy import rules, seccomp
from mcp_lok.policy.build import build
from mcp_lok.policy.diagnostics import Code, Diagnostic
from mcp_lok.policy.ir import IR, NetworkMode, fingerprint
from mcp_lok.policy.lower import (
    Engine,
    LaunchPlan,
    Target,
    Transport,
    canonical_json,
    default_name,
    lower,
    target_problems,
)
from mcp_lok.policy.lower.network import gate_config
from mcp_lok.policy.lower.payloads import ContainerConfig, ContainerCreate, HostConfig
from mcp_lok.policy.lower.plan import HostConfigFields, Payload
from mcp_lok.policy.origin import BASELINE, Argument, Default, Origin, Span

FILE = "p.lok"
MARK = Span(FILE, 20, 1, 20, 9)
NETWORK = Default("network")
PROXY = "http://127.0.0.1:3128"
PROXY_ENV = {
    "HTTP_PROXY": PROXY,
    "HTTPS_PROXY": PROXY,
    "NO_PROXY": "localhost,127.0.0.1,::1",
    "http_proxy": PROXY,
    "https_proxy": PROXY,
    "no_proxy": "localhost,127.0.0.1,::1",
    "NODE_USE_ENV_PROXY": "1",
}
ETC = "/run/mcp-lok/srv/etc"
RESOLV = f"{ETC}/server/resolv.conf"
OWN = {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/run/.containerenv"}
GATE_JSON = "/run/mcp-lok/srv/gate/gate.json"
EGRESS_JSON = "/run/mcp-lok/srv/egress.json"
BASELINE_SECCOMP = "seccomp=" + canonical_json(seccomp.profile())


def at(line: int) -> Span:
    return Span(FILE, line, 1, line, 10)


def item(value: str, line: int) -> rules.Item:
    return rules.Item(value, at(line))


def allow_rule(line: int = 1) -> rules.Allow:
    return rules.Allow(
        hosts=(item("api.example.com", line),),
        ports=(item("443", line),),
        protocols=(item("tcp", line),),
        origin=at(line),
    )


def policy_for(mode: NetworkMode) -> IR:
    if mode is NetworkMode.ALLOW_LIST:
        return build([allow_rule()], FILE)
    if mode is NetworkMode.OPEN:
        return build([rules.NetworkOpen(origin=NETWORK, insecure=NETWORK)], "network")
    return build([rules.NetworkNone(origin=Default("stdio"))], "stdio")


def target(
    engine: Engine = Engine.DOCKER, transport: Transport = Transport.STDIO, **more: Any
) -> Target:
    return Target(image="img:1", name="srv", engine=engine, transport=transport, **more)


def env_of(body: Any) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in body["Env"])


def untraced(body: Any, trace: dict[str, Origin]) -> list[str]:
    """Paths of payload leaves for which neither the leaf nor any parent is in the trace.

    A dict entry is `parent.key` (a struct field) or `parent[key]` (a map entry), a list
    element `parent[i]`; an empty list or dict is a leaf of its own."""
    missing: list[str] = []

    def walk(node: Any, names: list[str]) -> None:
        if any(name in trace for name in names):
            return
        if isinstance(node, dict) and node:
            for key, child in node.items():
                dotted = [f"{n}.{key}" if n else str(key) for n in names]
                walk(child, dotted + [f"{n}[{key}]" for n in names if n])
        elif isinstance(node, list) and node:
            for index, child in enumerate(node):
                walk(child, [f"{n}[{index}]" for n in names])
        else:
            missing.append(names[0])

    walk(body, [""])
    return missing


# --- the matrix: engine × transport × network mode -----------------------------------------

MATRIX = [
    (engine, transport, mode)
    for engine in Engine
    for transport in Transport
    for mode in NetworkMode
]


@pytest.mark.parametrize(("engine", "transport", "mode"), MATRIX)
def test_network_mode_and_the_gate(engine: Engine, transport: Transport, mode: NetworkMode) -> None:
    plan = lower(policy_for(mode), target(engine, transport))
    needs_gate = mode is NetworkMode.ALLOW_LIST or transport.is_http
    host_config = plan.server.body["HostConfig"]
    if needs_gate:
        assert host_config["NetworkMode"] == "container:mcp-lok-srv-gate"
    elif mode is NetworkMode.OPEN:
        assert host_config["NetworkMode"] == "mcp-lok-srv"
    else:
        assert host_config["NetworkMode"] == "none"
    assert (plan.gate is not None) is needs_gate
    if plan.gate is not None:
        assert plan.gate.container.name == "mcp-lok-srv-gate"
        gate_mode = plan.gate.container.body["HostConfig"]["NetworkMode"]
        assert gate_mode == ("mcp-lok-srv" if mode is NetworkMode.OPEN else "none")
    assert plan.server.name == "mcp-lok-srv"
    assert plan.server.trace["HostConfig.NetworkMode"] == policy_for(mode).network.mode.origin


@pytest.mark.parametrize(("engine", "transport", "mode"), MATRIX)
def test_networks_are_created_only_for_open_egress(
    engine: Engine, transport: Transport, mode: NetworkMode
) -> None:
    plan = lower(policy_for(mode), target(engine, transport))
    if mode is NetworkMode.OPEN:
        assert plan.networks == (
            {
                "Name": "mcp-lok-srv",
                "Driver": "bridge",
                "Internal": False,
                "Labels": {
                    "mcp-lok": "true",
                    "mcp-lok-name": "srv",
                    "mcp-lok-launch": "${launch}",
                },
            },
        )
    else:
        assert plan.networks == ()


@pytest.mark.parametrize(("engine", "transport", "mode"), MATRIX)
def test_proxy_variables_only_for_an_allow_list(
    engine: Engine, transport: Transport, mode: NetworkMode
) -> None:
    plan = lower(policy_for(mode), target(engine, transport))
    allow = mode is NetworkMode.ALLOW_LIST
    env = env_of(plan.server.body)
    assert {k: env[k] for k in PROXY_ENV if k in env} == (PROXY_ENV if allow else {})


@pytest.mark.parametrize(("engine", "transport", "mode"), MATRIX)
def test_transport_variables_and_stdio_only_where_they_belong(
    engine: Engine, transport: Transport, mode: NetworkMode
) -> None:
    body = lower(policy_for(mode), target(engine, transport)).server.body
    env = env_of(body)
    mcp = {k: v for k, v in env.items() if k.startswith(("MCP_", "FASTMCP_"))}
    if transport.is_http:
        assert mcp == {
            "MCP_TRANSPORT": transport.value,
            "MCP_PORT": "8080",
            "FASTMCP_PORT": "8080",
            "MCP_HOST": "127.0.0.1",
        }
        assert body["Labels"]["mcp-lok-port"] == "8080"
    else:
        assert mcp == {}
        assert "mcp-lok-port" not in body["Labels"]
    stdio = transport is Transport.STDIO
    assert [body[f] for f in ("AttachStdin", "OpenStdin", "AttachStdout", "AttachStderr")] == [
        stdio
    ] * 4
    assert (body["StdinOnce"], body["Tty"]) == (False, False)
    assert body["Env"] == sorted(body["Env"], key=lambda e: e.split("=", 1)[0])


@pytest.mark.parametrize(("engine", "transport", "mode"), MATRIX)
def test_files_are_exactly_what_the_plan_needs(
    engine: Engine, transport: Transport, mode: NetworkMode
) -> None:
    plan = lower(policy_for(mode), target(engine, transport))
    own = ["hostname", "hosts", "resolv.conf"] + (
        ["containerenv"] if engine is Engine.PODMAN else []
    )
    # on its own bridge a Podman server keeps Podman's resolv.conf (named as an engine mount)
    server = [
        f
        for f in own
        if not (f == "resolv.conf" and engine is Engine.PODMAN and mode is NetworkMode.OPEN)
    ]
    expected = {f"{ETC}/server/{f}" for f in server}
    if plan.gate is not None:
        expected |= {GATE_JSON.rsplit("/", 1)[0], GATE_JSON}
        expected |= {f"{ETC}/gate/{f}" for f in own}
    if mode is NetworkMode.ALLOW_LIST:
        expected |= {EGRESS_JSON}
    paths = [f.path for f in plan.files]
    seccomp_files = [p for p in paths if p.startswith("/run/mcp-lok/seccomp/")]
    # server and gate share the baseline profile, so Podman writes one file
    assert len(seccomp_files) == (1 if engine is Engine.PODMAN else 0)
    assert set(paths) - set(seccomp_files) == expected
    assert paths == sorted(paths)
    # the gate's folder belongs to the gate's uid, and only to it
    folders = [(f.path, f.mode, f.owner) for f in plan.files if f.directory]
    assert folders == ([(GATE_JSON.rsplit("/", 1)[0], 0o700, "65533:65533")] if plan.gate else [])


@pytest.mark.parametrize(("engine", "transport", "mode"), MATRIX)
def test_every_payload_leaf_has_an_origin(
    engine: Engine, transport: Transport, mode: NetworkMode
) -> None:
    plan = lower(policy_for(mode), target(engine, transport, args=("serve", "--stdio")))
    assert untraced(plan.server.body, plan.server.trace) == []
    if plan.gate is not None:
        assert untraced(plan.gate.container.body, plan.gate.container.trace) == []


def test_payloads_are_built_by_keyword_with_the_engine_api_s_field_names() -> None:
    """`Payload.set(origin, Image=…)`: the keywords are the TypedDicts' own, so a field name
    the Engine API lacks (or a value of the wrong type) fails `mypy --strict`."""
    for method, fields in (
        (Payload.set, ContainerConfig),
        (Payload.add, ContainerConfig),
        (HostConfigFields.set, HostConfig),
        (HostConfigFields.add, HostConfig),
    ):
        assert typing.get_type_hints(method)["fields"] == typing.Unpack[fields]


@pytest.mark.parametrize(("engine", "transport", "mode"), MATRIX)
def test_every_body_sets_every_field_and_traces_each(
    engine: Engine, transport: Transport, mode: NetworkMode
) -> None:
    plan = lower(policy_for(mode), target(engine, transport, args=("serve",)))
    containers = [(plan.server, {"Sysctls"})]
    if plan.gate is not None:
        containers.append((plan.gate.container, set()))
    for container, unset in containers:
        body = container.body
        assert set(body) == set(ContainerCreate.__optional_keys__)
        assert set(body["HostConfig"]) == set(HostConfig.__optional_keys__) - unset
        # every trace key names a field the body has (no origin for a field it lacks)
        for key in container.trace:
            node: Any = body
            for part in key.replace("[", ".[").split("."):
                if part.startswith("["):
                    index = part[1:-1]
                    node = node[int(index)] if isinstance(node, list) else node[index]
                else:
                    node = node[part]


@pytest.mark.parametrize(("engine", "transport", "mode"), MATRIX)
def test_lowering_is_deterministic(engine: Engine, transport: Transport, mode: NetworkMode) -> None:
    first = lower(policy_for(mode), target(engine, transport)).to_json()
    second = lower(policy_for(mode), target(engine, transport)).to_json()
    assert first == second
    assert first.endswith("}\n")
    assert json.loads(first)["engine"] == engine.value


def test_the_untraced_walk_finds_a_leaf_without_origin() -> None:
    # the helper above must be able to fail, or the test that uses it proves nothing
    body = {"A": 1, "B": {"C": [1, {"D": 2}], "E": {}}, "F": {"k": "v"}}
    assert untraced(body, {"A": BASELINE, "B.C[0]": BASELINE, "F[k]": BASELINE}) == [
        "B.C[1].D",
        "B.E",
    ]


# --- one plan in full ---------------------------------------------------------------------


def test_the_hardened_baseline_body_for_docker_stdio() -> None:
    plan = lower(policy_for(NetworkMode.NONE), target())
    assert plan.server.body == {
        "Image": "img:1",
        "User": "65534:65534",
        "Labels": {
            "mcp-lok": "true",
            "mcp-lok-name": "srv",
            "mcp-lok-launch": "${launch}",
            "mcp-lok-role": "server",
            "mcp-lok-transport": "stdio",
            "mcp-lok-policy": plan.digest,
        },
        "AttachStdin": True,
        "OpenStdin": True,
        "AttachStdout": True,
        "AttachStderr": True,
        "StdinOnce": False,
        "Tty": False,
        "Env": ["HOME=/tmp"],
        "HostConfig": {
            "CapDrop": ["ALL"],
            "CapAdd": [],
            "Init": True,
            "IpcMode": "private",
            "RestartPolicy": {"Name": "no"},
            "Privileged": False,
            "ReadonlyRootfs": True,
            "SecurityOpt": ["no-new-privileges:true", BASELINE_SECCOMP],
            "Memory": 512 * 1024 * 1024,
            "MemorySwap": 512 * 1024 * 1024,
            "NanoCpus": 1_000_000_000,
            "PidsLimit": 128,
            "Ulimits": [
                {"Name": "nofile", "Soft": 1024, "Hard": 1024},
                {"Name": "nproc", "Soft": 1024, "Hard": 1024},
            ],
            "Mounts": [
                {
                    "Type": "bind",
                    "Source": f"{ETC}/server/{name}",
                    "Target": f"/etc/{name}",
                    "ReadOnly": True,
                    "BindOptions": {"Propagation": "rprivate", "NonRecursive": True},
                }
                for name in ("hostname", "hosts", "resolv.conf")
            ],
            "Tmpfs": {"/tmp": "rw,noexec,nosuid,nodev,size=67108864"},
            "ShmSize": 16 * 1024 * 1024,
            "NetworkMode": "none",
        },
    }
    assert plan.digest == fingerprint(policy_for(NetworkMode.NONE))
    assert plan.engine is Engine.DOCKER
    assert (plan.name, plan.networks, plan.gate) == ("srv", (), None)
    assert [(f.path, f.content, f.mode) for f in plan.files] == [
        (f"{ETC}/server/hostname", "srv\n", 0o644),
        (
            f"{ETC}/server/hosts",
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            0o644,
        ),
        (
            f"{ETC}/server/resolv.conf",
            "# no nameserver: names resolve only through /etc/hosts\n",
            0o644,
        ),
    ]
    assert plan.server.trace["HostConfig.ShmSize"] == BASELINE
    assert plan.server.trace["Labels[mcp-lok-policy]"] == Default("policy digest")
    assert plan.server.trace["Image"] == Argument("--image")
    assert plan.server.trace["HostConfig.CapDrop"] == BASELINE


def test_the_gate_for_an_allow_listed_http_server() -> None:
    plan = lower(policy_for(NetworkMode.ALLOW_LIST), target(transport=Transport.SSE, port=9000))
    assert plan.gate is not None
    assert plan.gate.container.body == {
        "Image": "mcp-lok/gate:latest",
        "Cmd": ["/run/mcp-lok-gate/gate.json"],
        "User": "65533:65533",
        "Labels": {
            "mcp-lok": "true",
            "mcp-lok-name": "srv",
            "mcp-lok-launch": "${launch}",
            "mcp-lok-role": "gate",
            "mcp-lok-transport": "sse",
        },
        "AttachStdin": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Tty": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Env": [],
        "HostConfig": {
            "CapDrop": ["ALL"],
            "CapAdd": [],
            "Init": True,
            "IpcMode": "private",
            "RestartPolicy": {"Name": "no"},
            "Privileged": False,
            "ReadonlyRootfs": True,
            "SecurityOpt": ["no-new-privileges:true", BASELINE_SECCOMP],
            "Memory": 64 * 1024 * 1024,
            "MemorySwap": 64 * 1024 * 1024,
            "NanoCpus": 500_000_000,
            "PidsLimit": 64,
            "Ulimits": [
                {"Name": "nofile", "Soft": 1024, "Hard": 1024},
                {"Name": "nproc", "Soft": 1024, "Hard": 1024},
            ],
            "Mounts": [
                {
                    "Type": "bind",
                    "Source": "/run/mcp-lok/srv/gate",
                    "Target": "/run/mcp-lok-gate",
                    "ReadOnly": False,
                    "BindOptions": {"Propagation": "rprivate", "NonRecursive": True},
                },
                *(
                    {
                        "Type": "bind",
                        "Source": f"{ETC}/gate/{name}",
                        "Target": f"/etc/{name}",
                        "ReadOnly": True,
                        "BindOptions": {"Propagation": "rprivate", "NonRecursive": True},
                    }
                    for name in ("hostname", "hosts", "resolv.conf")
                ),
            ],
            "Tmpfs": {},
            "ShmSize": 16 * 1024 * 1024,
            "NetworkMode": "none",
            "Sysctls": {"net.ipv4.ip_unprivileged_port_start": "0"},
        },
    }
    # the gate resolves nothing itself; the server that joins it names the gate's resolver
    gate_files = {f.path: f.content for f in plan.files}
    assert gate_files[f"{ETC}/gate/resolv.conf"].startswith("# no nameserver")
    assert gate_files[RESOLV] == "nameserver 127.0.0.53\noptions ndots:1\n"
    config = {
        "version": 2,
        "name": "srv",
        "ingress": {"socket": "/run/mcp-lok-gate/ingress.sock", "port": 9000},
        "egress": {
            "socket": "/run/mcp-lok-gate/egress.sock",
            "dns": "127.0.0.53",
            "proxy": "127.0.0.1:3128",
            "rules": [{"hosts": ["api.example.com"], "ports": [443], "protocols": ["tcp"]}],
            "deny_hosts": [],
            "deny_ports": [],
        },
    }
    assert plan.gate.config.to_dict() == config
    [gate_file] = [f for f in plan.files if f.path == GATE_JSON]
    assert json.loads(gate_file.content) == config
    assert gate_file.content == canonical_json(config) + "\n"
    env = env_of(plan.server.body)
    assert (env["MCP_PORT"], env["FASTMCP_PORT"]) == ("9000", "9000")
    assert plan.server.body["Labels"]["mcp-lok-port"] == "9000"
    assert plan.server.trace["Labels[mcp-lok-port]"] == Argument("--target-port")


def test_gate_config_for_each_direction() -> None:
    denied = build(
        [
            allow_rule(),
            rules.DenyHost(host=item("169.254.169.254", 2), origin=at(2)),
            rules.DenyPort(port=item("25", 3), origin=at(3)),
        ],
        FILE,
    )
    egress = gate_config(denied, target())
    assert egress.ingress is None
    assert egress.egress is not None
    assert (egress.egress.deny_hosts, egress.egress.deny_ports) == (("169.254.169.254",), (25,))
    ingress_only = gate_config(policy_for(NetworkMode.OPEN), target(transport=Transport.SSE))
    assert ingress_only.to_dict() == {
        "version": 2,
        "name": "srv",
        "ingress": {"socket": "/run/mcp-lok-gate/ingress.sock", "port": 8080},
        "egress": None,
    }


# --- seccomp per engine -----------------------------------------------------------------------


def _seccomp_option(plan: LaunchPlan) -> str:
    [option] = [o for o in plan.server.body["HostConfig"]["SecurityOpt"] if o.startswith("seccomp")]
    return option


def test_docker_takes_the_profile_inline_and_podman_as_a_file() -> None:
    policy = build(
        [rules.SeccompDeny(syscalls=(item("personality", 5), item("acct", 6)), origin=at(5))],
        FILE,
    )
    docker_plan = lower(policy, target(Engine.DOCKER, Transport.STREAMABLE_HTTP))
    podman_plan = lower(policy, target(Engine.PODMAN, Transport.STREAMABLE_HTTP))
    inline = json.loads(_seccomp_option(docker_plan).removeprefix("seccomp="))
    assert inline == seccomp.profile(["personality"])
    path = _seccomp_option(podman_plan).removeprefix("seccomp=")
    files = {f.path: f.content for f in podman_plan.files}
    assert json.loads(files[path]) == inline
    digest = hashlib.sha256(files[path].rstrip("\n").encode()).hexdigest()[:16]
    assert path == f"/run/mcp-lok/seccomp/{digest}.json"
    # the gate keeps the baseline profile, whatever the policy adds: a second file
    assert podman_plan.gate is not None
    gate_opt = podman_plan.gate.container.body["HostConfig"]["SecurityOpt"][1]
    gate_path = gate_opt.removeprefix("seccomp=")
    assert gate_path != path
    assert json.loads(files[gate_path]) == seccomp.profile()
    assert docker_plan.gate is not None
    assert docker_plan.gate.container.body["HostConfig"]["SecurityOpt"][1] == BASELINE_SECCOMP
    # the option is traced to the last denied system call's rule
    assert docker_plan.server.trace["HostConfig.SecurityOpt[1]"] == at(5)


@pytest.mark.parametrize("engine", list(Engine))
def test_seccomp_off_is_unconfined_for_the_server_only(engine: Engine) -> None:
    policy = build([rules.SeccompOff(origin=at(3), insecure=MARK, reason="x")], FILE)
    plan = lower(policy, target(engine, Transport.SSE))
    assert plan.server.body["HostConfig"]["SecurityOpt"] == [
        "no-new-privileges:true",
        "seccomp=unconfined",
    ]
    assert plan.server.trace["HostConfig.SecurityOpt[1]"] == at(3)
    assert plan.gate is not None
    assert plan.gate.container.body["HostConfig"]["SecurityOpt"][1].startswith("seccomp=")
    assert plan.gate.container.body["HostConfig"]["SecurityOpt"][1] != "seccomp=unconfined"
    expected = 1 if engine is Engine.PODMAN else 0  # the gate's file
    assert len([f for f in plan.files if "/seccomp/" in f.path]) == expected


# --- what the policy grants -------------------------------------------------------------------


def test_policy_values_reach_the_body_with_their_origins() -> None:
    ruleset: list[rules.Rule] = [
        rules.User(spec="1000:1000", origin=at(1)),
        rules.Read(path="/srv/data", origin=at(2)),
        rules.Write(path="/srv/out", target="/out", origin=at(3)),
        rules.Tmpfs(target="/cache", size=8192, origin=at(4)),
        rules.DenyPath(path="/srv/data/keys", origin=at(5)),
        rules.Capability(name="NET_BIND_SERVICE", reason="80", origin=at(6)),
        rules.Limit(kind=rules.LimitKind.MEMORY, value=256 * 1024**2, origin=at(7)),
        rules.Limit(kind=rules.LimitKind.CPUS, value=250, origin=at(8)),
        rules.Limit(kind=rules.LimitKind.PIDS, value=50, origin=at(9)),
        rules.Limit(kind=rules.LimitKind.NOFILE, value=4096, origin=at(10)),
        rules.Env(name="LEVEL", value="debug", origin=at(11)),
        rules.Privileged(origin=at(12), insecure=MARK, reason="kvm"),
        rules.AllowPrivilegeEscalation(origin=at(13), insecure=MARK, reason="sudo"),
        rules.WritableRoot(origin=at(14), insecure=MARK, reason="apt"),
    ]
    plan = lower(build(ruleset, FILE), target(args=("serve",)))
    body, trace = plan.server.body, plan.server.trace
    host = body["HostConfig"]
    assert body["Cmd"] == ["serve"]
    assert trace["Cmd"] == Argument("-- ARGS")
    assert (body["User"], trace["User"]) == ("1000:1000", at(1))
    assert [m["Target"] for m in host["Mounts"][2:5]] == [
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
    ]
    del host["Mounts"][2:5]  # mcp-lok's own files, between the policy's mounts and its masks
    assert host["Mounts"] == [
        {
            "Type": "bind",
            "Source": "/srv/out",
            "Target": "/out",
            "ReadOnly": False,
            "BindOptions": {"Propagation": "rprivate", "NonRecursive": True},
        },
        {
            "Type": "bind",
            "Source": "/srv/data",
            "Target": "/srv/data",
            "ReadOnly": True,
            "BindOptions": {"Propagation": "rprivate", "NonRecursive": True},
        },
        {  # the mask: mcp-lok's empty directory, read-only, over the denied path
            "Type": "bind",
            "Source": "/run/mcp-lok/empty",
            "Target": "/srv/data/keys",
            "ReadOnly": True,
            "BindOptions": {"Propagation": "rprivate", "NonRecursive": True},
        },
    ]
    assert (trace["HostConfig.Mounts[0]"], trace["HostConfig.Mounts[1]"]) == (at(3), at(2))
    assert trace["HostConfig.Mounts[5]"] == at(5)
    assert [(f.path, f.mode, f.directory) for f in plan.files if f.directory] == [
        ("/run/mcp-lok/empty", 0o555, True)
    ]
    assert host["Tmpfs"] == {
        "/cache": "rw,noexec,nosuid,nodev,size=8192",
        "/tmp": "rw,noexec,nosuid,nodev,size=67108864",
    }
    assert trace["HostConfig.Tmpfs[/tmp]"] == BASELINE
    assert (host["CapAdd"], host["CapDrop"]) == (["NET_BIND_SERVICE"], ["ALL"])
    assert trace["HostConfig.CapAdd[0]"] == at(6)
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["PidsLimit"]) == (
        256 * 1024**2,
        256 * 1024**2,
        250_000_000,
        50,
    )
    assert [trace[f"HostConfig.{f}"] for f in ("Memory", "NanoCpus", "PidsLimit")] == [
        at(7),
        at(8),
        at(9),
    ]
    assert host["Ulimits"][0] == {"Name": "nofile", "Soft": 4096, "Hard": 4096}
    assert trace["HostConfig.Ulimits[0]"] == at(10)
    assert body["Env"] == ["HOME=/tmp", "LEVEL=debug"]
    assert trace["Env[1]"] == at(11)
    assert (host["Privileged"], trace["HostConfig.Privileged"]) == (True, at(12))
    assert host["SecurityOpt"] == [BASELINE_SECCOMP]  # no `no-new-privileges`
    assert (host["ReadonlyRootfs"], trace["HostConfig.ReadonlyRootfs"]) == (False, at(14))


def test_secrets_appear_only_as_placeholders() -> None:
    policy = build(
        [
            rules.Secret(
                name="TOKEN", provider=rules.SecretProvider.ENV, ref="GH_TOKEN", origin=at(1)
            ),
            rules.Secret(
                name="KEY", provider=rules.SecretProvider.FILE, ref="/run/keys/k", origin=at(2)
            ),
            allow_rule(3),
        ],
        FILE,
    )
    for engine in Engine:
        plan = lower(policy, target(engine, Transport.SSE))
        env = env_of(plan.server.body)
        assert (env["TOKEN"], env["KEY"]) == (
            "${secret:env:GH_TOKEN}",
            "${secret:file:/run/keys/k}",
        )
        text = plan.to_json()
        assert text.count("${secret:") == 2
        assert text.count("GH_TOKEN") == 1
        assert text.count("/run/keys/k") == 1
        assert plan.gate is not None
        assert plan.gate.container.body["Env"] == []


def test_equal_policies_from_different_origins_lower_to_the_same_bytes() -> None:
    one = build([allow_rule(1), rules.Read(path="/srv", origin=at(2))], "a.lok")
    other = build(
        [rules.Read(path="/srv/", origin=at(7)), allow_rule(9)],
        "b.lok",
    )
    assert lower(one, target()).to_json() == lower(other, target()).to_json()


def test_runtime_dir_and_gate_image_are_inputs() -> None:
    plan = lower(
        policy_for(NetworkMode.ALLOW_LIST),
        target(Engine.PODMAN, runtime_dir="/var/lib/lok", gate_image="gate:2"),
    )
    assert {f.path.rsplit("/", 1)[0] for f in plan.files} == {
        "/var/lib/lok/seccomp",
        "/var/lib/lok/srv",
        "/var/lib/lok/srv/gate",
        "/var/lib/lok/srv/etc/gate",
        "/var/lib/lok/srv/etc/server",
    }
    assert plan.gate is not None
    assert plan.gate.container.body["Image"] == "gate:2"


def test_to_dict_lays_out_the_plan() -> None:
    plan = lower(policy_for(NetworkMode.ALLOW_LIST), target())
    assert plan.gate is not None
    layout = plan.to_dict()
    assert layout == {
        "engine": "docker",
        "name": "srv",
        "policy_digest": plan.digest,
        "container_name": "mcp-lok-srv",
        "container": plan.server.body,
        "networks": [],
        "gate": {
            "container_name": "mcp-lok-srv-gate",
            "container": plan.gate.container.body,
            "config": plan.gate.config.to_dict(),
        },
        "files": [
            {
                "path": f.path,
                "mode": f"{f.mode:04o}",
                "content": f.content,
                "directory": f.directory,
                "owner": f.owner,
            }
            for f in plan.files
        ],
        "engine_mounts": {
            "server": [m.to_dict() for m in plan.server.engine_mounts],
            "gate": [m.to_dict() for m in plan.gate.container.engine_mounts],
        },
    }
    assert [(f["path"], f["mode"], f["owner"]) for f in layout["files"]] == [
        (EGRESS_JSON, "0600", None),
        (f"{ETC}/gate/hostname", "0644", None),
        (f"{ETC}/gate/hosts", "0644", None),
        (f"{ETC}/gate/resolv.conf", "0644", None),
        (f"{ETC}/server/hostname", "0644", None),
        (f"{ETC}/server/hosts", "0644", None),
        (RESOLV, "0644", None),
        (GATE_JSON.rsplit("/", 1)[0], "0700", "65533:65533"),
        (GATE_JSON, "0644", None),
    ]
    assert layout["engine_mounts"]["server"][0] == {
        "target": "/",
        "types": [],
        "options": ["ro"],
        "size": None,
        "beneath": False,
        "optional": False,
        "why": "the image's filesystem (the engine's storage driver), read-only (`ReadonlyRootfs`)",
    }
    assert json.loads(plan.to_json()) == json.loads(canonical_json(layout))
    assert lower(policy_for(NetworkMode.NONE), target()).to_dict()["gate"] is None
    # the host's copy of the rules: outside the gate's folder, readable by mcp-lok only
    rules = json.loads(plan.files[0].content)
    assert rules["socket"] == "/run/mcp-lok/srv/gate/egress.sock"
    assert rules["gate_user"] == "65533:65533"
    # the gate's rules, each with the address classes its `insecure` acknowledged
    assert rules["rules"] == [
        {**rule, "acknowledged": []} for rule in plan.gate.config.to_dict()["egress"]["rules"]
    ]


def test_canonical_json() -> None:
    value = {"b": [1, {"d": None, "c": "é"}], "a": True}
    assert canonical_json(value) == '{"a":true,"b":[1,{"c":"é","d":null}]}'
    assert canonical_json(value, indent=2) == (
        '{\n  "a": true,\n  "b": [\n    1,\n    {\n      "c": "é",\n      "d": null\n    }\n  ]\n}'
    )


def test_transport_is_http() -> None:
    assert [t.is_http for t in Transport] == [False, True, True]


# --- command-line inputs ----------------------------------------------------------------------


def test_good_targets_have_no_problems() -> None:
    assert target_problems(target()) == []
    assert target_problems(Target(image="ghcr.io/a/b@sha256:00", name="a" * 63, port=1)) == []
    assert target_problems(Target(image="i", name="A.b_c-9", port=65535)) == []


@pytest.mark.parametrize("name", ["", "-srv", ".srv", "a" * 64, "s rv", "srv\n", "srv/x", "é"])
def test_bad_server_names(name: str) -> None:
    assert target_problems(Target(image="img", name=name)) == [
        Diagnostic(
            Code.NAME_INVALID,
            f"`{name}` is not a valid server name",
            Argument("--name"),
            help="use letters, digits, `_`, `.` and `-`, starting with a letter or digit, "
            "at most 63 characters",
        )
    ]


@pytest.mark.parametrize("image", ["", "img 1", "img\n", "img\x01", "\tx"])
def test_bad_images(image: str) -> None:
    assert target_problems(Target(image=image, name="srv")) == [
        Diagnostic(
            Code.IMAGE_INVALID,
            f"`{image}` is not an image reference",
            Argument("--image"),
            help="e.g. `mcp-lok/mcp-server-time:latest`",
        )
    ]


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_bad_ports(port: int) -> None:
    assert target_problems(Target(image="img", name="srv", port=port)) == [
        Diagnostic(
            Code.PORT_INVALID, f"port `{port}` is outside 1–65535", Argument("--target-port")
        )
    ]


def test_all_target_problems_at_once() -> None:
    problems = target_problems(Target(image="", name="", port=0))
    assert [p.code for p in problems] == [Code.NAME_INVALID, Code.IMAGE_INVALID, Code.PORT_INVALID]


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("ghcr.io/acme/github-mcp:1.2", "github-mcp"),
        ("mcp/time", "time"),
        ("time", "time"),
        ("localhost:5000/tools/fetch:latest", "fetch"),
        ("repo/img@sha256:abcdef", "img"),
        ("repo/img:tag@sha256:abcdef", "img"),
        ("repo/My Server!!:1", "My-Server"),
        ("repo/-._x_.-:1", "x"),
        ("repo/" + "a" * 80, "a" * 63),
        ("", "server"),
        ("repo/:tag", "server"),
        ("!!!", "server"),
    ],
)
def test_default_name(image: str, name: str) -> None:
    assert default_name(image) == name


def test_podman_scratch_mounts_are_bounded_and_not_executable() -> None:
    from mcp_lok.policy import FixedHost
    from mcp_lok.policy import compile_plan as compile_

    target = Target(image="img", name="srv", engine=Engine.PODMAN)
    tmpfs = compile_("stdio", target, host=FixedHost()).server.body["HostConfig"]["Tmpfs"]
    assert tmpfs["/run"] == tmpfs["/var/tmp"] == "rw,noexec,nosuid,nodev,size=16777216"


def test_podman_scratch_mounts_keep_a_policys_own_and_skip_a_writable_root() -> None:
    from mcp_lok.policy.build import build
    from mcp_lok.policy.lower import lower as lower_
    from mcp_lok.policy.lower.plan import Payload
    from mcp_lok.policy.lower.podman import harden

    policy = build([rules.Tmpfs(target="/run", size=8192, origin=BASELINE)], "p")
    plan_ = lower_(policy, Target(image="img", name="srv", engine=Engine.PODMAN))
    assert plan_.server.body["HostConfig"]["Tmpfs"]["/run"].endswith("size=8192")
    payload = Payload()
    payload.host.set(BASELINE, Tmpfs={})
    harden(payload, read_only=False)
    assert payload.body["HostConfig"]["Tmpfs"] == {}


@pytest.mark.parametrize("transport", list(Transport))
def test_every_object_of_a_launch_carries_its_nonce(transport: Transport) -> None:
    nonce = "0123456789abcdef0123456789abcdef"
    plan = lower(policy_for(NetworkMode.OPEN), target(transport=transport, launch=nonce))
    assert plan.launch == nonce
    bodies = [plan.server.body, *plan.networks]
    if plan.gate is not None:
        bodies.append(plan.gate.container.body)
    assert [b["Labels"]["mcp-lok-launch"] for b in bodies] == [nonce] * len(bodies)
    assert plan.server.trace["Labels[mcp-lok-launch]"].render() == "default (launch nonce)"
    # `policy compile` prints the placeholder that a launch fills in
    assert lower(policy_for(NetworkMode.OPEN), target(transport=transport)).launch == "${launch}"
