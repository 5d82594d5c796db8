"""`explain` on address rules: each egress row names every class of addresses its pattern
covers and weighs it as what it reaches; a catch-all reads as high exposure; loopback in a
rule is the server's own."""

from __future__ import annotations

import pytest

from mcp_lok.policy import rules
from mcp_lok.policy.build import build
from mcp_lok.policy.explain import ADDRESS_WEIGHTS, Control, Mark, Report, explain, render_human
from mcp_lok.policy.host import FixedHost
from mcp_lok.policy.ir import IR, EgressRule, Network
from mcp_lok.policy.lower import Target, lower
from mcp_lok.policy.origin import Span
from mcp_lok.policy.record import replace

FILE = "policy.lok"
HOST = FixedHost(addresses=frozenset({"127.0.0.1", "::1", "172.17.0.1"}))


def at(line: int) -> Span:
    return Span(FILE, line, 1, line, 20)


def allow(line: int, *hosts: str, acknowledged: bool = True) -> rules.Allow:
    marks = {"insecure": at(line), "reason": "the test"} if acknowledged else {}
    return rules.Allow(
        hosts=tuple(rules.Item(h, at(line)) for h in hosts),
        ports=(rules.Item("443", at(line)),),
        protocols=(rules.Item("tcp", at(line)),),
        origin=at(line),
        **marks,  # type: ignore[arg-type]
    )


def report_of(*ruleset: rules.Rule) -> Report:
    policy = build(list(ruleset), FILE, HOST)
    return explain(policy, lower(policy, Target(image="img", name="srv")))


def destinations(report: Report) -> list[Control]:
    return [c for c in report.controls if c.field.startswith("gate:egress.rules[")]


def test_a_catch_all_names_every_class_and_reads_as_high_exposure() -> None:
    report = report_of(allow(2, "0.0.0.0/0"))
    (row,) = destinations(report)
    assert (row.kind, row.mark, row.weight) == ("egress-special", Mark.EXPOSED, 0.5)
    assert row.description == (
        "egress to `0.0.0.0/0` on 443/tcp, through the gate, which covers a catch-all range, "
        "the host's own addresses, cloud metadata addresses, link-local addresses, loopback "
        "addresses, the unspecified address and private or shared addresses; mcp-lok never "
        "dials loopback addresses and the unspecified address on the host"
    )
    assert "egress only to addresses in" not in render_human(report)
    assert report.level in ("EXPOSED", "UNSAFE")
    acknowledged = report.controls[0]
    assert (acknowledged.kind, acknowledged.field) == ("insecure", "gate:egress.rules")
    assert acknowledged.description.startswith(
        "INSECURE, acknowledged: egress to special addresses (`0.0.0.0/0`, which covers a "
        "catch-all range, the host's own addresses"
    )
    both = report_of(allow(2, "0.0.0.0/0", "::/0"))
    assert both.level == "UNSAFE"


@pytest.mark.parametrize(
    ("pattern", "words", "weight"),
    [
        ("172.17.0.1", "the host's own addresses and private or shared addresses", 0.5),
        ("169.254.169.254", "cloud metadata addresses and link-local addresses", 0.5),
        ("169.254.1.0/24", "link-local addresses", 0.4),
        ("::ffff:0:0/96", "a catch-all range, the host's own addresses", 0.5),
        ("8.0.0.0/6", "a catch-all range and private or shared addresses", 0.5),
    ],
)
def test_each_class_a_pattern_covers_is_named_and_weighed(
    pattern: str, words: str, weight: float
) -> None:
    (row,) = destinations(report_of(allow(2, pattern)))
    assert row.kind == "egress-special"
    assert f"which covers {words}" in row.description
    assert row.weight == weight
    assert row.weight >= 0.4


def test_loopback_inside_a_wider_range_is_never_dialled_and_weighs_little() -> None:
    (row,) = destinations(report_of(allow(2, "::/127")))
    assert row.description.endswith(
        "which covers loopback addresses and the unspecified address; mcp-lok never dials "
        "loopback addresses and the unspecified address on the host"
    )
    assert row.weight == 0.1  # what an address range weighs: the rest is never dialled
    assert ADDRESS_WEIGHTS[next(iter(ADDRESS_WEIGHTS))] == 0.5


def test_private_ranges_are_named_but_not_insecure_and_loopback_is_the_server_s_own() -> None:
    rows = destinations(report_of(allow(2, "10.1.0.0/16", "127.0.0.1", acknowledged=False)))
    assert [(r.kind, r.weight) for r in rows] == [("egress-private", 0.15), ("loopback", 0.0)]
    assert rows[0].description == (
        "egress to `10.1.0.0/16` on 443/tcp, through the gate, which covers private or shared "
        "addresses"
    )
    assert rows[1].description == (
        "`127.0.0.1` is the server's own loopback, shared with the gate and always reachable: "
        "this grants nothing outside"
    )


def test_an_ir_not_made_by_build_is_read_as_covering_nothing() -> None:
    policy = build([allow(2, "1.0.0.0/24", acknowledged=False)], FILE, HOST)
    bare = tuple(replace(rule, covers=()) for rule in policy.network.rules)
    stripped: IR = replace(policy, network=replace(policy.network, rules=bare))
    assert isinstance(stripped.network, Network)
    assert all(isinstance(r, EgressRule) for r in stripped.network.rules)
    (row,) = destinations(explain(stripped, lower(stripped, Target(image="img", name="srv"))))
    assert row.description == (
        "egress only to addresses in `1.0.0.0/24` on 443/tcp, through the gate"
    )
