"""`explain`: one row per control of a plan, each with its mark, field, sentence and
origin, and an exposure score; plus the invariant that no payload field lacks an origin."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mcp_lok.policy import rules
from mcp_lok.policy.build import build
from mcp_lok.policy.compiler import compile_policy
from mcp_lok.policy.explain import (
    CAPABILITY_WEIGHTS,
    ROWS,
    WEIGHTS,
    Control,
    Mark,
    Report,
    exceeds,
    explain,
    render_human,
    render_json,
)
from mcp_lok.policy.host import FixedHost, Host, HostPath, PathKind
from mcp_lok.policy.ir import IR, Insecurity, Value
from mcp_lok.policy.lower import Engine, LaunchPlan, Target, Transport, lower
from mcp_lok.policy.origin import BASELINE, Span
from mcp_lok.policy.record import replace

FILE = "policy.lok"
FLAT = " (non-recursive: no host mount beneath it is carried in)"
TARGET = Target(image="img", name="srv")


def at(line: int) -> Span:
    return Span(FILE, line, 1, line, 20)


def items(line: int, *values: str) -> tuple[rules.Item, ...]:
    return tuple(rules.Item(v, at(line)) for v in values)


def allow(line: int, *hosts: str, ports: tuple[str, ...] = ("443",)) -> rules.Allow:
    return rules.Allow(
        hosts=tuple(
            rules.Item(h, Span(FILE, line, 7 + i, line, 8 + i)) for i, h in enumerate(hosts)
        ),
        ports=items(line, *ports),
        protocols=items(line, "tcp"),
        origin=at(line),
    )


SOCKET_GROUP = FixedHost(groups={0: "is root's group", 105: "may open `/run/docker.sock`"})


def compiled(
    *ruleset: rules.Rule, target: Target = TARGET, host: Host = SOCKET_GROUP
) -> tuple[IR, LaunchPlan]:
    policy = build(list(ruleset), FILE, host)
    return policy, lower(policy, target)


def report_of(*ruleset: rules.Rule, target: Target = TARGET, host: Host = SOCKET_GROUP) -> Report:
    return explain(*compiled(*ruleset, target=target, host=host))


def builtin(name: str, target: Target = TARGET) -> Report:
    policy = compile_policy(name, host=FixedHost()).policy
    return explain(policy, lower(policy, target))


def rows(report: Report, kind: str) -> list[Control]:
    return [c for c in report.controls if c.kind == kind]


def one(report: Report, kind: str) -> Control:
    (found,) = rows(report, kind)
    return found


def tampered(plan: LaunchPlan, *, env: list[str] | None = None, **host: Any) -> LaunchPlan:
    """The plan with its server body edited: what `explain` must read honestly even though
    lowering never produces it."""
    body = copy.deepcopy(plan.server.body)
    body["HostConfig"].update(host)  # type: ignore[typeddict-item]
    if env is not None:
        body["Env"] = env
    return replace(plan, server=replace(plan.server, body=body))


# --- the built-ins and the score -------------------------------------------------------


def test_stdio_is_locked_down_but_not_zero() -> None:
    report = builtin("stdio")
    assert (report.score, report.level) == (1.0, "OK")
    assert all(c.ok for c in report.controls)
    assert report.risks == ()
    assert one(report, "no-network").description == (
        "the server has no network interface but loopback"
    )
    assert one(report, "no-network").origin.render() == "default (stdio)"
    assert one(report, "no-caps").description == "all capabilities are dropped"
    assert one(report, "no-caps").origin.render() == "default (baseline)"
    # the residual exposure: the shared kernel, a host uid, a writable /tmp and /dev/shm
    residual = {c.kind: c.weight for c in report.controls if c.weight}
    assert residual == {"uid": 0.03, "seccomp": 0.05, "scratch": 0.01, "shm": 0.01}


def test_network_is_exposed_and_says_so() -> None:
    report = builtin("network")
    assert (report.score, report.level) == (5.5, "EXPOSED")
    first = report.controls[0]
    assert (first.kind, first.mark, first.field) == (
        "insecure",
        Mark.NOTABLE,
        "HostConfig.NetworkMode",
    )
    assert first.description == "INSECURE, acknowledged: open network (egress to any host)"
    assert first.origin.render() == "default (network)"
    opened = one(report, "open-network")
    assert opened.mark is Mark.EXPOSED
    assert "`mcp-lok-srv` with unrestricted egress" in opened.description
    assert report.risks == (
        "INSECURE, acknowledged: open network (egress to any host) (default (network))",
        f"{opened.description} (default (network))",
    )


def test_privileged_is_near_ten_and_overrides_capabilities_and_seccomp() -> None:
    report = report_of(rules.Privileged(origin=at(3), insecure=at(3), reason="dev"))
    assert (report.score, report.level) == (9.9, "UNSAFE")
    assert one(report, "privileged").origin == at(3)
    # the engine ignores CapDrop and seccomp for a privileged container: say so, at the rule
    assert one(report, "privileged-caps").origin == at(3)
    assert one(report, "privileged-seccomp").field == "HostConfig.SecurityOpt[1]"
    assert one(report, "insecure").field == "HostConfig.Privileged"
    assert rows(report, "no-caps") == rows(report, "seccomp") == []


def test_seccomp_off_is_medium() -> None:
    report = report_of(rules.SeccompOff(origin=at(2), insecure=at(2), reason="strace"))
    unconfined = one(report, "unconfined")
    assert (unconfined.field, unconfined.origin, unconfined.mark) == (
        "HostConfig.SecurityOpt[1]",
        at(2),
        Mark.EXPOSED,
    )
    assert (report.score, report.level) == (4.8, "MEDIUM")


@pytest.mark.parametrize(
    ("weight", "score", "level"),
    [
        (0.0, 0.0, "OK"),
        (0.24, 2.4, "OK"),
        (0.25, 2.5, "MEDIUM"),
        (0.5, 5.0, "EXPOSED"),
        (0.75, 7.5, "UNSAFE"),
        (1.5, 10.0, "UNSAFE"),  # weights are clamped to [0, 1]
        (-1.0, 0.0, "OK"),
    ],
)
def test_levels_and_clamping(weight: float, score: float, level: str) -> None:
    row = Control("env", Mark.OK, "Env[0]", "x", BASELINE, weight)
    report = Report("s", Engine.DOCKER, (row,))
    assert (report.score, report.level) == (score, level)
    assert exceeds(report, score - 0.1)
    assert not exceeds(report, score)


def test_score_does_not_depend_on_row_order() -> None:
    controls = tuple(Control("env", Mark.OK, "f", "d", BASELINE, w) for w in (0.1, 0.33, 0.07))
    forward = Report("s", Engine.DOCKER, controls)
    backward = Report("s", Engine.DOCKER, controls[::-1])
    assert forward.score == backward.score == 4.4


def test_the_table_is_well_formed() -> None:
    assert ROWS["uid"][2].endswith("(still a host uid unless the engine remaps users)")
    assert all(0.0 <= w <= 1.0 for w in (*WEIGHTS.values(), *CAPABILITY_WEIGHTS.values()))
    # an exposure always weighs something; a holding control at most a residual
    for kind, (mark, weight, _) in ROWS.items():
        assert weight > 0 if mark is Mark.EXPOSED else weight <= 0.15, kind


# --- process: user, privileges, capabilities, seccomp, root filesystem ------------------


@pytest.mark.parametrize(
    ("spec", "kind", "description"),
    [
        ("0:0", "root", "the server runs as root, `0:0`; no supplementary groups are added"),
        ("root", "root", "the server runs as root, `root`; no supplementary groups are added"),
        (
            "node",
            "named-user",
            "the server runs as `node`, which the image's /etc/passwd and /etc/group turn into "
            "numbers at launch, judged then like numbers written here; no supplementary "
            "groups are added",
        ),
        (
            "1000:1000",
            "uid",
            "the server runs as uid 1000, gid 1000, not root, and no supplementary groups are "
            "added (still a host uid unless the engine remaps users)",
        ),
    ],
)
def test_user(spec: str, kind: str, description: str) -> None:
    row = one(report_of(rules.User(spec=spec, origin=at(5), insecure=at(5))), kind)
    assert (row.field, row.description, row.origin) == ("User", description, at(5))


@pytest.mark.parametrize(
    ("spec", "kind", "description", "weight"),
    [
        (
            "65534:105",
            "privileged-group",
            "the server runs in the group 105, which may open `/run/docker.sock` on the host: "
            "that group is root by another name",
            0.9,
        ),
        (
            "65534:0",
            "root-group",
            "the server runs in root's group (gid 0): it may use every file and device that "
            "group may",
            0.3,
        ),
    ],
)
def test_a_privileged_group_is_a_high_exposure(
    spec: str, kind: str, description: str, weight: float
) -> None:
    report = report_of(rules.User(spec=spec, origin=at(5), insecure=at(4), reason="r"))
    row = one(report, kind)
    assert (row.field, row.description, row.origin, row.weight) == (
        "User",
        description,
        at(5),
        weight,
    )
    assert row.mark is Mark.EXPOSED
    assert one(report, "uid").description.startswith(
        f"the server runs as uid 65534, gid {spec[6:]}"
    )
    if kind == "privileged-group":
        assert report.level in ("EXPOSED", "UNSAFE")


def test_root_in_roots_group_is_one_row() -> None:
    # root's own group adds nothing to root
    report = report_of(rules.User(spec="0:0", origin=at(5), insecure=at(4), reason="r"))
    assert rows(report, "root-group") == []
    assert len(rows(report, "root")) == 1


def test_a_group_is_not_privileged_on_a_host_where_it_owns_nothing() -> None:
    report = report_of(rules.User(spec="65534:105", origin=at(5)), host=FixedHost())
    assert rows(report, "privileged-group") == []


def test_an_identity_the_image_resolved_says_where_its_numbers_came_from() -> None:
    from mcp_lok.policy import identity

    policy = build([rules.User(spec="app", origin=at(5))], FILE)
    accounts = identity.parse("app:x:1000:1001::/:/bin/sh\n", "")
    resolved = identity.resolve(policy, accounts, {0: "is root's group"})
    row = one(explain(resolved, lower(resolved, TARGET)), "uid")
    assert row.description == (
        "the server runs as uid 1000, gid 1001 (`app` and its group in the image's "
        "/etc/passwd), not root, and no supplementary groups are added (still a host uid "
        "unless the engine remaps users)"
    )
    assert row.origin == at(5)


def test_added_capabilities_weigh_what_they_give() -> None:
    report = report_of(
        rules.Capability(name="SYS_PTRACE", origin=at(1), insecure=at(1), reason="debugger"),
        rules.Capability(name="NET_BIND_SERVICE", origin=at(2), reason="port 80"),
        rules.Capability(name="CHOWN", origin=at(3), insecure=at(3)),
    )
    (bind,) = rows(report, "safe-capability")
    chown, ptrace = rows(report, "capability")  # CapAdd is sorted by name
    assert (chown.field, chown.description, chown.weight) == (
        "HostConfig.CapAdd[0]",
        "capability `CHOWN` is added back",
        0.15,
    )
    assert (bind.mark, bind.description, bind.weight, bind.origin) == (
        Mark.NOTABLE,
        'capability `NET_BIND_SERVICE` is added back because "port 80"',
        0.01,
        at(2),
    )
    assert (ptrace.mark, ptrace.weight, ptrace.origin) == (Mark.EXPOSED, 0.4, at(1))
    # every added capability is a risk, the safe one included
    assert sum("is added back" in risk for risk in report.risks) == 3


def test_no_new_privileges_and_extra_denied_syscalls() -> None:
    report = report_of(
        rules.AllowPrivilegeEscalation(origin=at(4), insecure=at(4), reason="sudo"),
        rules.SeccompDeny(syscalls=items(6, "chmod", "fchmod"), origin=at(6)),
    )
    escalation = one(report, "escalation")
    assert (escalation.field, escalation.origin) == ("HostConfig.SecurityOpt", at(4))
    seccomp = one(report, "seccomp")
    assert seccomp.field == "HostConfig.SecurityOpt[0]"
    assert seccomp.description.startswith("a seccomp filter refuses 62 system calls")
    denied = rows(report, "seccomp-deny")
    assert [(c.description, c.origin) for c in denied] == [
        ("`chmod` is refused too", at(6)),
        ("`fchmod` is refused too", at(6)),
    ]


def test_writable_root() -> None:
    report = report_of(rules.WritableRoot(origin=at(8), insecure=at(8)))
    assert one(report, "writable-root").origin == at(8)
    assert rows(report, "read-only-root") == []


def test_podman_scratch_mounts_are_described_like_any_tmpfs() -> None:
    report = builtin("stdio", replace(TARGET, engine=Engine.PODMAN))
    assert rows(report, "podman-tmpfs") == []
    assert {c.field for c in rows(report, "scratch")} >= {
        "HostConfig.Tmpfs[/run]",
        "HostConfig.Tmpfs[/var/tmp]",
    }


def test_podman_notes_its_own_tmpfs_where_a_payload_names_none() -> None:
    policy = compile_policy("stdio", host=FixedHost()).policy
    plan = lower(policy, replace(TARGET, engine=Engine.PODMAN))
    del plan.server.body["HostConfig"]["Tmpfs"]["/run"]
    report = explain(policy, plan)
    note = one(report, "podman-tmpfs")
    assert (note.mark, note.field, note.origin.render()) == (
        Mark.NOTABLE,
        "HostConfig.ReadonlyRootfs",
        "argument (--engine)",
    )
    assert "`/run`, `/tmp` and `/var/tmp`" in note.description
    # the seccomp profile travels as a file, and is still described
    assert one(report, "seccomp").description.startswith("a seccomp filter refuses 60")


def test_every_insecure_acknowledgement_is_called_out_at_the_top() -> None:
    report = report_of(
        rules.Read(path="/etc", origin=at(1), insecure=at(1), reason="r"),
        rules.Capability(name="SYS_ADMIN", origin=at(2), insecure=at(2), reason="r"),
        rules.SeccompOff(origin=at(3), insecure=at(3), reason="r"),
        rules.AllowPrivilegeEscalation(origin=at(4), insecure=at(4), reason="r"),
        rules.WritableRoot(origin=at(5), insecure=at(5), reason="r"),
        rules.User(spec="root:105", origin=at(6), insecure=at(6), reason="r"),
        rules.NetworkOpen(origin=at(7), insecure=at(7), reason="r"),
        rules.Privileged(origin=at(8), insecure=at(8), reason="r"),
        rules.Read(path="/tmp/s", origin=at(9), insecure=at(9), reason="r"),
        host=FixedHost(
            {"/tmp/s": HostPath("/tmp/s", "/srv/s", PathKind.SOCKET, replaceable="why")},
            groups=SOCKET_GROUP.groups,
        ),
    )
    acknowledged = [(c.field, c.origin) for c in report.controls[:9]]
    assert acknowledged == [
        ("HostConfig.Mounts", at(1)),
        ("HostConfig.CapAdd", at(2)),
        ("HostConfig.SecurityOpt", at(3)),
        ("HostConfig.SecurityOpt", at(4)),
        ("HostConfig.ReadonlyRootfs", at(5)),
        ("User", at(6)),
        ("User", at(6)),
        ("HostConfig.NetworkMode", at(7)),
        ("HostConfig.Privileged", at(8)),
    ]
    # one of each kind of danger, each loudly named
    assert [c.kind for c in report.controls[:9]] == ["insecure"] * 9
    assert all(
        f"INSECURE, acknowledged: {what.value} (" in " ".join(report.risks)
        for what in Insecurity
        if what not in (Insecurity.SPECIAL_ADDRESSES, Insecurity.SENSITIVE_SECRET)
    )
    assert "! 11 insecure settings are acknowledged: see INSECURE" in render_human(report)


# --- network: modes, egress rules, deny rules, the gate ---------------------------------


def test_allow_list_rows_per_host_with_their_own_origin() -> None:
    report = report_of(
        allow(2, "api.github.com", "*.npmjs.org", "localhost", "127.0.0.1", ports=("443", "80")),
        allow(3, "10.0.0.0/16", "169.254.169.254", "1.0.0.0/24", "8.8.8.8"),
        rules.DenyHost(host=rules.Item("evil.example.com", at(4)), origin=at(4)),
        rules.DenyPort(port=rules.Item("25", at(5)), origin=at(5)),
    )
    mode = one(report, "allow-list")
    assert (mode.mark, mode.origin, mode.weight) == (Mark.OK, at(2), 0.02)
    hosts = [c for c in report.controls if c.field.startswith("gate:egress.rules[")]
    assert [(c.field, c.kind, c.origin.col) for c in hosts] == [
        ("gate:egress.rules[0].hosts[0]", "egress-host", 7),
        ("gate:egress.rules[0].hosts[1]", "egress-wildcard", 8),
        ("gate:egress.rules[0].hosts[2]", "loopback", 9),
        ("gate:egress.rules[0].hosts[3]", "loopback", 10),
        ("gate:egress.rules[1].hosts[0]", "egress-private", 7),
        ("gate:egress.rules[1].hosts[1]", "egress-special", 8),
        ("gate:egress.rules[1].hosts[2]", "egress-network", 9),
        ("gate:egress.rules[1].hosts[3]", "egress-host", 10),
    ]
    assert [c.description for c in hosts[:3]] == [
        "egress only to `api.github.com` on 443/tcp, 80/tcp, through the gate",
        "egress only to names under `npmjs.org` on 443/tcp, 80/tcp, through the gate",
        "`localhost` is the server's own loopback, shared with the gate and always reachable: "
        "this grants nothing outside",
    ]
    assert hosts[4].description == (
        "egress to `10.0.0.0/16` on 443/tcp, through the gate, which covers private or shared "
        "addresses"
    )
    assert hosts[5].description == (
        "egress to `169.254.169.254` on 443/tcp, through the gate, which covers cloud metadata "
        "addresses and link-local addresses"
    )
    assert (hosts[4].weight, hosts[5].weight, hosts[5].mark) == (0.15, 0.5, Mark.EXPOSED)
    assert (
        hosts[6].description
        == "egress only to addresses in `1.0.0.0/24` on 443/tcp, through the gate"
    )
    deny = rows(report, "deny")
    assert [(c.field, c.description, c.origin) for c in deny] == [
        (
            "gate:egress.deny_hosts[0]",
            "egress to `evil.example.com` is refused, even where a rule allows it",
            at(4),
        ),
        (
            "gate:egress.deny_ports[0]",
            "egress to port 25 is refused, even where a rule allows it",
            at(5),
        ),
    ]
    gate = one(report, "gate")
    assert gate.origin == at(2)
    assert gate.description.startswith("the gate `mcp-lok-srv-gate` (uid 65533) serves DNS")
    assert "relays the host proxy" not in gate.description
    resolver = one(report, "resolver-gate")
    assert resolver.description == (
        "`/etc/resolv.conf` names only the gate's resolver, which answers allowed names only"
    )
    assert (resolver.field, resolver.origin) == ("HostConfig.Mounts[2]", at(2))
    assert one(report, "own-env").description.startswith("mcp-lok sets `HTTPS_PROXY`, ")


def test_deny_rules_that_nothing_enforces() -> None:
    deny = rules.DenyHost(host=rules.Item("evil.example.com", at(4)), origin=at(4))
    moot = one(report_of(deny), "deny-moot")
    assert moot.description == "`evil.example.com` is denied (there is no egress at all)"
    # `build` refuses a deny on an open network; an IR made otherwise is still read honestly
    policy, plan = compiled(rules.NetworkOpen(origin=at(1), insecure=at(1), reason="r"))
    denied = (Value("evil.example.com", at(4)),)
    policy = replace(policy, network=replace(policy.network, deny_hosts=denied))
    opened = explain(policy, plan)
    unenforced = one(opened, "deny-unenforced")
    assert (unenforced.mark, unenforced.field) == (Mark.NOTABLE, "HostConfig.NetworkMode")
    assert unenforced.description == (
        "`evil.example.com` is listed as denied, but an open network enforces no deny rule"
    )
    assert any("enforces no deny rule" in risk for risk in opened.risks)


def test_http_server_without_egress_gets_a_gate_for_ingress_only() -> None:
    report = builtin("stdio", replace(TARGET, transport=Transport.SSE))
    assert one(report, "gate-only").description.endswith("shared with the gate; no egress")
    gate = one(report, "gate")
    assert gate.origin.render() == "argument (--transport)"
    assert gate.description == (
        "the gate `mcp-lok-srv-gate` (uid 65533) relays the host proxy's connections to the "
        "server's port 8080, so nothing is published"
    )
    own = one(report, "own-env")
    assert (
        own.description
        == "mcp-lok sets `FASTMCP_PORT`, `MCP_HOST`, `MCP_PORT`, `MCP_TRANSPORT` itself"
    )


def test_gate_with_egress_and_ingress() -> None:
    target = replace(TARGET, transport=Transport.STREAMABLE_HTTP, port=9000)
    gate = one(report_of(allow(2, "api.github.com"), target=target), "gate")
    assert "never dials loopback or the unspecified address" in gate.description
    assert "private ones only through a rule that names them; it relays the host proxy's" in (
        gate.description
    )
    assert gate.description.endswith("port 9000, so nothing is published")


def test_no_published_ports_and_private_namespaces() -> None:
    report = builtin("stdio")
    assert one(report, "unpublished").field == "HostConfig.PortBindings"
    namespaces = one(report, "own-namespaces")
    assert (namespaces.field, namespaces.mark) == ("HostConfig.IpcMode", Mark.OK)


# --- filesystem -------------------------------------------------------------------------


def test_mounts() -> None:
    report = report_of(
        rules.Read(path="/src", origin=at(1)),
        rules.Read(path="/data", target="/mnt/data", origin=at(2)),
        rules.Write(path="/srv/out", origin=at(3)),
        rules.Read(path="/etc", target="/host/etc", origin=at(4), insecure=at(4), reason="r"),
        rules.Write(path="/usr/local", origin=at(5), insecure=at(5), reason="r"),
        rules.Read(path="/var/run/docker.sock", origin=at(6), insecure=at(6), reason="r"),
    )
    mounts = [
        c
        for c in report.controls
        if c.field.startswith("HostConfig.Mounts[") and not c.kind.startswith("resolver")
    ]
    assert [(c.mark.value, c.description, c.origin) for c in mounts] == [
        ("✗", f"the host's `/etc` is readable from the container at `/host/etc`{FLAT}", at(4)),
        ("!", f"`/data` is readable from the container at `/mnt/data`{FLAT}", at(2)),
        ("!", f"`/src` is readable from the container{FLAT}", at(1)),
        ("✗", f"`/srv/out` is writable from the container{FLAT}", at(3)),
        ("✗", f"the host's `/usr/local` is writable from the container{FLAT}", at(5)),
        (
            "✗",
            "the engine socket `/var/run/docker.sock` is reachable: "
            "control of the engine is control of the host",
            at(6),
        ),
    ]
    assert [c.weight for c in mounts] == [0.5, 0.02, 0.02, 0.1, 0.8, 0.95]
    assert f"`/srv/out` is writable from the container{FLAT} (policy.lok:3)" in report.risks


def test_tmpfs_and_masks() -> None:
    report = report_of(
        rules.Tmpfs(target="/cache", size=128 * 1024 * 1024, origin=at(1)),
        rules.DenyPath(path="/secrets", origin=at(2)),
    )
    tmpfs = {
        c.field: (c.kind, c.description, c.origin) for c in report.controls if "Tmpfs" in c.field
    }
    assert tmpfs == {
        "HostConfig.Tmpfs[/cache]": (
            "scratch",
            "`/cache` is a private 128 MiB scratch space, not executable",
            at(1),
        ),
        "HostConfig.Tmpfs[/tmp]": (
            "scratch",
            "`/tmp` is a private 64 MiB scratch space, not executable",
            BASELINE,
        ),
    }
    [mask] = [(c.field, c.description, c.origin) for c in report.controls if c.kind == "mask"]
    assert mask == (
        "HostConfig.Mounts[3]",
        "`/secrets` is hidden behind an empty read-only directory",
        at(2),
    )
    # the payload is what is described: a tmpfs without size or noexec says so
    policy, plan = compiled()
    bare = explain(policy, tampered(plan, Tmpfs={"/tmp": "rw"}))
    assert one(bare, "scratch").description == "`/tmp` is a private scratch space"


# --- limits, environment, init -----------------------------------------------------------


@pytest.mark.parametrize(
    ("memory", "cpus", "memory_text", "cpus_text"),
    [
        (1536 * 1024**2, 1500, "memory is capped at 1536 MiB", "CPU time is capped at 1.5 CPUs"),
        (2 * 1024**3, 2000, "memory is capped at 2 GiB", "CPU time is capped at 2 CPUs"),
        (6145 * 1024, 500, "memory is capped at 6145 KiB", "CPU time is capped at 0.5 CPUs"),
        (6291457, 1000, "memory is capped at 6291457 bytes", "CPU time is capped at 1 CPU"),
    ],
)
def test_limits(memory: int, cpus: int, memory_text: str, cpus_text: str) -> None:
    report = report_of(
        rules.Limit(kind=rules.LimitKind.MEMORY, value=memory, origin=at(1)),
        rules.Limit(kind=rules.LimitKind.CPUS, value=cpus, origin=at(2)),
        rules.Limit(kind=rules.LimitKind.PIDS, value=64, origin=at(3)),
        rules.Limit(kind=rules.LimitKind.NOFILE, value=4096, origin=at(4)),
    )
    assert (one(report, "memory").description, one(report, "memory").origin) == (memory_text, at(1))
    assert (one(report, "swap").origin, one(report, "cpus").description) == (at(1), cpus_text)
    assert one(report, "pids").description == "at most 64 processes and threads"
    assert (one(report, "nofile").description, one(report, "nofile").origin) == (
        "at most 4096 open files per process",
        at(4),
    )
    assert one(report, "nproc").description == "at most 1024 processes for the server's uid"


def test_environment_shows_names_and_secret_references_never_values() -> None:
    report = report_of(
        rules.Env(name="LOG_LEVEL", value="hunter2", origin=at(1)),
        rules.Secret(
            name="GITHUB_TOKEN", provider=rules.SecretProvider.ENV, ref="GH_PAT", origin=at(2)
        ),
        rules.Secret(
            name="DB_PASSWORD",
            provider=rules.SecretProvider.FILE,
            ref="/run/secrets/db",
            origin=at(3),
        ),
    )
    env = [
        (c.field, c.kind, c.description, c.origin)
        for c in report.controls
        if c.field.startswith("Env")
    ]
    assert env == [
        (
            "Env[0]",
            "secret",
            "`DB_PASSWORD` is a secret, filled in at launch from the host file "
            "`/run/secrets/db`; no value is in the plan",
            at(3),
        ),
        (
            "Env[1]",
            "secret",
            "`GITHUB_TOKEN` is a secret, filled in at launch from mcp-lok's environment "
            "variable `GH_PAT`; no value is in the plan",
            at(2),
        ),
        ("Env[2]", "env", "`HOME` is set (value not shown)", BASELINE),
        ("Env[3]", "env", "`LOG_LEVEL` is set (value not shown)", at(1)),
    ]
    assert "hunter2" not in render_human(report) + render_json(report)


def test_init() -> None:
    init = one(builtin("stdio"), "init")
    assert (init.field, init.description) == (
        "HostConfig.Init",
        "an init process reaps zombies and forwards signals",
    )


# --- payloads lowering never produces are still read honestly ----------------------------


def test_a_tampered_payload_is_described_as_it_is() -> None:
    policy, plan = compiled()
    report = explain(
        policy,
        tampered(
            plan,
            Memory=0,
            MemorySwap=-1,
            NanoCpus=0,
            PidsLimit=0,
            PortBindings={"8080/tcp": [{"HostPort": "8080"}]},
            PidMode="host",
            UTSMode="host",
            NetworkMode="host",
            CapDrop=[],
            SecurityOpt=["label=disable"],
            Init=False,
            Ulimits=[{"Name": "core", "Soft": 0, "Hard": 0}],
        ),
    )
    kinds = {c.kind for c in report.controls}
    assert {
        "no-memory-limit",
        "more-swap",
        "no-cpu-limit",
        "no-pids-limit",
        "published",
        "host-namespace",
        "host-network",
        "default-caps",
        "security-opt",
        "escalation",
        "engine-seccomp",
        "no-init",
        "ulimit",
    } <= kinds
    assert (
        one(report, "host-namespace").description
        == "the server shares the host's PID, UTS namespace"
    )
    assert one(report, "host-namespace").field == "HostConfig.PidMode"
    assert one(report, "published").description == "`8080/tcp` published on the host"
    assert one(report, "more-swap").description.endswith("(`MemorySwap` is -1)")
    assert one(report, "security-opt").description == "`label=disable` is passed to the engine"
    assert one(report, "engine-seccomp").field == "HostConfig.SecurityOpt"
    assert one(report, "ulimit").description == "`core` is limited to 0"
    assert report.level == "UNSAFE"


# --- rendering --------------------------------------------------------------------------


def test_human_rendering_is_aligned_and_ends_with_the_overall_level() -> None:
    text = render_human(builtin("stdio"))
    lines = text.splitlines()
    assert lines[0] == "Security controls of stdio on docker"
    assert lines[2].split() == ["FIELD", "EXPOSURE", "ORIGIN", "DESCRIPTION"]
    assert lines[-1] == "→ Overall exposure level for stdio: 1.0 OK"
    table = lines[2:-2]
    assert len({line.index(" default (") for line in table[1:]}) == 1  # origins aligned
    assert (
        "✓ User                           0.03  default (baseline)  the server runs as uid 65534"
        in text
    )
    assert "\x1b[" not in text


def test_human_rendering_in_colour() -> None:
    text = render_human(builtin("network"), color=True)
    assert "\x1b[31m✗\x1b[0m HostConfig.NetworkMode" in text
    assert "\x1b[33m!\x1b[0m 1 insecure setting is acknowledged: see INSECURE" in text
    assert text.endswith("network: 5.5 \x1b[31mEXPOSED\x1b[0m\n")


def test_json_rendering_is_deterministic_and_complete() -> None:
    report = builtin("network")
    text = render_json(report)
    assert text == render_json(builtin("network"))
    document = json.loads(text)
    assert text == json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert set(document) == {"source", "engine", "score", "level", "controls", "risks"}
    assert (document["source"], document["engine"], document["score"], document["level"]) == (
        "network",
        "docker",
        5.5,
        "EXPOSED",
    )
    assert document["controls"][0] == {
        "ok": False,
        "mark": "!",
        "field": "HostConfig.NetworkMode",
        "description": "INSECURE, acknowledged: open network (egress to any host)",
        "origin": "default (network)",
        "weight": 0.0,
    }
    assert document["risks"] == list(report.risks)


# --- the invariant: nothing in a payload may lack an origin ------------------------------

_MAPS = ("Labels", "Tmpfs", "Sysctls")


def _leaves(value: object, path: str) -> Iterator[str]:
    if isinstance(value, dict) and value:
        keyed = path.rsplit(".", 1)[-1] in _MAPS
        for key, child in value.items():
            yield from _leaves(child, f"{path}[{key}]" if keyed else f"{path}.{key}".lstrip("."))
    elif isinstance(value, list) and value:
        for i, child in enumerate(value):
            yield from _leaves(child, f"{path}[{i}]")
    else:
        yield path


def _traced(path: str, trace: dict[str, Any]) -> bool:
    return any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in trace)


_RICH = (
    rules.Read(path="/src", origin=at(1)),
    rules.Write(path="/out", target="/data", origin=at(2)),
    rules.Tmpfs(target="/cache", origin=at(3)),
    rules.DenyPath(path="/secrets", origin=at(4)),
    rules.Capability(name="NET_BIND_SERVICE", origin=at(5), reason="r"),
    rules.SeccompDeny(syscalls=items(6, "chmod"), origin=at(6)),
    rules.Limit(kind=rules.LimitKind.MEMORY, value=2**30, origin=at(7)),
    rules.Env(name="A", value="1", origin=at(8)),
    rules.Secret(name="T", provider=rules.SecretProvider.ENV, ref="T", origin=at(9)),
    rules.User(spec="1000:1000", origin=at(10)),
)
_POLICIES = {
    "stdio": (),
    "rich": _RICH,
    "allow-list": (*_RICH, allow(11, "api.github.com")),
    "open": (*_RICH, rules.NetworkOpen(origin=at(11), insecure=at(11), reason="r")),
    "no-seccomp": (rules.SeccompOff(origin=at(1), insecure=at(1), reason="r"),),
}


@pytest.mark.parametrize("policy", sorted(_POLICIES))
@pytest.mark.parametrize("engine", list(Engine))
@pytest.mark.parametrize("transport", [Transport.STDIO, Transport.SSE])
@pytest.mark.parametrize("args", [(), ("serve", "--flag")])
def test_every_payload_field_has_an_origin(
    policy: str, engine: Engine, transport: Transport, args: tuple[str, ...]
) -> None:
    target = Target(image="img", name="srv", engine=engine, transport=transport, args=args)
    _, plan = compiled(*_POLICIES[policy], target=target)
    containers = [plan.server] + ([plan.gate.container] if plan.gate else [])
    for container in containers:
        missing = [p for p in _leaves(container.body, "") if not _traced(p, container.trace)]
        assert missing == [], container.name
    # and every row of the explanation names one
    assert all(
        c.origin.render() for c in explain(build(list(_POLICIES[policy]), FILE), plan).controls
    )


# --- what the engine would add on its own --------------------------------------------------


@pytest.mark.parametrize("engine", list(Engine))
def test_the_engines_own_files_and_mounts_are_explained(engine: Engine) -> None:
    target = replace(TARGET, engine=engine)
    stdio, network = builtin("stdio", target), builtin("network", target)
    own = one(stdio, "own-files")
    empty = ", `/etc/hostname` (`srv`) and an empty `/run/.containerenv`"
    assert own.description == (
        "`/etc/hosts` (the loopback names only)"
        + (empty if engine is Engine.PODMAN else " and `/etc/hostname` (`srv`)")
        + " are mcp-lok's own read-only files, not the engine's"
    )
    assert (own.field, own.origin, own.weight) == ("HostConfig.Mounts", BASELINE, 0)
    none = one(stdio, "resolver-none")
    assert (none.field, none.origin.render()) == ("HostConfig.Mounts[2]", "default (stdio)")
    shm = one(stdio, "shm")
    assert (shm.field, shm.weight, shm.mark) == ("HostConfig.ShmSize", 0.01, Mark.OK)
    assert shm.description == (
        "`/dev/shm` is a private 16 MiB scratch space, not executable, charged to the memory limit"
    )
    mounts = one(stdio, "engine-mounts")
    count = 25 if engine is Engine.DOCKER else 29
    kernel = 15 if engine is Engine.DOCKER else 17
    assert mounts.description.startswith(f"the engine adds up to {count} mounts of its own")
    assert mounts.description.endswith(f"and {kernel} kernel paths hidden or made read-only")
    assert (mounts.field, mounts.origin.render()) == ("engine_mounts", "default (engine)")
    # on its own bridge the server asks the engine's resolver; Podman's file is its own
    opened = one(network, "resolver-engine")
    assert opened.mark is Mark.NOTABLE
    assert opened.origin.render() == "default (network)"
    if engine is Engine.DOCKER:
        assert opened.field == "HostConfig.Mounts[2]"
        assert opened.description == (
            "`/etc/resolv.conf` names Docker's resolver on the server's bridge (`127.0.0.11`), "
            "which asks the host's nameservers"
        )
    else:
        assert opened.field == "engine_mounts"
        assert opened.description.endswith(
            "(its gateway, known once the network exists) and the host's nameservers"
        )
    # the same mounts on both networks: only the resolver row tells them apart
    assert one(network, "engine-mounts").description == mounts.description


def test_an_allow_list_names_the_gates_resolver() -> None:
    gate = one(report_of(allow(2, "api.github.com")), "resolver-gate")
    assert (gate.field, gate.origin) == ("HostConfig.Mounts[2]", at(2))


def test_a_secret_from_a_sensitive_file_is_called_out() -> None:
    secret = rules.Secret(
        name="K",
        provider=rules.SecretProvider.FILE,
        ref="/etc/shadow",
        origin=at(2),
        insecure=at(2),
        reason="r",
    )
    report = report_of(secret)
    (row,) = [c for c in report.controls if c.kind == "insecure"]
    assert row.field == "Env"
    assert "a secret read from a sensitive file (`/etc/shadow`)" in row.description
