"""The host's egress decisions (`proxy/egress_policy.py`): rules, denies, and the address
check after resolution."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from mcp_lok.policy.gate_config import HostRule, HostRules
from mcp_lok.policy.hosts import never_dialled
from mcp_lok.proxy.egress_policy import Allowed, RulesError, decide, load_rules, special, vet

RULES = HostRules(
    name="t",
    socket="/run/x/egress.sock",
    gate_user=(65533, 65533),
    rules=(
        HostRule(("api.example.com", "*.cdn.example.com"), (443,), ("tcp",), ()),
        HostRule(("10.0.0.5", "192.168.7.0/24"), (5432,), ("tcp",), ()),
        HostRule(("dns.example.com",), (53,), ("udp",), ()),
        HostRule(("open.example.com",), (80, 8080), ("tcp",), ()),
    ),
    deny_hosts=("bad.cdn.example.com",),
    deny_ports=(8080,),
)
OWN = frozenset({ipaddress.ip_address("198.51.100.1"), ipaddress.ip_address("8.8.4.4")})


@pytest.mark.parametrize(
    ("host", "port", "transport", "rule"),
    [
        ("api.example.com", 443, "tcp", 0),
        ("x.cdn.example.com", 443, "tcp", 0),
        ("a.b.cdn.example.com", 443, "tcp", 0),
        ("10.0.0.5", 5432, "tcp", 1),
        ("192.168.7.9", 5432, "tcp", 1),
        ("dns.example.com", 53, "udp", 2),
        ("open.example.com", 80, "tcp", 3),
    ],
)
def test_a_rule_allows(host: str, port: int, transport: str, rule: int) -> None:
    found = decide(RULES, host, port, transport)
    assert isinstance(found, Allowed)
    assert found.index == rule


@pytest.mark.parametrize(
    ("host", "port", "transport", "reason"),
    [
        ("bad.cdn.example.com", 443, "tcp", "denied by `deny host bad.cdn.example.com`"),
        ("open.example.com", 8080, "tcp", "denied by `deny port 8080`"),
        ("cdn.example.com", 443, "tcp", "no rule allows"),  # a wildcard is not its suffix
        ("api.example.com", 80, "tcp", "no rule allows"),
        ("api.example.com", 443, "udp", "no rule allows"),
        ("dns.example.com", 53, "tcp", "no rule allows"),
        ("10.0.0.6", 5432, "tcp", "no rule allows"),
        ("api.example.com.evil.test", 443, "tcp", "no rule allows"),
        ("evilapi.example.com", 443, "tcp", "no rule allows"),
        ("api.example.com", 443, "sctp", "unknown protocol"),
        ("api.example.com", 0, "tcp", "out of range"),
        ("evil.test#.cdn.example.com", 443, "tcp", "is not a host name"),
        ("evil test.cdn.example.com", 443, "tcp", "is not a host name"),
        ("2130706433", 443, "tcp", "is not a host name"),
    ],
)
def test_denies_win_and_nothing_else_passes(
    host: str, port: int, transport: str, reason: str
) -> None:
    found = decide(RULES, host, port, transport)
    assert isinstance(found, str)
    assert reason in found


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.17.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("100.100.100.200", "metadata"),
        ("100.64.0.1", "private or shared"),
        ("198.18.0.1", "not a public address"),
        ("224.0.0.1", "not a unicast address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("::ffff:127.0.0.1", "loopback"),  # an IPv4-mapped address is checked as IPv4
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 of 169.254.169.254
        ("::ffff:140.82.121.6", "embeds an IPv4"),  # public, but named only as IPv4
        ("198.51.100.1", "this host's own"),
        ("8.8.4.4", "this host's own"),
    ],
)
def test_special_addresses_are_named(address: str, reason: str) -> None:
    found = special(ipaddress.ip_address(address), OWN)
    assert found is not None
    assert reason in found


def test_a_public_address_is_not_special() -> None:
    assert special(ipaddress.ip_address("140.82.121.6"), OWN) is None
    assert special(ipaddress.ip_address("2606:4700::1"), OWN) is None


def test_a_special_address_passes_only_when_a_rule_for_that_port_names_it() -> None:
    private = ipaddress.ip_address("10.0.0.5")
    assert vet(RULES, 5432, "tcp", private, OWN) is None
    assert vet(RULES, 5432, "tcp", ipaddress.ip_address("192.168.7.200"), OWN) is None
    refused = vet(RULES, 443, "tcp", private, OWN)  # named, but for another port
    assert refused == "10.0.0.5 is a private or shared address and no rule names it"
    # a name that resolves there (DNS rebinding) gets the same answer: the name is no licence
    assert vet(RULES, 443, "tcp", ipaddress.ip_address("127.0.0.1"), OWN) is not None
    assert vet(RULES, 443, "tcp", ipaddress.ip_address("140.82.121.6"), OWN) is None
    mapped = ipaddress.ip_address("::ffff:10.0.0.5")
    assert vet(RULES, 5432, "tcp", mapped, OWN) is None


RULE = {"hosts": ["a.example.com"], "ports": [443], "protocols": ["tcp"], "acknowledged": []}
FILE = {"version": 2, "name": "t", "socket": "/s", "gate_user": "65533:65533",
        "rules": [RULE], "deny_hosts": [], "deny_ports": []}  # fmt: skip


def test_rules_load_from_the_plan_file(tmp_path: Path) -> None:
    path = tmp_path / "egress.json"
    path.write_text(json.dumps(FILE))
    rules = load_rules(path)
    assert rules.gate_user == (65533, 65533)
    assert rules.rules[0].hosts == ("a.example.com",)
    allowed = decide(rules, "a.example.com", 443, "tcp")
    assert isinstance(allowed, Allowed)
    assert allowed.text() == "rule 1: allow a.example.com port 443 over tcp"
    for broken in ({}, FILE | {"rules": [RULE | {"hosts": ["A.example.com"]}]}):
        path.write_text(json.dumps(broken))
        with pytest.raises(RulesError, match="cannot use the egress rules"):
            load_rules(path)
    with pytest.raises(RulesError):
        load_rules(tmp_path / "missing.json")


# --- the one meaning of loopback, and classes only a rule's `insecure` acknowledges -------

WIDE = HostRules(
    name="t",
    socket="/s",
    gate_user=(65533, 65533),
    rules=(
        # what `insecure allow 0.0.0.0/0, ::/0 port 80` lowers to on a host with these
        # classes under it: everything a rule can acknowledge
        HostRule(("0.0.0.0/0", "::/0", "127.0.0.1"), (80,), ("tcp",),
                 ("host", "metadata", "link-local")),
        # the same, unacknowledged (a rule without `insecure`, or compiled before a bridge)
        HostRule(("0.0.0.0/0", "::/0"), (81,), ("tcp",), ()),
        # one class acknowledged, not the other
        HostRule(("169.254.0.0/16", "10.0.0.0/8"), (82,), ("tcp",), ("link-local",)),
    ),
    deny_hosts=(),
    deny_ports=(),
)  # fmt: skip
BRIDGE = frozenset({ipaddress.ip_address("172.17.0.1"), ipaddress.ip_address("10.0.0.1")})


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.255.255.254", "::1", "0.0.0.0", "::",
        "::ffff:127.0.0.1", "::ffff:0.0.0.0", "64:ff9b::7f00:1", "2002:7f00:1::",
        "64:ff9b::", "2002::", "::7f00:1",
    ],
)  # fmt: skip
def test_loopback_and_the_unspecified_address_are_never_dialled_whatever_a_rule_says(
    address: str,
) -> None:
    parsed = ipaddress.ip_address(address)
    assert never_dialled(parsed) is not None
    for port in (80, 81, 82):
        refused = vet(WIDE, port, "tcp", parsed, BRIDGE)
        assert refused is not None
        assert "which mcp-lok never dials" in refused
    # the rule that names 127.0.0.1 exactly allows the request (the server's own loopback
    # is no secret), and the dial is still refused
    assert isinstance(decide(WIDE, "127.0.0.1", 80, "tcp"), Allowed)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1", "10.9.9.9", "169.254.1.1"])
def test_other_addresses_are_not_never_dialled(address: str) -> None:
    assert never_dialled(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "port", "verdict"),
    [
        # the host's own addresses (read at dial time): only through a rule that acknowledged
        ("172.17.0.1", 80, None),
        ("::ffff:172.17.0.1", 80, None),
        ("172.17.0.1", 81, "one of this host's own addresses: no rule that names it "
                           "acknowledged host (`insecure`)"),
        ("10.0.0.1", 82, "one of this host's own addresses: no rule that names it "
                         "acknowledged host (`insecure`)"),
        # a private address that is not the host's: a rule that names it is enough
        ("10.0.0.2", 82, None),
        ("10.0.0.2", 81, None),
        # link-local and metadata
        ("169.254.169.254", 80, None),
        ("64:ff9b::a9fe:a9fe", 80, None),
        ("169.254.1.1", 82, None),
        ("169.254.169.254", 82, "a cloud metadata address: no rule that names it acknowledged "
                                "metadata and link-local (`insecure`)"),
        ("169.254.169.254", 81, "acknowledged metadata and link-local"),
        ("fe80::1", 81, "a link-local address: no rule that names it acknowledged link-local"),
        ("100.100.100.200", 81, "acknowledged metadata (`insecure`)"),
        # a name's answer gets the same judgement: the name is no licence
        ("172.17.0.1", 443, "one of this host's own addresses and no rule names it"),
        ("8.8.8.8", 81, None),
    ],
)  # fmt: skip
def test_special_classes_are_dialled_only_through_a_rule_that_acknowledged_them(
    address: str, port: int, verdict: str | None
) -> None:
    found = vet(WIDE, port, "tcp", ipaddress.ip_address(address), BRIDGE)
    if verdict is None:
        assert found is None
    else:
        assert found is not None
        assert verdict in found


def test_the_host_s_own_addresses_are_those_it_has_when_it_dials() -> None:
    """A bridge made after the policy was compiled is the host's all the same."""
    later = ipaddress.ip_address("10.88.0.1")
    assert vet(WIDE, 82, "tcp", later, BRIDGE) is None  # not the host's (yet): private
    refused = vet(WIDE, 82, "tcp", later, BRIDGE | {later})
    assert refused is not None
    assert "one of this host's own addresses" in refused


def test_acknowledged_classes_load_from_the_plan_file(tmp_path: Path) -> None:
    path = tmp_path / "egress.json"
    rule = {"hosts": ["0.0.0.0/0"], "ports": [80], "protocols": ["tcp"]}
    body = {"version": 2, "name": "t", "socket": "/s", "gate_user": "1:1",
            "deny_hosts": [], "deny_ports": []}  # fmt: skip
    path.write_text(
        json.dumps(
            body
            | {
                "rules": [
                    rule | {"acknowledged": ["host", "metadata"]},
                    rule | {"acknowledged": []},
                ]
            }
        )
    )
    first, second = load_rules(path).rules
    assert first.acknowledged == ("host", "metadata")
    assert second.acknowledged == ()
    for broken in (rule | {"acknowledged": ["everything"]}, rule):  # unknown, or none said
        path.write_text(json.dumps(body | {"rules": [broken]}))
        with pytest.raises(RulesError, match="cannot use the egress rules"):
            load_rules(path)
