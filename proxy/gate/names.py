"""Which destinations the gate lets the server ask for, and the loopback address each
allowed name gets.

A host pattern in a rule is an exact name, a `*.suffix` wildcard (any name below the
suffix, not the suffix itself), an address or a network. Explicit denies win over every
rule. Each allowed name gets its own address in 127.0.0.0/8, so which address the server
dialled says which destination it meant: exact names at start, wildcard names on their
first lookup. `localhost` is the namespace's own loopback and is never relayed. The host
checks every decision again (`mcp_lok.proxy.egress`): here the names and listeners are
the first of two locks; the HTTP proxy leaves the decision (and its log line) to the host.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from .config import Egress

LOCALHOST = "localhost"
EXACT_BASE = int(ipaddress.IPv4Address("127.1.0.0"))  # exact names: 127.1.0.1, 127.1.0.2, …
WILDCARD_BASE = int(ipaddress.IPv4Address("127.2.0.0"))  # wildcard names, on first lookup
# each name costs a listener per allowed port (descriptors, within the gate's nofile
# limit of 1024); beyond this many names, lookups are refused
MAX_NAMES = 256
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# what a resolver reads as an IPv4 address (`0x7f000001`): never a name (as the compiler's)
_NUMERIC = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}")


def well_formed(name: str) -> bool:
    """A DNS host name: letters, digits and inner hyphens, a non-numeric last label."""
    labels = name.split(".")
    if len(name) > 253 or labels[-1].isdigit() or _NUMERIC.fullmatch(name):
        return False
    return all(_LABEL.fullmatch(label) for label in labels)


# IPv6 ranges that carry an IPv4 address, and where it sits: the compiler's list
# (`mcp_lok.policy.addresses`), copied because the gate imports nothing of mcp-lok; a test
# keeps the two alike
CARRIERS = (
    (ipaddress.IPv6Network("::ffff:0:0/96"), 0),
    (ipaddress.IPv6Network("64:ff9b::/96"), 0),
    (ipaddress.IPv6Network("2002::/16"), 80),
)


def unwrap(address: Address) -> Address:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, NAT64, 6to4), or the address."""
    if isinstance(address, ipaddress.IPv6Address):
        for carrier, shift in CARRIERS:
            if address in carrier:
                return ipaddress.IPv4Address((int(address) >> shift) & 0xFFFFFFFF)
    return address


def local(host: str) -> str | None:
    """What `host` is when it is the namespace's own loopback or the unspecified address,
    however spelt; None for anything else."""
    address = literal(host)
    if host == LOCALHOST or (address is not None and unwrap(address).is_loopback):
        return "loopback"
    if address is not None and unwrap(address).is_unspecified:
        return "unspecified"
    return None


def literal(host: str) -> Address | None:
    """The address `host` spells (brackets allowed), or None for a name."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def matches(pattern: str, host: str) -> bool:
    """Whether the (lower-case, normalised) `host` falls under a rule's host `pattern`."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    address = literal(host)
    if "/" in pattern:
        return address is not None and address in ipaddress.ip_network(pattern, strict=False)
    if address is not None:
        return literal(pattern) == address
    return pattern == host


def canonical(host: str) -> str:
    """Lower case without a trailing dot; an address in its canonical spelling."""
    host = host.strip().lower().rstrip(".")
    address = literal(host)
    return str(address) if address is not None else host


class Names:
    """The allow-list as the gate applies it, and the name ↔ address table."""

    def __init__(self, egress: Egress) -> None:
        self._egress = egress
        self._address: dict[str, str] = {}
        self._name: dict[str, str] = {}
        self._wildcards = 0
        exact = sorted(
            {
                h
                for r in egress.rules
                for h in r.hosts
                if not h.startswith("*.") and literal(h) is None and "/" not in h
            }
            - {LOCALHOST}
        )
        for index, name in enumerate(exact[:MAX_NAMES], start=1):
            if self.allowed(name):  # not denied, and some port is left once denies are out
                self._bind(name, str(ipaddress.IPv4Address(EXACT_BASE + index)))

    def _bind(self, name: str, address: str) -> None:
        self._address[name] = address
        self._name[address] = name

    def denied(self, host: str) -> bool:
        return any(matches(p, host) for p in self._egress.deny_hosts)

    def allowed(self, host: str) -> set[tuple[int, str]]:
        """Every (port, transport) a rule allows to `host`, explicit denies taken out."""
        host = canonical(host)
        if self.denied(host):
            return set()
        found = {
            (port, transport)
            for rule in self._egress.rules
            if any(matches(p, host) for p in rule.hosts)
            for port in rule.ports
            for transport in rule.transports
        }
        return {(p, t) for p, t in found if p not in self._egress.deny_ports}

    def allows(self, host: str, port: int, transport: str) -> bool:
        return (port, transport) in self.allowed(host)

    def address_of(self, name: str) -> tuple[str | None, bool]:
        """The loopback address DNS answers for `name` (None: refused), and whether the
        name was given one just now (its listeners must be started before answering)."""
        name = canonical(name)
        if name == LOCALHOST:
            return "127.0.0.1", False
        if name in self._address:
            return self._address[name], False
        if literal(name) is not None or not well_formed(name) or not self.allowed(name):
            return None, False
        if len(self._address) >= MAX_NAMES:
            return None, False
        self._wildcards += 1
        address = str(ipaddress.IPv4Address(WILDCARD_BASE + self._wildcards))
        self._bind(name, address)
        return address, True

    def name_at(self, address: str) -> str | None:
        return self._name.get(address)

    def bound(self) -> Iterable[tuple[str, str]]:
        """(name, address) of every name given an address so far."""
        return list(self._address.items())
