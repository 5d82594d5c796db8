"""The host's egress decisions (`proxy/egress_policy.py`): rules, denies, and the address
check after resolution."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from mcp_lok.proxy.egress_policy import Rule, Rules, RulesError, decide, load_rules, special, vet

RULES = Rules(
    name="t",
    socket="/run/x/egress.sock",
    gate_user=(65533, 65533),
    rules=(
        Rule(0, ("api.example.com", "*.cdn.example.com"), (443,), ("tcp",)),
        Rule(1, ("10.0.0.5", "192.168.7.0/24"), (5432,), ("tcp",)),
        Rule(2, ("dns.example.com",), (53,), ("udp",)),
        Rule(3, ("open.example.com",), (80, 8080), ("tcp",)),
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
    assert isinstance(found, Rule)
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
        ("api.example.com", 443, "sctp", "unknown transport"),
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
        ("100.64.0.1", "not a public address"),
        ("224.0.0.1", "not a unicast address"),
        ("0.0.0.0", "private"),
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
    assert refused == "10.0.0.5 is a private address and no rule names it"
    # a name that resolves there (DNS rebinding) gets the same answer: the name is no licence
    assert vet(RULES, 443, "tcp", ipaddress.ip_address("127.0.0.1"), OWN) is not None
    assert vet(RULES, 443, "tcp", ipaddress.ip_address("140.82.121.6"), OWN) is None
    mapped = ipaddress.ip_address("::ffff:10.0.0.5")
    assert vet(RULES, 5432, "tcp", mapped, OWN) is None


def test_rules_load_from_the_plan_file(tmp_path: Path) -> None:
    path = tmp_path / "egress.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "name": "t",
                "socket": "/s",
                "gate_user": "65533:65533",
                "rules": [{"hosts": ["A.example.com"], "ports": [443], "transports": ["tcp"]}],
                "deny_hosts": [],
                "deny_ports": [],
            }
        )
    )
    rules = load_rules(path)
    assert rules.gate_user == (65533, 65533)
    assert rules.rules[0].hosts == ("a.example.com",)
    assert rules.rules[0].text() == "rule 1: allow a.example.com port 443 over tcp"
    path.write_text("{}")
    with pytest.raises(RulesError, match="cannot use the egress rules"):
        load_rules(path)
    with pytest.raises(RulesError):
        load_rules(tmp_path / "missing.json")
