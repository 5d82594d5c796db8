"""`diff`: two plans compared field by field, each change with the origin of each side;
unordered lists compared by what identifies their items, seccomp profiles by their rules."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from mcp_lok.policy import rules
from mcp_lok.policy.build import build
from mcp_lok.policy.compiler import compile_policy
from mcp_lok.policy.diff import Change, diff, render_human, render_json
from mcp_lok.policy.host import FixedHost
from mcp_lok.policy.lower import Engine, LaunchPlan, PlanFile, Target, Transport, lower
from mcp_lok.policy.origin import BASELINE, Argument, Default, Span
from mcp_lok.policy.record import replace

FILE = "policy.lok"
TARGET = Target(image="img", name="srv")
MIB = 1024 * 1024


def at(line: int) -> Span:
    return Span(FILE, line, 1, line, 20)


def plan(*ruleset: rules.Rule, target: Target = TARGET) -> LaunchPlan:
    return lower(build(list(ruleset), FILE), target)


def builtin(name: str, target: Target = TARGET) -> LaunchPlan:
    return lower(compile_policy(name, host=FixedHost()).policy, target)


def allow(line: int, *hosts: str) -> rules.Allow:
    return rules.Allow(
        hosts=tuple(rules.Item(h, at(line)) for h in hosts),
        ports=(rules.Item("443", at(line)),),
        protocols=(rules.Item("tcp", at(line)),),
        origin=at(line),
    )


def memory(value: int, line: int = 4) -> rules.Limit:
    return rules.Limit(kind=rules.LimitKind.MEMORY, value=value, origin=at(line))


def paths(changes: list[Change]) -> list[str]:
    return [c.path for c in changes if c.path != "Labels[mcp-lok-policy]"]


def edited(base: LaunchPlan, **fields: Any) -> LaunchPlan:
    """The plan with top-level fields of its server body replaced."""
    body = copy.deepcopy(base.server.body)
    body.update(fields)  # type: ignore[typeddict-item]
    return replace(base, server=replace(base.server, body=body))


def with_seccomp(base: LaunchPlan, option: str) -> LaunchPlan:
    host = copy.deepcopy(base.server.body["HostConfig"])
    host["SecurityOpt"] = ["no-new-privileges:true", option]
    return edited(base, HostConfig=host)


def test_equal_plans_have_no_differences() -> None:
    assert diff(builtin("stdio"), builtin("stdio")) == []
    assert render_human([]) == "no differences\n"
    assert render_json([]) == "[]\n"


def test_a_changed_limit_names_both_origins() -> None:
    changes = diff(builtin("stdio"), plan(memory(1024 * MIB)))
    assert paths(changes) == ["HostConfig.Memory", "HostConfig.MemorySwap"]
    first = changes[0]
    assert (first.before, first.after, first.kind) == (512 * MIB, 1024 * MIB, "changed")
    assert (first.origin_before, first.origin_after) == (BASELINE, at(4))
    assert render_human(changes).splitlines()[:2] == [
        "- HostConfig.Memory: 536870912  (default (baseline))",
        "+ HostConfig.Memory: 1073741824  (policy.lok:4)",
    ]
    digest = next(c for c in changes if c.path == "Labels[mcp-lok-policy]")
    assert digest.origin_before == digest.origin_after == Default("policy digest")


def test_adding_one_mount_is_one_change_with_the_whole_mount() -> None:
    before = plan(rules.Read(path="/a", origin=at(1)), rules.Read(path="/c", origin=at(2)))
    after = plan(
        rules.Read(path="/a", origin=at(1)),
        rules.Read(path="/b", origin=at(3)),
        rules.Read(path="/c", origin=at(2)),
    )
    (added,) = [c for c in diff(before, after) if c.path != "Labels[mcp-lok-policy]"]
    assert (added.path, added.kind, added.before, added.origin_after) == (
        "HostConfig.Mounts[/b]",
        "added",
        None,
        at(3),
    )
    assert added.after["Source"] == "/b"
    # the mount at index 1 moved to index 2; its origin is still found through its own index
    removed = diff(after, before)
    assert paths(removed) == ["HostConfig.Mounts[/b]"]
    assert (removed[0].kind, removed[0].origin_before, removed[0].origin_after) == (
        "removed",
        at(3),
        None,
    )


def test_a_mount_made_writable_is_one_field() -> None:
    changes = diff(
        plan(rules.Read(path="/data", origin=at(1))), plan(rules.Write(path="/data", origin=at(2)))
    )
    assert paths(changes) == ["HostConfig.Mounts[/data].ReadOnly"]
    change = changes[0]
    assert (change.before, change.after, change.origin_before, change.origin_after) == (
        True,
        False,
        at(1),
        at(2),
    )


def test_environment_and_capabilities_are_keyed_by_name() -> None:
    before = plan(rules.Env(name="A", value="1", origin=at(1)))
    after = plan(
        rules.Env(name="A", value="2", origin=at(2)),
        rules.Capability(name="NET_BIND_SERVICE", origin=at(3), reason="r"),
    )
    changes = diff(before, after)
    assert paths(changes) == ["Env[A]", "HostConfig.CapAdd[NET_BIND_SERVICE]"]
    assert (changes[0].before, changes[0].after) == ("A=1", "A=2")
    assert changes[1].origin_after == at(3)


def test_repeated_keys_get_a_counter() -> None:
    base = builtin("stdio")
    changes = diff(base, edited(base, Env=["HOME=/tmp", "HOME=/other"]))
    assert [(c.path, c.after) for c in changes] == [("Env[HOME#2]", "HOME=/other")]


def test_seccomp_is_compared_by_its_rules_not_as_a_blob() -> None:
    deny = rules.SeccompDeny(syscalls=(rules.Item("chmod", at(6)),), origin=at(6))
    changes = diff(builtin("stdio"), plan(deny))
    (change,) = [c for c in changes if "SecurityOpt" in c.path]
    assert change.path == "HostConfig.SecurityOpt[seccomp].syscalls[chmod]"
    assert (change.before, change.after, change.origin_after) == (
        None,
        "SCMP_ACT_ERRNO errno 1",
        at(6),
    )
    assert "archMap" not in render_human(changes)


def test_seccomp_turned_off_is_summarised() -> None:
    off = plan(rules.SeccompOff(origin=at(2), insecure=at(2), reason="r"))
    (change,) = [c for c in diff(builtin("stdio"), off) if "SecurityOpt" in c.path]
    assert (change.path, change.before, change.after) == (
        "HostConfig.SecurityOpt[seccomp]",
        "seccomp profile with 61 system call rules",
        "seccomp=unconfined",
    )
    assert (change.origin_before, change.origin_after) == (BASELINE, at(2))


def test_docker_and_podman_differ_in_how_the_profile_travels_and_in_scratch_mounts() -> None:
    podman = replace(TARGET, engine=Engine.PODMAN, transport=Transport.SSE)
    docker = replace(podman, engine=Engine.DOCKER)
    changes = diff(builtin("stdio", docker), builtin("stdio", podman))
    scratch = "rw,noexec,nosuid,nodev,size=16777216"
    containerenv = {
        "Type": "bind",
        "Target": "/run/.containerenv",
        "ReadOnly": True,
        "BindOptions": {"Propagation": "rprivate", "NonRecursive": True},
    }
    assert [(c.path, c.before, c.after) for c in changes] == [
        ("engine", "docker", "podman"),
        (
            "HostConfig.Mounts[/run/.containerenv]",
            None,
            {**containerenv, "Source": "/run/mcp-lok/srv/etc/server/containerenv"},
        ),
        ("HostConfig.SecurityOpt[seccomp].passed", "inline", "file"),
        ("HostConfig.Tmpfs[/run]", None, scratch),
        ("HostConfig.Tmpfs[/var/tmp]", None, scratch),
        (
            "gate.HostConfig.Mounts[/run/.containerenv]",
            None,
            {**containerenv, "Source": "/run/mcp-lok/srv/etc/gate/containerenv"},
        ),
        ("gate.HostConfig.SecurityOpt[seccomp].passed", "inline", "file"),
        ("gate.HostConfig.Tmpfs[/run]", None, scratch),
        ("gate.HostConfig.Tmpfs[/tmp]", None, scratch),
        ("gate.HostConfig.Tmpfs[/var/tmp]", None, scratch),
    ]


def test_podman_profiles_are_read_from_the_plan_files() -> None:
    target = replace(TARGET, engine=Engine.PODMAN)
    deny = rules.SeccompDeny(syscalls=(rules.Item("chmod", at(6)),), origin=at(6))
    changes = diff(builtin("stdio", target), plan(deny, target=target))
    assert paths(changes) == ["HostConfig.SecurityOpt[seccomp].syscalls[chmod]"]


def test_unreadable_profiles_are_summarised_not_dumped() -> None:
    base = builtin("stdio")
    # a path the plan does not carry, and inline text that is not JSON
    missing = with_seccomp(base, "seccomp=/elsewhere/profile.json")
    broken = with_seccomp(base, "seccomp={" + "x" * 100)
    (change,) = diff(missing, broken)
    assert (change.before, change.after) == (
        "seccomp=/elsewhere/profile.json",
        "seccomp={" + "x" * 68 + "...",
    )
    # a plan file that is not a profile
    listed = replace(missing, files=(PlanFile("/elsewhere/profile.json", "[]"),))
    assert diff(missing, listed) == []
    # no seccomp option at all
    host = copy.deepcopy(base.server.body["HostConfig"])
    host["SecurityOpt"] = ["no-new-privileges:true"]
    (gone,) = diff(base, edited(base, HostConfig=host))
    assert (gone.path, gone.after, gone.kind) == (
        "HostConfig.SecurityOpt[seccomp]",
        None,
        "removed",
    )
    assert gone.before == "seccomp profile with 61 system call rules"


def test_conditional_seccomp_rules_are_keyed_by_comment_or_content() -> None:
    base = builtin("stdio")

    def profile(errno: int) -> str:
        return "seccomp=" + json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["clone"],
                        "action": "SCMP_ACT_ERRNO",
                        "comment": "c",
                        "args": [{"index": 0, "value": errno}],
                    },
                    {"names": ["kill"], "action": "SCMP_ACT_LOG", "args": [{"index": 1}]},
                    {"names": ["reboot"], "action": "SCMP_ACT_KILL"},
                ],
            }
        )

    changes = diff(with_seccomp(base, profile(1)), with_seccomp(base, profile(2)))
    assert [(c.path, c.before, c.after) for c in changes] == [
        ("HostConfig.SecurityOpt[seccomp].conditional[c].args[0].value", 1, 2),
    ]
    unconditional = [c.path for c in diff(base, with_seccomp(base, profile(1)))]
    assert "HostConfig.SecurityOpt[seccomp].syscalls[reboot]" in unconditional
    assert any(p.startswith("HostConfig.SecurityOpt[seccomp].conditional[{") for p in unconditional)


def test_a_label_named_seccomp_is_an_ordinary_value() -> None:
    base = builtin("stdio")
    labels = {**base.server.body["Labels"], "seccomp": "x" * 120}
    (change,) = diff(base, edited(base, Labels=labels))
    assert (change.path, change.after) == ("Labels[seccomp]", "x" * 120)


def test_a_gate_that_appears_brings_its_duties() -> None:
    changes = diff(builtin("stdio"), plan(allow(2, "api.github.com")))
    gate = next(c for c in changes if c.path == "gate")
    assert (gate.before, gate.after, gate.origin_after) == (None, "mcp-lok-srv-gate", at(2))
    egress = next(c for c in changes if c.path == "gate.config.egress")
    assert egress.after["rules"] == [
        {"hosts": ["api.github.com"], "ports": [443], "protocols": ["tcp"]}
    ]
    assert egress.origin_after is None  # the gate's config has no trace
    assert "+ gate.config.egress: {" in render_human(changes)
    assert "gate.config.ingress" not in paths(changes)  # null on both sides: absent
    back = diff(plan(allow(2, "api.github.com")), builtin("stdio"))
    assert next(c for c in back if c.path == "gate").kind == "removed"


def test_two_gates_are_compared_inside() -> None:
    before = plan(allow(2, "api.github.com"))
    after = plan(allow(2, "api.github.com", "pypi.org"))
    changes = diff(before, after)
    assert paths(changes) == ["gate.config.egress.rules[0].hosts[pypi.org]"]
    udp = replace(
        allow(2, "api.github.com"), protocols=(rules.Item("tcp", at(2)), rules.Item("udp", at(2)))
    )
    assert paths(diff(before, plan(udp))) == ["gate.config.egress.rules[0].protocols[udp]"]
    transport = replace(TARGET, transport=Transport.SSE)
    gates = diff(before, plan(allow(2, "api.github.com"), target=transport))
    label = next(c for c in gates if c.path == "gate.Labels[mcp-lok-transport]")
    assert (label.before, label.after, label.origin_after.render()) == (
        "stdio",
        "sse",
        "argument (--transport)",
    )
    ingress = next(c for c in gates if c.path == "gate.config.ingress")
    assert ingress.after == {"port": 8080, "socket": "/run/mcp-lok-gate/ingress.sock"}


def test_networks_are_keyed_by_name_with_the_network_mode_origin() -> None:
    changes = diff(builtin("network"), builtin("stdio"))
    network = next(c for c in changes if c.path.startswith("networks"))
    assert (network.path, network.kind, network.origin_before) == (
        "networks[mcp-lok-srv]",
        "removed",
        Default("network"),
    )
    renamed = diff(builtin("network"), builtin("network", replace(TARGET, name="x")))
    assert "networks[mcp-lok-x]" in paths(renamed)
    # a network on both sides is compared inside: its labels are a map again
    base = builtin("network")
    labelled = {**base.networks[0], "Labels": {**base.networks[0]["Labels"], "extra": "1"}}
    (label,) = diff(base, replace(base, networks=(labelled,)))
    assert (label.path, label.after) == ("networks[mcp-lok-srv].Labels[extra]", "1")
    assert label.origin_after == Default("network")


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (("serve",), ("serve", "--debug"), [("Cmd[1]", None, "--debug")]),
        (("serve", "--debug"), ("serve",), [("Cmd[1]", "--debug", None)]),
        (("serve", "a"), ("serve", "b"), [("Cmd[1]", "a", "b")]),
    ],
)
def test_command_arguments_keep_their_order(
    before: tuple[str, ...], after: tuple[str, ...], expected: list[tuple[str, Any, Any]]
) -> None:
    changes = diff(
        builtin("stdio", replace(TARGET, args=before)),
        builtin("stdio", replace(TARGET, args=after)),
    )
    assert [(c.path, c.before, c.after) for c in changes] == expected
    for change in changes:  # each present side has the origin of the arguments
        for value, origin in (
            (change.before, change.origin_before),
            (change.after, change.origin_after),
        ):
            assert origin == (None if value is None else Argument("-- ARGS"))


def test_a_value_that_changes_shape_is_one_change() -> None:
    base = builtin("stdio")
    changes = diff(base, edited(base, Image={"name": "img"}))
    assert [(c.path, c.before, c.after) for c in changes] == [("Image", "img", {"name": "img"})]


def test_human_and_json_rendering() -> None:
    changes = diff(builtin("stdio"), plan(rules.Tmpfs(target="/cache", origin=at(3))))
    text = render_human(changes)
    assert (
        '+ HostConfig.Tmpfs[/cache]: "rw,noexec,nosuid,nodev,size=67108864"  (policy.lok:3)' in text
    )
    assert text.endswith("\n")
    document = json.loads(render_json(changes))
    tmpfs = next(d for d in document if d["path"] == "HostConfig.Tmpfs[/cache]")
    assert tmpfs == {
        "path": "HostConfig.Tmpfs[/cache]",
        "change": "added",
        "before": None,
        "after": "rw,noexec,nosuid,nodev,size=67108864",
        "origin_before": None,
        "origin_after": "policy.lok:3",
    }
    assert render_json(changes) == render_json(
        diff(builtin("stdio"), plan(rules.Tmpfs(target="/cache", origin=at(3))))
    )
    # a side without an origin renders without parentheses
    assert render_human([Change("gate.config.version", 1, 2)]) == (
        "- gate.config.version: 1\n+ gate.config.version: 2\n"
    )
