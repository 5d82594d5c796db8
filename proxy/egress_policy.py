"""The host's egress decisions, sans I/O: which rule allows a request, and which of the
addresses a name resolved to may be dialled.

Checked again here because the gate runs next to the server and could be subverted:
explicit denies win; then some rule must allow the host, port and transport; then every
address is checked after resolution (so DNS rebinding cannot slip through): loopback,
link-local, private, shared, multicast, reserved and metadata addresses, and the host's
own addresses, are refused unless a rule for that port names the address or its network.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_lok.policy.hosts import HostKind, classify

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# cloud metadata services; most are link-local or private already, named for the log
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254",
                                      "100.100.100.200")
)  # fmt: skip
MAX_RULES_BYTES = 1024 * 1024


class RulesError(ValueError):
    """The host's copy of the rules is unreadable or invalid."""


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    hosts: tuple[str, ...]
    ports: tuple[int, ...]
    transports: tuple[str, ...]

    def text(self) -> str:
        return (
            f"rule {self.index + 1}: allow {', '.join(self.hosts)} port "
            f"{', '.join(map(str, self.ports))} over {', '.join(self.transports)}"
        )


@dataclass(frozen=True, slots=True)
class Rules:
    name: str
    socket: str
    gate_user: tuple[int, int]
    rules: tuple[Rule, ...]
    deny_hosts: tuple[str, ...]
    deny_ports: tuple[int, ...]


def load_rules(path: Path) -> Rules:
    try:
        data = path.read_bytes()[: MAX_RULES_BYTES + 1]
        raw: Any = json.loads(data)
        uid, _, gid = str(raw["gate_user"]).partition(":")
        return Rules(
            name=str(raw["name"]),
            socket=str(raw["socket"]),
            gate_user=(int(uid), int(gid or uid)),
            rules=tuple(
                Rule(
                    i,
                    tuple(str(h).lower() for h in r["hosts"]),
                    tuple(int(p) for p in r["ports"]),
                    tuple(str(t) for t in r["transports"]),
                )
                for i, r in enumerate(raw["rules"])
            ),
            deny_hosts=tuple(str(h).lower() for h in raw["deny_hosts"]),
            deny_ports=tuple(int(p) for p in raw["deny_ports"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RulesError(f"cannot use the egress rules `{path}`: {error}") from error


def literal(host: str) -> Address | None:
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def names(pattern: str, host: str) -> bool:
    """Whether a rule's host `pattern` covers the requested `host` (a name or a literal)."""
    kind = classify(pattern)
    address = literal(host)
    if kind is HostKind.WILDCARD:
        return address is None and host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    if kind is HostKind.NAME:
        return address is None and host == pattern
    if kind is HostKind.ADDRESS:
        return address is not None and address == literal(pattern)
    if kind is HostKind.NETWORK:
        return address is not None and address in ipaddress.ip_network(pattern)
    return False


def covers(pattern: str, address: Address) -> bool:
    """Whether a rule's `pattern` names `address` itself (an address or a network)."""
    kind = classify(pattern)
    if kind is HostKind.ADDRESS:
        return literal(pattern) == address
    if kind is HostKind.NETWORK:
        return address in ipaddress.ip_network(pattern)
    return False


def decide(rules: Rules, host: str, port: int, transport: str) -> Rule | str:
    """The rule that allows `host:port/transport`, or why none does."""
    if transport not in ("tcp", "udp"):
        return f"unknown transport `{transport}`"
    if not 1 <= port <= 65535:
        return f"port {port} is out of range"
    if literal(host) is None and classify(host) is not HostKind.NAME:
        # INVARIANT: only a well-formed name is matched and resolved (no `#`, spaces,
        # numeric spellings of addresses), so a wildcard cannot be tricked into a suffix
        return f"`{host[:80]}` is not a host name"
    for pattern in rules.deny_hosts:
        if names(pattern, host):
            return f"denied by `deny host {pattern}`"
    if port in rules.deny_ports:
        return f"denied by `deny port {port}`"
    allowing = _rule_for(rules, port, transport, lambda pattern: names(pattern, host))
    return allowing or f"no rule allows {host}:{port}/{transport}"


def _rule_for(
    rules: Rules, port: int, transport: str, names_host: Callable[[str], bool]
) -> Rule | None:
    """The first rule for `port` and `transport` with a host pattern `names_host` accepts."""
    for rule in rules.rules:
        if (
            port in rule.ports
            and transport in rule.transports
            and any(names_host(pattern) for pattern in rule.hosts)
        ):
            return rule
    return None


def special(address: Address, own: frozenset[Address]) -> str | None:
    """Why `address` is refused unless a rule names it, or None for a public address."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        # an IPv6 spelling of an IPv4 address is judged as that address
        return special(embedded, own) or "an IPv6 address that embeds an IPv4 one"
    if address in METADATA:
        return "a cloud metadata address"
    if address in own:
        return "one of this host's own addresses"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "not a unicast address"
    if not address.is_global:
        return "not a public address"
    return None


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def vet(
    rules: Rules, port: int, transport: str, address: Address, own: frozenset[Address]
) -> str | None:
    """Why a resolved `address` may not be dialled (None: it may)."""
    reason = special(address, own)
    if reason is None:
        return None
    unwrapped = _embedded_ipv4(address) or address
    if _rule_for(rules, port, transport, lambda pattern: covers(pattern, unwrapped)):
        return None
    return f"{address} is {reason} and no rule names it"
