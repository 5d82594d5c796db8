"""Host patterns: one classification for names, wildcards, addresses and networks, and
one canonical form, so that a check and the gate agree on what a rule names."""

from __future__ import annotations

import ipaddress

import pytest

from mcp_lok.policy.hosts import (
    COMPATIBLE,
    LOOPBACK,
    UNSPECIFIED,
    HostKind,
    canonical,
    classify,
    covers,
    embedded_ipv4,
    matches,
    never_dialled,
    normalise,
)


@pytest.mark.parametrize(
    ("pattern", "kind"),
    [
        ("api.example.com", HostKind.NAME),
        ("localhost", HostKind.NAME),
        ("a-b.c-d.example", HostKind.NAME),
        ("0x7f.example", HostKind.NAME),  # hex-looking labels are fine in a name
        ("1.2.3.example", HostKind.NAME),
        ("*.example.com", HostKind.WILDCARD),
        ("*.co.uk", HostKind.WILDCARD),
        ("10.0.0.5", HostKind.ADDRESS),
        ("2001:db8::1", HostKind.ADDRESS),
        ("[2001:db8::1]", HostKind.ADDRESS),
        ("[10.0.0.5]", HostKind.ADDRESS),
        ("10.0.0.0/8", HostKind.NETWORK),
        ("10.0.0.5/32", HostKind.NETWORK),
        ("2001:db8::/32", HostKind.NETWORK),
    ],
)
def test_classify_good_patterns(pattern: str, kind: HostKind) -> None:
    assert classify(pattern) is kind


@pytest.mark.parametrize(
    "pattern",
    [
        "*.com",
        "*",
        "*.",
        "10.0.0.1/8",  # host bits set
        "2001:db8::1/32",
        "[2001:db8::]/32",
        "not a host",
        "1.2.3",
        "256.0.0.1",
        "API.example.com",  # classify takes lower-cased patterns; normalise lowers
        "example.com\n",
        "[2001:db8::1",
        "2001:db8::1]",
        "[[2001:db8::1]]",
        "[example.com]",
        "-a.example.com",
        "a-.example.com",
        "a" * 64,
        ".example.com",
        "example..com",
        "x" * 250 + ".com",
        # what a resolver reads as an IPv4 address is not a name (`inet_aton`'s spellings)
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "0x7f.0.0.0x1",
        "017700000001",
        "*.0x7f.1",
    ],
)
def test_classify_bad_patterns(pattern: str) -> None:
    assert classify(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "canonical"),
    [
        ("API.Example.COM", "api.example.com"),
        ("*.Example.com", "*.example.com"),
        ("[2001:DB8:0:0::1]", "2001:db8::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("2001:DB8:0::/32", "2001:db8::/32"),
        ("010.000.000.001", "010.000.000.001"),  # not an address (leading zeros): unchanged
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("[2001:db8::1", "[2001:db8::1"),  # malformed patterns come back lower-cased only
        ("[Example.com]", "[example.com]"),
    ],
)
def test_normalise(pattern: str, canonical: str) -> None:
    assert normalise(pattern) == canonical


def test_normalising_twice_changes_nothing() -> None:
    for pattern in ("[2001:DB8::1]", "API.example.com", "10.0.0.0/8", "*.A.b"):
        assert normalise(normalise(pattern)) == normalise(pattern)


# --- matching requested hosts (the gate and the host ask these; the file is shared) --------


@pytest.mark.parametrize(
    ("pattern", "host", "covered"),
    [
        ("api.example.com", "api.example.com", True),
        ("api.example.com", "x.api.example.com", False),
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "a.b.example.com", True),
        ("*.example.com", "example.com", False),  # a wildcard is not its suffix
        ("*.example.com", "evilexample.com", False),
        ("*.0.0.10", "1.0.0.10", False),  # malformed pattern: matches nothing
        ("10.0.0.5", "10.0.0.5", True),
        ("10.0.0.5", "10.0.0.6", False),
        ("2001:db8::1", "2001:db8::1", True),
        ("2001:db8::1", "[2001:db8::1]", True),
        ("10.0.0.0/8", "10.9.9.9", True),
        ("10.0.0.0/8", "11.0.0.1", False),
        ("10.0.0.0/8", "ten.example", False),  # a name never matches an address pattern
        ("api.example.com", "10.0.0.5", False),  # nor an address a name
        ("not a pattern", "not a pattern", False),
    ],
)
def test_matches(pattern: str, host: str, covered: bool) -> None:
    assert matches(pattern, canonical(host)) is covered


def test_covers_names_an_address_only_by_an_address_or_a_network() -> None:
    address = ipaddress.ip_address("10.0.0.5")
    assert covers("10.0.0.5", address)
    assert covers("10.0.0.0/24", address)
    assert not covers("example.com", address)


@pytest.mark.parametrize(
    ("host", "canonical_form"),
    [
        (" Api.Example.COM. ", "api.example.com"),
        ("[2001:DB8::1]", "2001:db8::1"),
        ("2001:0db8::0001", "2001:db8::1"),
        ("0x7f.1", "0x7f.1"),  # not an address to `ipaddress`: judged as a (bad) name
    ],
)
def test_canonical(host: str, canonical_form: str) -> None:
    assert canonical(host) == canonical_form


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", LOOPBACK),
        ("::1", LOOPBACK),
        ("::ffff:127.0.0.1", LOOPBACK),
        ("64:ff9b::7f00:1", LOOPBACK),
        ("2002:7f00:1::", LOOPBACK),
        ("0.0.0.0", UNSPECIFIED),
        ("::", UNSPECIFIED),
        ("::ffff:0.0.0.0", UNSPECIFIED),
        ("::7f00:1", COMPATIBLE),
        ("::808:808", COMPATIBLE),
        ("8.8.8.8", None),
        ("2606:4700::1", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_never_dialled(address: str, reason: str | None) -> None:
    assert never_dialled(ipaddress.ip_address(address)) == reason


def test_embedded_ipv4() -> None:
    assert embedded_ipv4(ipaddress.ip_address("10.0.0.1")) is None
    assert embedded_ipv4(ipaddress.ip_address("2606:4700::1")) is None
    assert embedded_ipv4(ipaddress.ip_address("2002:a00:1::1")) == ipaddress.ip_address("10.0.0.1")
