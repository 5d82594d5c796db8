"""The build pass: rules fold, in order, onto the hardened baseline; every IR value keeps
the origin of the rule (or default) that set it."""

from __future__ import annotations

import pytest

from mcp_lok.policy import baseline, rules
from mcp_lok.policy.build import build
from mcp_lok.policy.diagnostics import Code, Diagnostic, PolicyError
from mcp_lok.policy.host import HostPath, PathKind
from mcp_lok.policy.ir import (
    IR,
    Acknowledged,
    Capability,
    EgressRule,
    EnvVar,
    Insecurity,
    Limits,
    Mask,
    Mount,
    Network,
    NetworkMode,
    SecretRef,
    Tmpfs,
    User,
    Value,
)
from mcp_lok.policy.origin import BASELINE, Default, Pointer, Span

FILE = "p.lok"


def mount(source: str, target: str, writable: bool, origin: Span) -> Mount:
    """An IR mount of a path that leads to itself (what it held is not compared)."""
    return Mount(source, target, writable, origin, HostPath(source, source, PathKind.DIRECTORY))


MARK = Span(FILE, 9, 1, 9, 9)
TCP = rules.IpProtocol.TCP
ENV = rules.SecretProvider.ENV


def at(line: int, file: str = FILE) -> Span:
    return Span(file, line, 1, line, 10)


def allow(line: int, *hosts: str, ports: tuple[str, ...] = ("443",)) -> rules.Allow:
    return rules.Allow(
        hosts=tuple(rules.Item(h, at(line)) for h in hosts),
        ports=tuple(rules.Item(p, at(line)) for p in ports),
        protocols=(rules.Item("tcp", at(line)),),
        origin=at(line),
    )


def test_no_rules_give_exactly_the_hardened_baseline() -> None:
    policy = build([], "stdio")
    assert policy == IR(
        compiled_from="stdio",
        user=User("65534:65534", BASELINE),
        mounts=(),
        tmpfs=(Tmpfs("/tmp", 64 * 1024 * 1024, BASELINE),),
        masks=(),
        network=Network(mode=Value(NetworkMode.NONE, BASELINE)),
        capabilities=(),
        seccomp=Value(True, BASELINE),
        seccomp_deny=(),
        no_new_privileges=Value(True, BASELINE),
        privileged=Value(False, BASELINE),
        read_only_rootfs=Value(True, BASELINE),
        limits=Limits(
            memory=Value(512 * 1024 * 1024, BASELINE),
            cpus=Value(1000, BASELINE),
            pids=Value(128, BASELINE),
            nofile=Value(1024, BASELINE),
        ),
        env=(EnvVar("HOME", "/tmp", BASELINE),),
        secrets=(),
        insecure=(),
    )
    # equality ignores origins, so check that every default says where it came from
    values = [policy.user, policy.seccomp, policy.privileged, policy.network.mode]
    values += [policy.limits.memory, policy.limits.nofile, *policy.tmpfs, *policy.env]
    assert {v.origin for v in values} == {BASELINE}


@pytest.mark.parametrize(
    "ruleset",
    [
        [rules.Read(path="/srv", origin=at(1)), rules.Write(path="/srv", origin=at(2))],
        [rules.Write(path="/srv", origin=at(2)), rules.Read(path="/srv/", origin=at(1))],
    ],
)
def test_read_and_write_of_one_path_make_one_writable_mount(ruleset: list[rules.Rule]) -> None:
    policy = build(ruleset, FILE)
    assert policy.mounts == (mount("/srv", "/srv", True, at(2)),)
    assert policy.mounts[0].origin == at(2)  # the `write` that made it writable


def test_mounts_are_normalised_and_sorted_by_target() -> None:
    policy = build(
        [
            rules.Read(path="/srv/b/", origin=at(1)),
            rules.Write(path="/data//out", target="/a/out/", origin=at(2)),
        ],
        FILE,
    )
    assert policy.mounts == (
        mount("/data/out", "/a/out", True, at(2)),
        mount("/srv/b", "/srv/b", False, at(1)),
    )


def test_a_later_mount_at_the_same_target_replaces_the_earlier() -> None:
    policy = build(
        [
            rules.Write(path="/a", target="/data", origin=at(1, "base.lok")),
            rules.Read(path="/b", target="/data", origin=at(1)),
        ],
        FILE,
    )
    assert policy.mounts == (mount("/b", "/data", False, at(1)),)


def test_tmpfs_masks_and_their_defaults() -> None:
    policy = build(
        [
            rules.Tmpfs(target="/cache/", origin=at(1)),
            rules.Tmpfs(target="/tmp", size=8192, origin=at(2)),
            rules.DenyPath(path="/srv/secret/", origin=at(3)),
        ],
        FILE,
    )
    assert policy.tmpfs == (
        Tmpfs("/cache", baseline.TMP_SIZE, at(1)),
        Tmpfs("/tmp", 8192, at(2)),
    )
    assert policy.tmpfs[1].origin == at(2)
    assert policy.masks == (Mask("/srv/secret", at(3)),)


def test_single_values_take_the_last_rule() -> None:
    policy = build(
        [
            rules.User(spec="1000", origin=at(1, "base.lok")),
            rules.Limit(kind=rules.LimitKind.PIDS, value=64, origin=at(2, "base.lok")),
            rules.Env(name="LEVEL", value="info", origin=at(3, "base.lok")),
            rules.User(spec="1001:1001", origin=at(1)),
            rules.Limit(kind=rules.LimitKind.PIDS, value=32, origin=at(2)),
            rules.Limit(kind=rules.LimitKind.CPUS, value=250, origin=at(4)),
            rules.Env(name="LEVEL", value="debug", origin=at(3)),
        ],
        FILE,
    )
    assert policy.user == User("1001:1001", at(1))
    assert policy.user.origin == at(1)
    assert policy.limits.pids == Value(32, at(2))
    assert policy.limits.pids.origin == at(2)
    assert policy.limits.cpus.origin == at(4)
    assert policy.limits.memory.origin == BASELINE
    assert policy.env == (EnvVar("HOME", "/tmp", BASELINE), EnvVar("LEVEL", "debug", at(3)))


def test_a_secret_replaces_an_environment_variable_of_the_same_name_and_back() -> None:
    policy = build(
        [
            rules.Env(name="TOKEN", value="plain", origin=at(1, "base.lok")),
            rules.Secret(name="TOKEN", provider=ENV, ref="GH_TOKEN", origin=at(1)),
            rules.Secret(name="HOME", provider=rules.SecretProvider.FILE, ref="/h", origin=at(2)),
        ],
        FILE,
    )
    assert policy.env == ()
    assert policy.secrets == (
        SecretRef("HOME", rules.SecretProvider.FILE, "/h", at(2)),
        SecretRef("TOKEN", ENV, "GH_TOKEN", at(1)),
    )
    back = build(
        [
            rules.Secret(name="TOKEN", provider=ENV, ref="GH_TOKEN", origin=at(1, "base.lok")),
            rules.Env(name="TOKEN", value="plain", origin=at(1)),
        ],
        FILE,
    )
    assert back.secrets == ()
    assert back.env == (EnvVar("HOME", "/tmp", BASELINE), EnvVar("TOKEN", "plain", at(1)))


# --- network ------------------------------------------------------------------------------


def test_an_allow_rule_makes_an_allow_list_with_normalised_entries() -> None:
    policy = build([allow(1, "API.Example.com", "[2001:DB8::1]", ports=("443", "0080"))], FILE)
    assert policy.network == Network(
        mode=Value(NetworkMode.ALLOW_LIST, at(1)),
        rules=(
            EgressRule(
                hosts=(Value("api.example.com", at(1)), Value("2001:db8::1", at(1))),
                ports=(Value(443, at(1)), Value(80, at(1))),
                protocols=(Value(TCP, at(1)),),
                origin=at(1),
                covers=((), ()),  # a name and a public address cover no special class
            ),
        ),
    )
    assert policy.network.mode.origin == at(1)


def test_allow_rules_accumulate_and_the_first_sets_the_mode() -> None:
    policy = build([allow(1, "a.example.com"), allow(2, "b.example.com")], FILE)
    assert policy.network.mode.origin == at(1)
    assert [r.hosts[0].value for r in policy.network.rules] == ["a.example.com", "b.example.com"]
    assert [r.origin for r in policy.network.rules] == [at(1), at(2)]


def _conflict(at_line: int, other: Span) -> Diagnostic:
    return Diagnostic(
        Code.NETWORK_CONFLICT,
        "open egress and an allow-list cannot be combined",
        at(at_line),
        help="an open network allows every host, so the allow-list at "
        f"{other.render()} would mean nothing; keep one of them",
    )


def test_open_after_an_allow_list_is_a_conflict() -> None:
    with pytest.raises(PolicyError) as caught:
        build([allow(1, "a.example.com"), rules.NetworkOpen(origin=at(2), insecure=MARK)], FILE)
    assert caught.value.diagnostics == (_conflict(2, at(1)),)


def test_an_allow_list_after_open_is_a_conflict() -> None:
    with pytest.raises(PolicyError) as caught:
        build(
            [
                rules.NetworkOpen(origin=at(1), insecure=MARK),
                allow(2, "a.example.com"),
                allow(3, "b.example.com"),
            ],
            FILE,
        )
    assert caught.value.diagnostics == (_conflict(2, at(1)), _conflict(3, at(1)))


@pytest.mark.parametrize(
    ("ruleset", "mode", "origin", "egress"),
    [
        ([allow(1, "a.example.com"), rules.NetworkNone(origin=at(2))], NetworkMode.NONE, at(2), 0),
        (
            [
                rules.NetworkOpen(origin=at(1), insecure=MARK),
                rules.NetworkNone(origin=at(2)),
                allow(3, "a.example.com"),
            ],
            NetworkMode.ALLOW_LIST,
            at(3),
            1,
        ),
        (
            [
                allow(1, "a.example.com"),
                rules.NetworkNone(origin=at(2)),
                rules.NetworkOpen(origin=at(3), insecure=MARK),
            ],
            NetworkMode.OPEN,
            at(3),
            0,
        ),
        (
            [rules.NetworkOpen(origin=at(1), insecure=MARK), rules.NetworkOpen(origin=at(2))],
            NetworkMode.OPEN,
            at(2),
            0,
        ),
    ],
)
def test_network_none_resets_what_came_before(
    ruleset: list[rules.Rule], mode: NetworkMode, origin: Span, egress: int
) -> None:
    network = build(ruleset, FILE).network
    assert network.mode.value is mode
    assert network.mode.origin == origin
    assert len(network.rules) == egress


def test_denied_hosts_and_ports_are_normalised_sorted_and_unique() -> None:
    policy = build(
        [
            rules.DenyHost(host=rules.Item("Metadata.Internal", at(1)), origin=at(1)),
            rules.DenyHost(host=rules.Item("[FD00::1]", at(2)), origin=at(2)),
            rules.DenyHost(host=rules.Item("metadata.internal", at(3, "c.lok")), origin=at(3)),
            rules.DenyPort(port=rules.Item("25", at(4)), origin=at(4)),
            rules.DenyPort(port=rules.Item("0022", at(5)), origin=at(5)),
        ],
        FILE,
    )
    assert policy.network.deny_hosts == (
        Value("fd00::1", at(2)),
        Value("metadata.internal", at(3, "c.lok")),
    )
    assert policy.network.deny_hosts[1].origin == at(3, "c.lok")
    assert policy.network.deny_ports == (Value(22, at(5)), Value(25, at(4)))


# --- capabilities, seccomp and the dangerous switches -----------------------------------


def test_capabilities_are_sorted_and_keep_their_reason() -> None:
    policy = build(
        [
            rules.Capability(name="NET_RAW", reason="ping", origin=at(1), insecure=MARK),
            rules.Capability(name="NET_BIND_SERVICE", reason="port 80", origin=at(2)),
        ],
        FILE,
    )
    assert policy.capabilities == (
        Capability("NET_BIND_SERVICE", "port 80", at(2)),
        Capability("NET_RAW", "ping", at(1)),
    )


def test_seccomp_denials_merge_sorted_without_repeats() -> None:
    policy = build(
        [
            rules.SeccompDeny(
                syscalls=(rules.Item("ptrace", at(1)), rules.Item("personality", at(1))),
                origin=at(1),
            ),
            rules.SeccompDeny(syscalls=(rules.Item("ptrace", at(2)),), origin=at(2)),
        ],
        FILE,
    )
    assert policy.seccomp_deny == (Value("personality", at(1)), Value("ptrace", at(2)))
    assert policy.seccomp_deny[1].origin == at(2)
    assert policy.seccomp == Value(True, BASELINE)


@pytest.mark.parametrize(
    ("rule", "field", "value"),
    [
        (rules.SeccompOff(origin=at(4), insecure=MARK), "seccomp", False),
        (rules.Privileged(origin=at(4), insecure=MARK), "privileged", True),
        (rules.AllowPrivilegeEscalation(origin=at(4), insecure=MARK), "no_new_privileges", False),
        (rules.WritableRoot(origin=at(4), insecure=MARK), "read_only_rootfs", False),
    ],
)
def test_dangerous_switches_flip_one_value_each(rule: rules.Rule, field: str, value: bool) -> None:
    policy = build([rule], FILE)
    assert getattr(policy, field) == Value(value, at(4))
    assert getattr(policy, field).origin == at(4)
    baseline_policy = build([], FILE)
    others = {"seccomp", "privileged", "no_new_privileges", "read_only_rootfs"} - {field}
    assert {f: getattr(policy, f) for f in others} == {
        f: getattr(baseline_policy, f) for f in others
    }


def test_acknowledgements_record_the_marker_that_allowed_them() -> None:
    profile_marker = Pointer("p.json", "/insecure")
    policy = build(
        [
            rules.Read(path="/var/run/docker.sock", origin=at(1), insecure=MARK, reason="ci"),
            rules.Read(path="/srv", origin=at(2)),
            rules.User(spec="root", origin=at(3), insecure=profile_marker),
            rules.Capability(name="NET_BIND_SERVICE", reason="80", origin=at(4)),
            rules.NetworkOpen(origin=Default("network"), insecure=Default("network")),
        ],
        FILE,
    )
    assert policy.insecure == (
        Acknowledged(Insecurity.SENSITIVE_MOUNT, "`/var/run/docker.sock`", MARK),
        Acknowledged(Insecurity.ROOT_USER, "root", profile_marker),
        Acknowledged(Insecurity.NETWORK_OPEN, "egress to any host", Default("network")),
    )
    assert [a.origin for a in policy.insecure] == [MARK, profile_marker, Default("network")]


def test_an_unmarked_danger_is_recorded_at_the_rule() -> None:
    # `build` trusts `check` to have refused it; it still never loses the origin
    policy = build([rules.Privileged(origin=at(7))], FILE)
    assert policy.insecure == (
        Acknowledged(Insecurity.PRIVILEGED, "all devices and capabilities", at(7)),
    )
    assert policy.insecure[0].origin == at(7)


def test_extends_is_resolved_before_build_and_ignored_by_it() -> None:
    assert build([rules.Extends(target="base.lok", origin=at(1))], FILE) == build([], FILE)


# --- contradictions visible only once every rule is applied ------------------------------


def codes_and_origins(ruleset: list[rules.Rule]) -> list[tuple[Code, object]]:
    with pytest.raises(PolicyError) as caught:
        build(ruleset, "p")
    return [(d.code, d.origin) for d in caught.value.diagnostics]


def test_denies_under_an_open_network_are_refused_because_nothing_enforces_them() -> None:
    ruleset: list[rules.Rule] = [
        rules.NetworkOpen(origin=at(1), insecure=at(1)),
        rules.DenyHost(host=rules.Item("evil.example.com", at(2)), origin=at(2)),
        rules.DenyPort(port=rules.Item("25", at(3)), origin=at(3)),
    ]
    assert codes_and_origins(ruleset) == [
        (Code.NETWORK_CONFLICT, at(2)),
        (Code.NETWORK_CONFLICT, at(3)),
    ]


def test_a_bind_mount_over_the_baseline_tmp_is_a_conflict() -> None:
    assert codes_and_origins([rules.Write(path="/srv/tmp", target="/tmp", origin=at(1))]) == [
        (Code.MOUNT_CONFLICT, at(1))
    ]


def test_a_mask_over_a_bind_mount_is_a_conflict() -> None:
    ruleset: list[rules.Rule] = [
        rules.Read(path="/srv", origin=at(1)),
        rules.DenyPath(path="/srv", origin=at(2)),
    ]
    assert codes_and_origins(ruleset) == [(Code.MOUNT_CONFLICT, at(1))]


def test_resolv_conf_belongs_to_the_gate_under_an_allow_list() -> None:
    ruleset: list[rules.Rule] = [
        rules.Read(path="/srv/resolv.conf", target="/etc/resolv.conf", origin=at(1)),
        allow(2, "example.com"),
    ]
    with pytest.raises(PolicyError) as caught:
        build(ruleset, "p")
    [found] = caught.value.diagnostics
    assert (found.code, found.origin) == (Code.MOUNT_CONFLICT, at(1))
    assert found.message == (
        "`/etc/resolv.conf` is mcp-lok's own: it names the only resolver the network mode allows"
    )
    assert found.help == "the gate's resolver is what enforces allowed names; remove this rule"


OWN = sorted(baseline.OWN_PATHS)
# the second spellings the engine reads as the same path
SPELLINGS = ("{}", "/{}", "{}/", "{}/.", "//{}")


@pytest.mark.parametrize("path", OWN)
@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("kind", ["read", "write", "tmpfs", "deny"])
def test_mcp_loks_own_files_are_no_rules_business(path: str, spelling: str, kind: str) -> None:
    """/etc/hosts, /etc/hostname, /etc/resolv.conf, /run/.containerenv and /dev/shm are
    named by mcp-lok itself, under every network mode: no mount, tmpfs or mask replaces them."""
    written = spelling.format(path).replace("///", "//")
    rule: rules.Rule = {
        "read": rules.Read(path="/srv/x", target=written, origin=at(1)),
        "write": rules.Write(path="/srv/x", target=written, origin=at(1)),
        "tmpfs": rules.Tmpfs(target=written, origin=at(1)),
        "deny": rules.DenyPath(path=written, origin=at(1)),
    }[kind]
    with pytest.raises(PolicyError) as caught:
        build([rule], "p")
    [found] = caught.value.diagnostics
    assert (found.code, found.origin) == (Code.MOUNT_CONFLICT, at(1))
    assert found.message == f"`{path}` is mcp-lok's own: {baseline.OWN_PATHS[path]}"
    assert found.help == "mcp-lok puts its own there on every engine; remove this rule"


def test_a_host_file_read_at_its_own_path_is_refused_too() -> None:
    # `read /etc/hosts` mounts the host's file at the same path: the leak Podman had
    assert codes_and_origins([rules.Read(path="/etc/hosts", origin=at(1))]) == [
        (Code.MOUNT_CONFLICT, at(1))
    ]


def test_paths_beside_mcp_loks_own_files_stay_the_policys() -> None:
    ruleset: list[rules.Rule] = [
        rules.Read(path="/srv/hosts.d", target="/etc/hosts.d", origin=at(1)),
        rules.Tmpfs(target="/run/shm2", origin=at(2)),
        rules.DenyPath(path="/run/.containerenv.d", origin=at(3)),
    ]
    policy = build(ruleset, "p")
    assert [m.target for m in policy.mounts] == ["/etc/hosts.d"]


def test_hiding_a_tmpfs_is_a_conflict() -> None:
    ruleset: list[rules.Rule] = [
        rules.Tmpfs(target="/cache", origin=at(1)),
        rules.DenyPath(path="/cache", origin=at(2)),
    ]
    assert codes_and_origins(ruleset) == [(Code.MOUNT_CONFLICT, at(2))]
