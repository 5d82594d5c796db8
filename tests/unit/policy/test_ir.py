"""The IR: origins never take part in equality, and the fingerprint is a digest of what a
policy allows — the same for equal policies, different for different ones."""

from __future__ import annotations

import pytest

from mcp_lok.policy import rules
from mcp_lok.policy.build import build
from mcp_lok.policy.host import FixedHost, HostPath, PathKind
from mcp_lok.policy.ir import (
    Mount,
    SecretRef,
    Value,
    canonical,
    fingerprint,
)
from mcp_lok.policy.origin import BASELINE, Default, Pointer, Span
from mcp_lok.policy.record import replace

ENV, FILE_SOURCE = rules.SecretProvider.ENV, rules.SecretProvider.FILE


def at(line: int, file: str = "a.lok") -> Span:
    return Span(file, line, 1, line, 10)


def _allow(origin: Span | Pointer) -> rules.Allow:
    return rules.Allow(
        hosts=(rules.Item("api.example.com", origin),),
        ports=(rules.Item("443", origin),),
        protocols=(rules.Item("tcp", origin),),
        origin=origin,
    )


def test_values_compare_without_their_origin() -> None:
    assert Value(1, at(1)) == Value(1, BASELINE)
    assert Value(1, at(1)) != Value(2, at(1))
    here = HostPath("/a", "/a", PathKind.DIRECTORY)
    assert Mount("/a", "/a", False, at(1), here) == Mount("/a", "/a", False, Default("x"), here)
    assert Mount("/a", "/a", False, at(1), here) != Mount("/a", "/a", True, at(1), here)


def test_a_mount_is_compared_by_what_it_reaches_not_how_it_was_written() -> None:
    link = HostPath("/tmp/link", "/srv/data", PathKind.DIRECTORY, identity=(1, 2))
    real = HostPath("/srv/data", "/srv/data", PathKind.DIRECTORY, identity=(1, 3))
    one = Mount("/srv/data", "/data", False, at(1), link)
    other = Mount("/srv/data", "/data", False, at(2), real)
    assert one == other
    assert (one.written, other.written) == ("/tmp/link", "/srv/data")
    host = FixedHost({"/tmp/link": link})
    written = build([rules.Read(path="/tmp/link", target="/data", origin=at(1))], "a", host)
    direct = build([rules.Read(path="/srv/data", target="/data", origin=at(1))], "b", host)
    assert written.mounts == direct.mounts
    assert fingerprint(written) == fingerprint(direct)


def test_a_secret_reference_has_a_placeholder_never_a_value() -> None:
    assert SecretRef("T", ENV, "GH_TOKEN", at(1)).placeholder == "${secret:env:GH_TOKEN}"
    assert SecretRef("T", FILE_SOURCE, "/run/k", at(1)).placeholder == "${secret:file:/run/k}"


def test_equal_policies_from_different_origins_share_a_digest() -> None:
    from_file = build(
        [
            _allow(at(1)),
            rules.Read(path="/srv", origin=at(2)),
            rules.User(spec="1000", origin=at(3)),
        ],
        "a.lok",
    )
    pointer = Pointer("b.json", "/network/outbound")
    from_profile = build(
        [
            rules.User(spec="1000", origin=at(9, "b.lok")),
            rules.Read(path="/srv/", origin=Pointer("b.json", "/read/0")),
            _allow(pointer),
        ],
        "b.json",
    )
    assert from_file == replace(from_profile, compiled_from="a.lok")
    assert fingerprint(from_file) == fingerprint(from_profile)
    assert len(fingerprint(from_file)) == 64
    assert int(fingerprint(from_file), 16) >= 0


BASE = [rules.Read(path="/srv", origin=at(1))]


@pytest.mark.parametrize(
    "change",
    [
        [rules.Write(path="/srv", origin=at(2))],
        [rules.Read(path="/srv2", origin=at(2))],
        [rules.User(spec="1000", origin=at(2))],
        [_allow(at(2))],
        [rules.NetworkOpen(origin=at(2))],
        [rules.Limit(kind=rules.LimitKind.PIDS, value=64, origin=at(2))],
        [rules.Env(name="A", value="1", origin=at(2))],
        [rules.Capability(name="NET_BIND_SERVICE", reason="80", origin=at(2))],
        [rules.SeccompDeny(syscalls=(rules.Item("acct", at(2)),), origin=at(2))],
        [rules.Privileged(origin=at(2))],
        [rules.DenyHost(host=rules.Item("example.com", at(2)), origin=at(2))],
        [rules.Tmpfs(target="/cache", origin=at(2))],
    ],
)
def test_different_policies_have_different_digests(change: list[rules.Rule]) -> None:
    assert fingerprint(build(BASE + change, "a.lok")) != fingerprint(build(BASE, "a.lok"))


def test_the_host_side_of_a_mount_is_part_of_the_digest() -> None:
    # a mount's `source` is what it exposes; only the policy's own `source` is left out
    one = build([rules.Read(path="/home/me/notes", target="/data", origin=at(1))], "a.lok")
    other = build([rules.Read(path="/home/me/.ssh", target="/data", origin=at(1))], "a.lok")
    assert fingerprint(one) != fingerprint(other)


def test_where_a_secret_comes_from_is_part_of_the_digest() -> None:
    policy = build([rules.Secret(name="T", provider=ENV, ref="X", origin=at(1))], "a.lok")
    other = replace(policy, secrets=(SecretRef("T", FILE_SOURCE, "X", at(1)),))
    assert fingerprint(policy) != fingerprint(other)


def test_the_source_name_is_not_part_of_the_digest() -> None:
    policy = build([], "stdio")
    assert fingerprint(policy) == fingerprint(replace(policy, compiled_from="none"))


def test_canonical_is_compact_sorted_json() -> None:
    assert canonical({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'
