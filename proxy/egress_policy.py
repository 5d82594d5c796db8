"""The host's egress decisions, sans I/O: which rule allows a request, and which of the
addresses a name resolved to may be dialled.

Checked again here because the gate runs next to the server and could be subverted:
explicit denies win; then some rule must allow the host, port and transport; then every
address is checked after resolution (so DNS rebinding cannot slip through). A loopback or
unspecified address is never dialled, whatever a rule says: in a rule, loopback is the
server's own. The host's own, link-local and metadata addresses are dialled only through
a rule that names them and whose `insecure` marker acknowledged that class; private,
shared, multicast and reserved ones only through a rule that names them. The classes are
the compiler's (`mcp_lok.policy.addresses`), so both judge an address alike.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_lok.policy.addresses import (
    ACKNOWLEDGEABLE,
    AddressClass,
    address_classes,
    embedded_ipv4,
    metadata_addresses,
    ordered,
)
from mcp_lok.policy.hosts import HostKind, classify

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# cloud metadata services (the compiler's list); most are link-local or private already
METADATA = metadata_addresses()
MAX_RULES_BYTES = 1024 * 1024
# IPv4-compatible IPv6 addresses (deprecated): never a destination, and where a `sit`
# tunnel is up, a way to the host's IPv4 loopback
_COMPATIBLE = ipaddress.ip_network("::/96")


class RulesError(ValueError):
    """The host's copy of the rules is unreadable or invalid."""


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    hosts: tuple[str, ...]
    ports: tuple[int, ...]
    transports: tuple[str, ...]
    # the address classes the rule's `insecure` marker acknowledged (the lowering's)
    acknowledged: frozenset[AddressClass] = frozenset()

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
                    # a rule written before classes were acknowledged acknowledges none
                    frozenset(AddressClass(str(a)) for a in r.get("acknowledged", ())),
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
    rules: Rules,
    port: int,
    transport: str,
    names_host: Callable[[str], bool],
    needs: frozenset[AddressClass] = frozenset(),
) -> Rule | None:
    """The first rule for `port` and `transport` with a host pattern `names_host` accepts,
    whose `insecure` marker acknowledged the classes in `needs`."""
    for rule in rules.rules:
        if (
            port in rule.ports
            and transport in rule.transports
            and needs <= rule.acknowledged
            and any(names_host(pattern) for pattern in rule.hosts)
        ):
            return rule
    return None


_REASONS = {
    AddressClass.METADATA: "a cloud metadata address",
    AddressClass.HOST: "one of this host's own addresses",
    AddressClass.LOOPBACK: "a loopback address",
    AddressClass.LINK_LOCAL: "a link-local address",
    AddressClass.UNSPECIFIED: "the unspecified address",
    AddressClass.PRIVATE: "a private or shared address",
}


def special(address: Address, own: frozenset[Address]) -> str | None:
    """Why `address` is refused unless a rule names it, or None for a public address."""
    embedded = embedded_ipv4(address)
    if embedded is not None:
        # an IPv6 spelling of an IPv4 address is judged as that address
        return special(embedded, own) or "an IPv6 address that embeds an IPv4 one"
    classes = address_classes(address, own)
    for kind in _REASONS:
        if kind in classes:
            return _REASONS[kind]
    if address.is_multicast or address.is_reserved:
        return "not a unicast address"
    if not address.is_global:
        return "not a public address"
    return None


def never_dialled(address: Address) -> str | None:
    """Why mcp-lok never dials `address`, whatever a rule says (None: it may)."""
    unwrapped = embedded_ipv4(address) or address
    if unwrapped.is_loopback:
        return "a loopback address"
    if unwrapped.is_unspecified:
        return "the unspecified address"
    if address in _COMPATIBLE:
        return "an IPv4-compatible address"
    return None


def vet(
    rules: Rules, port: int, transport: str, address: Address, own: frozenset[Address]
) -> str | None:
    """Why a resolved `address` may not be dialled (None: it may)."""
    # INVARIANT: a loopback or unspecified address, however spelt (IPv4-mapped, NAT64,
    # 6to4), is never dialled, whatever a rule says: in a rule, loopback means the server's
    # own (its namespace, shared with the gate), and on Linux the unspecified address
    # reaches the host's own loopback
    never = never_dialled(address)
    if never is not None:
        return f"{address} is {never}, which mcp-lok never dials: in a rule it is the server's own"
    reason = special(address, own)
    if reason is None:
        return None
    unwrapped = embedded_ipv4(address) or address
    # INVARIANT: the host's own, link-local and metadata addresses are dialled only through
    # a rule that names them and acknowledged their class with `insecure`; the host's own
    # addresses are those it has now, not when the policy was compiled
    needs = address_classes(unwrapped, own) & ACKNOWLEDGEABLE

    def named(pattern: str) -> bool:
        return covers(pattern, unwrapped)

    if _rule_for(rules, port, transport, named, needs):
        return None
    if needs and _rule_for(rules, port, transport, named):
        words = " and ".join(c.value for c in ordered(needs))
        return f"{address} is {reason}: no rule that names it acknowledged {words} (`insecure`)"
    return f"{address} is {reason} and no rule names it"
