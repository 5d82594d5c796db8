"""Hosts, once for the compiler, mcp-lok on the host and the gate: what a host pattern in an
egress rule is (an exact name, a `*.suffix` wildcard, an IPv4/IPv6 address or network),
which requested hosts a pattern covers, and the few address facts all three judge alike
(the IPv4 address an IPv6 one carries; what is never dialled).

SHARED WITH THE GATE: the gate is a stdlib-only program in its own image, and this very
file is copied into it (`scripts/build_images.py`, `SHARED`; `proxy/gate/hosts.py` stands
for it in this repository, and tests/unit/proxy/test_gate_shared.py checks both). So it
imports the standard library only, and nothing of mcp-lok.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import re
from typing import TypeAlias

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

LOCALHOST = "localhost"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# what a resolver (`inet_aton`) reads as an IPv4 address: one to four parts, each decimal,
# octal or hex (`2130706433`, `0x7f.1`, `0x7f000001`); never a name
_NUMERIC = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}")
# only text that could be an address literal is handed to `ipaddress` (a fast path:
# its failures are exceptions, and most patterns are names)
_MAYBE_ADDRESS = re.compile(r"\[?[0-9.]+\]?|\[?[0-9a-fA-F:.%]*:[0-9a-zA-Z:.%]*\]?")
# IPv6 ranges that carry an IPv4 address, and where it sits (how far to shift it right):
# IPv4-mapped, NAT64 and 6to4
CARRIERS = (("::ffff:0:0/96", 0), ("64:ff9b::/96", 0), ("2002::/16", 80))
# why an address is never dialled, whatever a rule says (`never_dialled`)
LOOPBACK = "a loopback address"
UNSPECIFIED = "the unspecified address"
COMPATIBLE = "an IPv4-compatible address"


class HostKind(enum.Enum):
    NAME = "name"
    WILDCARD = "wildcard"
    ADDRESS = "address"
    NETWORK = "network"


# --- patterns ------------------------------------------------------------------------


def classify(pattern: str) -> HostKind | None:
    """The kind of a (lower-cased) host pattern, or None when it is malformed."""
    if "/" in pattern:
        try:
            ipaddress.ip_network(pattern, strict=True)
        except ValueError:
            return None
        return HostKind.NETWORK
    if literal(pattern) is not None:
        return HostKind.ADDRESS
    if pattern.startswith("*."):
        suffix = pattern[2:]
        # `*.com` would allow a whole top-level domain: a suffix needs two labels.
        return HostKind.WILDCARD if suffix.count(".") >= 1 and is_name(suffix) else None
    return HostKind.NAME if is_name(pattern) else None


def is_name(host: str) -> bool:
    """A DNS host name: letters, digits and inner hyphens, and not what a resolver reads
    as an address (a numeric last label, `0x7f.1`)."""
    labels = host.split(".")
    if len(host) > 253 or labels[-1].isdigit() or _NUMERIC.fullmatch(host):
        return False
    return all(_LABEL.fullmatch(label) for label in labels)


def normalise(pattern: str) -> str:
    """Lower case, and IPv6 literals without brackets, in canonical form."""
    text = pattern.lower()
    kind = classify(text)
    if kind is HostKind.ADDRESS:
        return str(literal(text))
    if kind is HostKind.NETWORK:
        return str(ipaddress.ip_network(text))
    return text


def matches(pattern: str, host: str) -> bool:
    """Whether a normalised rule `pattern` covers the requested `host` (`canonical`): a
    name is covered by itself and by a wildcard above it, an address by itself and by a
    network that holds it. A name never matches an address pattern, nor the reverse."""
    kind = classify(pattern)
    address = literal(host)
    if kind is HostKind.WILDCARD:
        return address is None and host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    if kind is HostKind.NAME:
        return address is None and host == pattern
    return address is not None and covers(pattern, address)


def covers(pattern: str, address: Address) -> bool:
    """Whether a rule's `pattern` names `address` itself (an address or a network)."""
    kind = classify(pattern)
    if kind is HostKind.ADDRESS:
        return literal(pattern) == address
    if kind is HostKind.NETWORK:
        return address in ipaddress.ip_network(pattern)
    return False


# --- requested hosts -----------------------------------------------------------------


def canonical(host: str) -> str:
    """A requested host as rules are matched against it: lower case without a trailing
    dot; an address in its canonical spelling, without brackets."""
    host = host.strip().lower().rstrip(".")
    address = literal(host)
    return str(address) if address is not None else host


def literal(host: str) -> Address | None:
    """The address `host` spells (`[…]` allowed around it), or None for anything else."""
    if not _MAYBE_ADDRESS.fullmatch(host):
        return None
    # only a matched pair of brackets is removed, so that every caller agrees on what the
    # address is
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# --- addresses -----------------------------------------------------------------------


@functools.cache
def carriers() -> tuple[tuple[ipaddress.IPv6Network, int], ...]:
    """`CARRIERS`, parsed."""
    return tuple((ipaddress.IPv6Network(text), shift) for text, shift in CARRIERS)


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, NAT64, 6to4), if any."""
    if address.version == 4:
        return None
    for carrier, shift in carriers():
        if address in carrier:
            return ipaddress.IPv4Address((int(address) >> shift) & 0xFFFFFFFF)
    return None


def never_dialled(address: Address) -> str | None:
    """Why `address` is never a destination, however spelt (`LOOPBACK`, `UNSPECIFIED`,
    `COMPATIBLE`), or None. In a rule, loopback is the server's own namespace (shared with
    the gate), and on Linux the unspecified address reaches the host's own loopback."""
    unwrapped = embedded_ipv4(address) or address
    if unwrapped.is_loopback:
        return LOOPBACK
    if unwrapped.is_unspecified:
        return UNSPECIFIED
    # IPv4-compatible IPv6 addresses (deprecated): where a `sit` tunnel is up, a way to the
    # host's IPv4 loopback
    if address.version == 6 and address in ipaddress.IPv6Network("::/96"):
        return COMPATIBLE
    return None


__all__ = [
    "CARRIERS",
    "COMPATIBLE",
    "LOCALHOST",
    "LOOPBACK",
    "UNSPECIFIED",
    "HostKind",
    "canonical",
    "carriers",
    "classify",
    "covers",
    "embedded_ipv4",
    "is_name",
    "literal",
    "matches",
    "never_dialled",
    "normalise",
]
