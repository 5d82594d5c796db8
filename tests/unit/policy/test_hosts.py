"""Host patterns: one classification for names, wildcards, addresses and networks, and
one canonical form, so that a check and the gate agree on what a rule names."""

from __future__ import annotations

import pytest

from mcp_lok.policy.hosts import HostKind, classify, normalise


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
