"""Address classes (`policy/addresses.py`): what the addresses and networks of egress rules
cover, every spelling an attacker would try, and catch-alls however they are split."""

from __future__ import annotations

import ipaddress

import pytest

from mcp_lok.policy import addresses, hosts, rules
from mcp_lok.policy.addresses import AddressClass as C
from mcp_lok.policy.host import FixedHost
from mcp_lok.policy.origin import Span

S = Span("p.lok", 1, 1, 1, 10)
BRIDGE = FixedHost(addresses=frozenset({"127.0.0.1", "::1", "172.17.0.1", "fe80::42", "junk"}))
EVERYTHING = {C.HOST, C.METADATA, C.LINK_LOCAL, C.LOOPBACK, C.UNSPECIFIED, C.PRIVATE}


def allow(*hosts: str) -> rules.Allow:
    return rules.Allow(
        hosts=tuple(rules.Item(h, S) for h in hosts),
        ports=(rules.Item("443", S),),
        protocols=(rules.Item("tcp", S),),
        origin=S,
    )


def covered(*hosts: str, host: FixedHost = BRIDGE) -> list[set[C]]:
    return [set(c) for c in addresses.reach([allow(*hosts)], host)[0]]


@pytest.mark.parametrize(
    ("pattern", "classes"),
    [
        # catch-alls, in each family and in what IPv6 carries of IPv4
        ("0.0.0.0/0", {C.CATCH_ALL} | EVERYTHING),
        ("::/0", {C.CATCH_ALL} | EVERYTHING),
        ("::ffff:0:0/96", {C.CATCH_ALL} | EVERYTHING),  # IPv4-mapped: all of IPv4
        ("64:ff9b::/96", {C.CATCH_ALL} | EVERYTHING),  # NAT64
        ("2002::/16", {C.CATCH_ALL} | EVERYTHING),  # 6to4
        ("0.0.0.0/1", {C.CATCH_ALL, C.LOOPBACK, C.UNSPECIFIED, C.PRIVATE, C.METADATA}),
        ("128.0.0.0/1", {C.CATCH_ALL, C.HOST, C.LINK_LOCAL, C.METADATA, C.PRIVATE}),
        ("2001:db8::/31", {C.CATCH_ALL}),
        # wide, but not catch-alls
        ("1.0.0.0/8", set()),
        ("2001:db8::/32", set()),
        ("10.0.0.0/8", {C.PRIVATE}),
        # the host's own (its bridge, its IPv6 link-local), however spelt
        ("172.17.0.1", {C.HOST, C.PRIVATE}),
        ("172.16.0.0/12", {C.HOST, C.PRIVATE}),
        ("::ffff:172.17.0.1", {C.HOST, C.PRIVATE}),
        ("64:ff9b::ac11:1", {C.HOST, C.PRIVATE}),
        ("2002:ac11:1::/48", {C.HOST, C.PRIVATE}),
        ("fe80::/64", {C.HOST, C.LINK_LOCAL}),
        # link-local and the metadata addresses, named as such
        ("169.254.169.254", {C.METADATA, C.LINK_LOCAL}),
        ("169.254.170.2", {C.METADATA, C.LINK_LOCAL}),
        ("169.254.0.0/16", {C.METADATA, C.LINK_LOCAL}),
        ("169.254.1.1", {C.LINK_LOCAL}),
        ("fd00:ec2::254", {C.METADATA, C.PRIVATE}),
        ("100.100.100.200", {C.METADATA, C.PRIVATE}),
        ("100.64.0.0/10", {C.METADATA, C.PRIVATE}),
        ("::ffff:169.254.169.254", {C.METADATA, C.LINK_LOCAL}),
        ("[::ffff:a9fe:a9fe]", {C.METADATA, C.LINK_LOCAL}),
        ("64:ff9b::a9fe:a9fe", {C.METADATA, C.LINK_LOCAL}),
        ("2002:a9fe:a9fe::", {C.METADATA, C.LINK_LOCAL}),
        ("2002:a9fe:a9fe:1::/64", {C.METADATA, C.LINK_LOCAL}),
        # loopback and the unspecified address inside a wider range
        ("126.0.0.0/7", {C.LOOPBACK}),  # two /8s, one of them loopback: one public /8
        ("::/127", {C.LOOPBACK, C.UNSPECIFIED}),
        ("0.0.0.0/8", {C.UNSPECIFIED}),
        ("::ffff:0.0.0.0/104", {C.UNSPECIFIED}),
        # exactly the unspecified address: an error of its own (check), covering just that
        ("0.0.0.0", {C.UNSPECIFIED}),
        ("::", {C.UNSPECIFIED}),
        ("::ffff:0.0.0.0", {C.UNSPECIFIED}),
        # private, public, names: nothing that needs `insecure`
        ("fd12:3456::/32", {C.PRIVATE}),
        ("8.8.8.8", set()),
        ("2606:4700::1", set()),
        ("api.example.com", set()),
        ("*.example.com", set()),
        ("not a host", set()),
    ],
)
def test_a_pattern_covers_the_classes_of_the_addresses_it_reaches(
    pattern: str, classes: set[C]
) -> None:
    assert covered(pattern) == [classes]


@pytest.mark.parametrize(
    "pattern",
    ["localhost", "127.0.0.1", "127.0.0.0/8", "127.9.9.9", "::1", "[::1]", "::1/128",
     "::ffff:127.0.0.1", "::ffff:7f00:1", "64:ff9b::7f00:1", "2002:7f00:1::", "2002:7f00::/24",
     "::ffff:127.0.0.0/104"],
)  # fmt: skip
def test_the_server_s_own_loopback_however_spelt_covers_nothing_outside(pattern: str) -> None:
    normal = pattern if pattern == "localhost" else str(addresses.network(pattern.strip("[]")))
    assert addresses.own_loopback(pattern.strip("[]"))
    assert addresses.own_loopback(normal.removesuffix("/32").removesuffix("/128"))
    assert covered(pattern) == [set()]


@pytest.mark.parametrize(
    "pattern", ["126.0.0.0/7", "::/127", "0.0.0.0/0", "api.example.com", "*.localhost", "::2"]
)
def test_what_is_not_only_the_server_s_own_loopback(pattern: str) -> None:
    assert not addresses.own_loopback(pattern)


@pytest.mark.parametrize("pattern", ["0.0.0.0", "0.0.0.0/32", "::", "::/128", "::ffff:0.0.0.0"])
def test_the_unspecified_address_however_spelt(pattern: str) -> None:
    assert addresses.unspecified(pattern)


@pytest.mark.parametrize("pattern", ["0.0.0.0/8", "::/127", "0.0.0.1", "localhost", "::1"])
def test_what_is_not_exactly_the_unspecified_address(pattern: str) -> None:
    assert not addresses.unspecified(pattern)


def test_a_catch_all_split_within_one_rule_is_a_catch_all() -> None:
    assert covered("0.0.0.0/1", "128.0.0.0/1") == [
        {C.CATCH_ALL, C.LOOPBACK, C.UNSPECIFIED, C.PRIVATE, C.METADATA},
        {C.CATCH_ALL, C.HOST, C.LINK_LOCAL, C.METADATA, C.PRIVATE},
    ]


def test_a_catch_all_split_over_many_rules_is_a_catch_all_from_where_it_becomes_one() -> None:
    # 256 /8s, one per rule: each alone is exactly a /8, together all of IPv4
    ruleset = [allow(f"{i}.0.0.0/8") for i in range(256)]
    reached = addresses.reach(ruleset, BRIDGE)
    wide = [i for i, (classes,) in reached.items() if C.CATCH_ALL in classes]
    # 127/8 is the server's own loopback, which grants nothing and counts for nothing, and
    # 10/8 is private, which adds no public address; the first /8 is not a catch-all yet,
    # every other one after it widens one
    assert wide == [i for i in range(1, 256) if i not in (10, 127)]


def test_private_ranges_do_not_count_towards_a_catch_all() -> None:
    ruleset = [allow("10.0.0.0/8"), allow("192.168.0.0/16", "172.16.0.0/12"), allow("8.8.8.8")]
    reached = addresses.reach(ruleset, BRIDGE)
    assert all(C.CATCH_ALL not in c for classes in reached.values() for c in classes)
    # but a private range inside a wider one does not hide the public rest
    assert C.CATCH_ALL in addresses.reach([allow("8.0.0.0/6")], BRIDGE)[0][0]


def test_a_rule_that_adds_nothing_to_a_catch_all_is_not_part_of_it() -> None:
    ruleset = [allow("0.0.0.0/0"), allow("8.8.8.8"), allow("1.0.0.0/24")]
    reached = addresses.reach(ruleset, BRIDGE)
    assert C.CATCH_ALL in reached[0][0]
    assert reached[1] == (frozenset(),)
    assert reached[2] == (frozenset(),)


def test_a_catch_all_is_per_family_and_counts_what_ipv6_carries_of_ipv4() -> None:
    ruleset = [allow("9.0.0.0/8"), allow("2001:db8::/32"), allow("::ffff:11.0.0.0/104")]
    reached = addresses.reach(ruleset, BRIDGE)
    assert reached[1] == (frozenset(),)  # an IPv6 /32 beside an IPv4 /8: neither is wide
    assert C.CATCH_ALL in reached[2][0]  # 11.0.0.0/8 as IPv4-mapped: two /8s of IPv4


def test_network_none_starts_the_union_again() -> None:
    ruleset = [allow("10.0.0.0/8"), rules.NetworkNone(origin=S), allow("11.0.0.0/8")]
    reached = addresses.reach(ruleset, BRIDGE)
    assert reached == {0: ({C.PRIVATE},), 2: (frozenset(),)}


def test_the_host_is_asked_for_its_addresses_only_when_a_rule_names_an_address() -> None:
    class Counting(FixedHost):
        asked = 0

        def own_addresses(self) -> frozenset[str]:
            Counting.asked += 1
            return super().own_addresses()

    host = Counting()
    addresses.reach([allow("api.example.com"), allow("localhost")], host)
    assert Counting.asked == 0
    addresses.reach([allow("10.0.0.1"), allow("10.0.0.2")], host)
    assert Counting.asked == 1


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("2002:7f00:1:5::9", "127.0.0.1"),
        ("2606:4700::1", None),
        ("8.8.8.8", None),
    ],
)
def test_the_ipv4_address_an_ipv6_one_carries(address: str, carried: str | None) -> None:
    found = hosts.embedded_ipv4(ipaddress.ip_address(address))
    assert (str(found) if found else None) == carried


@pytest.mark.parametrize(
    ("network", "carried"),
    [
        ("::/0", ["0.0.0.0/0", "0.0.0.0/0", "0.0.0.0/0"]),
        ("::ffff:10.0.0.0/104", ["10.0.0.0/8"]),
        ("64:ff9b::7f00:1/128", ["127.0.0.1/32"]),
        ("2002:7f00::/24", ["127.0.0.0/8"]),
        ("2002:7f00:1:2::/64", ["127.0.0.1/32"]),  # longer than /48: one IPv4 address
        ("2001:db8::/32", []),
    ],
)
def test_the_ipv4_networks_an_ipv6_network_carries(network: str, carried: list[str]) -> None:
    found = addresses.carried(ipaddress.IPv6Network(network))
    assert [str(n) for n in found] == carried


def test_one_address_has_the_classes_of_its_network_of_one() -> None:
    own = [ipaddress.ip_address("172.17.0.1")]
    classes = addresses.address_classes(ipaddress.ip_address("::ffff:172.17.0.1"), own)
    assert classes == {C.HOST, C.PRIVATE}
    assert addresses.address_classes(ipaddress.ip_address("8.8.8.8"), own) == set()


def test_classes_in_words_and_order() -> None:
    assert addresses.in_words([C.PRIVATE]) == "private or shared addresses"
    assert addresses.in_words([C.LOOPBACK, C.CATCH_ALL, C.HOST]) == (
        "a catch-all range, the host's own addresses and loopback addresses"
    )
    assert addresses.in_words([C.CATCH_ALL], together=True) == (
        "a catch-all range (with the address rules before it)"
    )
    assert addresses.in_words([C.HOST], together=True) == "the host's own addresses"
    assert addresses.ordered([C.PRIVATE, C.CATCH_ALL]) == (C.CATCH_ALL, C.PRIVATE)
    assert str(next(iter(addresses.metadata_addresses())).version) in "46"
    assert {str(a) for a in addresses.metadata_addresses()} == set(addresses.METADATA)
