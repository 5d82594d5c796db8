"""The check pass on address rules: a rule whose addresses cover loopback (in a wider
range), link-local or metadata addresses, the unspecified address, the host's own addresses
or a catch-all range (however split) needs `insecure`, and the message names each class;
one meaning for loopback in a rule (the server's own); the unspecified address is never a
destination. The IR and the host's rules carry what each rule's `insecure` acknowledged."""

from __future__ import annotations

import json

import pytest

from mcp_lok.policy import rules
from mcp_lok.policy.addresses import AddressClass as C
from mcp_lok.policy.build import build
from mcp_lok.policy.check import check
from mcp_lok.policy.dangers import dangers
from mcp_lok.policy.diagnostics import Code, Diagnostic, Severity
from mcp_lok.policy.host import FixedHost
from mcp_lok.policy.ir import Acknowledged, Insecurity
from mcp_lok.policy.lower import Target, lower
from mcp_lok.policy.origin import Pointer, Span

FILE = "p.lok"
S = Span(FILE, 3, 5, 3, 20)
MARK = Span(FILE, 3, 1, 3, 9)
HOST = FixedHost(addresses=frozenset({"127.0.0.1", "::1", "172.17.0.1", "10.88.0.1"}))
INSECURE_HELP = 'remove it, or write `insecure` before it with `because "…"` to accept the risk'


def at(line: int, col: int = 1) -> Span:
    return Span(FILE, line, col, line, col + 9)


def allow(*hosts: str, line: int = 3, **marks: object) -> rules.Allow:
    return rules.Allow(
        hosts=tuple(rules.Item(h, at(line, 7 + 10 * i)) for i, h in enumerate(hosts)),
        ports=(rules.Item("443", at(line)),),
        protocols=(rules.Item("tcp", at(line)),),
        origin=at(line),
        **marks,  # type: ignore[arg-type]  # insecure=…, reason=…
    )


def insecure(*hosts: str, line: int = 3) -> rules.Allow:
    return allow(*hosts, line=line, insecure=at(line), reason="the test says so")


def errors(*ruleset: rules.Rule, host: FixedHost = HOST) -> list[str]:
    return [d.message for d in check(ruleset, host) if d.severity is Severity.ERROR]


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("0.0.0.0/0", "a catch-all range, the host's own addresses, cloud metadata addresses, "
                      "link-local addresses, loopback addresses and the unspecified address"),
        ("::/0", "a catch-all range, the host's own addresses, cloud metadata addresses, "
                 "link-local addresses, loopback addresses and the unspecified address"),
        ("::ffff:0:0/96", "a catch-all range, the host's own addresses, cloud metadata "
                          "addresses, link-local addresses, loopback addresses and the "
                          "unspecified address"),
        ("169.254.169.254", "cloud metadata addresses and link-local addresses"),
        ("[::ffff:169.254.169.254]", "cloud metadata addresses and link-local addresses"),
        ("fd00:ec2::254", "cloud metadata addresses"),
        ("100.100.100.200", "cloud metadata addresses"),
        ("169.254.1.0/24", "link-local addresses"),
        ("172.17.0.1", "the host's own addresses"),
        ("10.88.0.0/16", "the host's own addresses"),
        ("::ffff:ac11:1", "the host's own addresses"),
        ("::/127", "loopback addresses and the unspecified address"),
        ("0.0.0.0/8", "the unspecified address"),
        ("2.0.0.0/7", "a catch-all range"),
        ("2001:db8::/31", "a catch-all range"),
    ],
)  # fmt: skip
def test_an_address_rule_that_covers_a_special_class_needs_insecure(
    pattern: str, words: str
) -> None:
    assert check([allow(pattern)], HOST) == [
        Diagnostic(
            Code.INSECURE_REQUIRED,
            f"allowing `{pattern}`, which covers {words}, is dangerous and needs an "
            "`insecure` marker",
            at(3),
            help=INSECURE_HELP,
        )
    ]
    assert check([insecure(pattern)], HOST) == []


@pytest.mark.parametrize(
    "pattern", ["10.1.0.0/16", "192.168.1.0/24", "fd12::/48", "8.8.8.8", "api.example.com"]
)
def test_private_public_and_named_destinations_need_no_insecure(pattern: str) -> None:
    assert check([allow(pattern)], HOST) == []
    unused = check([insecure(pattern)], HOST)
    assert [d.code for d in unused] == [Code.INSECURE_UNUSED]


def test_the_host_s_own_addresses_are_the_host_s_facts() -> None:
    # the same rule on a host without that bridge covers a private address only
    assert errors(allow("172.17.0.0/16"), host=FixedHost()) == []
    assert errors(allow("172.17.0.0/16")) == [
        "allowing `172.17.0.0/16`, which covers the host's own addresses, is dangerous and "
        "needs an `insecure` marker"
    ]


def test_every_pattern_of_a_rule_that_needs_insecure_is_named() -> None:
    assert errors(allow("api.example.com", "169.254.169.254", "10.1.0.0/16", "172.17.0.1")) == [
        "allowing `169.254.169.254`, which covers cloud metadata addresses and link-local "
        "addresses; `172.17.0.1`, which covers the host's own addresses, is dangerous and "
        "needs an `insecure` marker"
    ]


def test_a_catch_all_split_over_rules_needs_insecure_where_it_becomes_one() -> None:
    ruleset = [
        allow("0.0.0.0/2", line=1),  # alone wider than a /8
        allow("64.0.0.0/2", "128.0.0.0/2", line=2),
        allow("192.0.0.0/8", line=4),
    ]
    assert errors(*ruleset, host=FixedHost()) == [
        "allowing `0.0.0.0/2`, which covers a catch-all range and the unspecified address, is "
        "dangerous and needs an `insecure` marker",
        "allowing `64.0.0.0/2`, which covers a catch-all range, cloud metadata addresses and "
        "loopback addresses; `128.0.0.0/2`, which covers a catch-all range, cloud metadata "
        "addresses and link-local addresses, is dangerous and needs an `insecure` marker",
        "allowing `192.0.0.0/8`, which covers a catch-all range (with the address rules before "
        "it), is dangerous and needs an `insecure` marker",
    ]
    eight = [allow(f"{i}.0.0.0/8", line=i + 1) for i in (1, 2, 3)]
    assert errors(*eight) == [
        f"allowing `{i}.0.0.0/8`, which covers a catch-all range (with the address rules "
        "before it), is dangerous and needs an `insecure` marker"
        for i in (2, 3)
    ]
    eight[1:] = [insecure(f"{i}.0.0.0/8", line=i + 1) for i in (2, 3)]
    assert errors(*eight) == []


def test_a_rule_judged_alone_knows_no_other_rule() -> None:
    assert dangers(allow("11.0.0.0/8")) == []
    assert dangers(allow("0.0.0.0/0")) == [
        (
            Insecurity.SPECIAL_ADDRESSES,
            "`0.0.0.0/0`, which covers a catch-all range, cloud metadata addresses, link-local "
            "addresses, loopback addresses and the unspecified address",
        )
    ]


def test_the_server_s_own_loopback_is_a_warning_that_it_grants_nothing_outside() -> None:
    found = check([allow("127.0.0.1", "localhost", "[::1]", "::ffff:127.0.0.1")], HOST)
    assert [(d.code, d.severity, d.origin) for d in found] == [
        (Code.HOST_OWN_LOOPBACK, Severity.WARNING, at(3, 7 + 10 * i)) for i in range(4)
    ]
    assert found[0].message == (
        "`127.0.0.1` is the server's own loopback, which it always reaches: this grants "
        "nothing outside"
    )
    assert found[0].help == (
        "mcp-lok never dials the host's loopback; to reach a service on the host, name one of "
        "the host's own addresses, marked `insecure`"
    )
    # `127.0.0.0/8` is all loopback: the same warning, no `insecure` needed
    assert [d.code for d in check([allow("127.0.0.0/8")], HOST)] == [Code.HOST_OWN_LOOPBACK]


@pytest.mark.parametrize("pattern", ["0.0.0.0", "[::]", "::", "::ffff:0.0.0.0", "0.0.0.0/32"])
def test_the_unspecified_address_is_never_a_destination(pattern: str) -> None:
    for rule in (allow(pattern), insecure(pattern)):
        found = [d for d in check([rule], HOST) if d.severity is Severity.ERROR]
        assert found == [
            Diagnostic(
                Code.HOST_UNSPECIFIED,
                f"`{pattern}` is the unspecified address, which is never a destination",
                at(3, 7),
                help="on Linux, dialling it reaches the dialler's own loopback; name the "
                "address of the service instead",
            )
        ]


def test_a_profile_s_insecure_marker_is_used_by_an_address_rule() -> None:
    marker = Pointer("p.json", "/insecure")
    rule = rules.Allow(
        hosts=(rules.Item("0.0.0.0/0", S),),
        ports=(rules.Item("443", S),),
        protocols=(rules.Item("tcp", S),),
        origin=S,
        insecure=marker,
    )
    assert check([rule], HOST) == []


# --- what the IR and the host's rules carry -----------------------------------------------


def test_the_ir_carries_what_each_pattern_covers_and_what_insecure_acknowledged() -> None:
    policy = build(
        [
            insecure("0.0.0.0/0", "api.example.com", line=1),
            allow("10.0.0.0/16", "127.0.0.1", line=2),
            insecure("169.254.169.254", line=3),
        ],
        FILE,
        HOST,
    )
    wide, private, metadata = policy.network.rules
    assert wide.covers == (
        (C.CATCH_ALL, C.HOST, C.METADATA, C.LINK_LOCAL, C.LOOPBACK, C.UNSPECIFIED, C.PRIVATE),
        (),
    )
    assert wide.acknowledged == (C.HOST, C.METADATA, C.LINK_LOCAL)
    assert private.covers == ((C.PRIVATE,), ())
    assert private.acknowledged == ()
    assert metadata.acknowledged == (C.METADATA, C.LINK_LOCAL)
    assert [(a.what, a.origin) for a in policy.insecure] == [
        (Insecurity.SPECIAL_ADDRESSES, at(1)),
        (Insecurity.SPECIAL_ADDRESSES, at(3)),
    ]
    assert policy.insecure[1] == Acknowledged(
        Insecurity.SPECIAL_ADDRESSES,
        "`169.254.169.254`, which covers cloud metadata addresses and link-local addresses",
        at(3),
    )
    # the host's copy of the rules says, per rule, what it may dial
    plan = lower(policy, Target(image="img", name="srv"))
    host_rules = json.loads(next(f for f in plan.files if f.path.endswith("egress.json")).content)
    assert [r["acknowledged"] for r in host_rules["rules"]] == [
        ["host", "metadata", "link-local"],
        [],
        ["metadata", "link-local"],
    ]
    # the gate's own copy is unchanged: it never dials, the host decides
    assert plan.gate is not None
    assert all("acknowledged" not in r for r in plan.gate.config.to_dict()["egress"]["rules"])
