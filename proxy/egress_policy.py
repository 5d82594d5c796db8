"""The host's egress decisions, sans I/O: which rule allows a request, and which of the
addresses a name resolved to may be dialled.

Checked again here because the gate runs next to the server and could be subverted:
explicit denies win; then some rule must allow the host, port and protocol; then every
address is checked after resolution (so DNS rebinding cannot slip through). A loopback or
unspecified address is never dialled, whatever a rule says: in a rule, loopback is the
server's own. The host's own, link-local and metadata addresses are dialled only through
a rule that names them and whose `insecure` marker acknowledged that class; private,
shared, multicast and reserved ones only through a rule that names them. The classes are
the compiler's (`mcp_lok.policy.addresses`), and host patterns are matched by the code the
gate and the compiler use (`mcp_lok.policy.hosts`), so all three judge alike. The rules
are read from the host's own copy, in the schema lowering wrote it (`HostRules`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mcp_lok.policy.addresses import (
    ACKNOWLEDGEABLE,
    AddressClass,
    address_classes,
    metadata_addresses,
    ordered,
)
from mcp_lok.policy.gate_config import MAX_BYTES, PROTOCOLS, HostRule, HostRules
from mcp_lok.policy.hosts import (
    covers,
    embedded_ipv4,
    is_name,
    literal,
    matches,
    never_dialled,
)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# cloud metadata services (the compiler's list); most are link-local or private already
METADATA = metadata_addresses()


class RulesError(ValueError):
    """The host's copy of the rules is unreadable or invalid."""


@dataclass(frozen=True, slots=True)
class Allowed:
    """The rule that allowed a request: the `index`th of the file's."""

    index: int
    rule: HostRule

    def text(self) -> str:
        rule = self.rule
        return (
            f"rule {self.index + 1}: allow {', '.join(rule.hosts)} port "
            f"{', '.join(map(str, rule.ports))} over {', '.join(rule.protocols)}"
        )


def load_rules(path: Path) -> HostRules:
    """The host's copy of the egress rules (`Layout.egress_rules`, `HostRules`)."""
    try:
        with path.open("rb") as file:
            rules = HostRules.from_json(file.read(MAX_BYTES + 1))
        for rule in rules.rules:
            for name in rule.acknowledged:
                AddressClass(name)  # a class this mcp-lok knows, or a ValueError
    except (OSError, ValueError) as error:  # a `ConfigError` is a ValueError
        raise RulesError(f"cannot use the egress rules `{path}`: {error}") from error
    return rules


def decide(rules: HostRules, host: str, port: int, protocol: str) -> Allowed | str:
    """The rule that allows `host:port/protocol`, or why none does."""
    if protocol not in PROTOCOLS:
        return f"unknown protocol `{protocol}`"
    if not 1 <= port <= 65535:
        return f"port {port} is out of range"
    if literal(host) is None and not is_name(host):
        # INVARIANT: only a well-formed name is matched and resolved (no `#`, spaces,
        # numeric spellings of addresses), so a wildcard cannot be tricked into a suffix
        return f"`{host[:80]}` is not a host name"
    for pattern in rules.deny_hosts:
        if matches(pattern, host):
            return f"denied by `deny host {pattern}`"
    if port in rules.deny_ports:
        return f"denied by `deny port {port}`"
    allowing = _rule_for(rules, port, protocol, lambda pattern: matches(pattern, host))
    return allowing or f"no rule allows {host}:{port}/{protocol}"


def _rule_for(
    rules: HostRules,
    port: int,
    protocol: str,
    names_host: Callable[[str], bool],
    needs: frozenset[AddressClass] = frozenset(),
) -> Allowed | None:
    """The first rule for `port` and `protocol` with a host pattern `names_host` accepts,
    whose `insecure` marker acknowledged the classes in `needs`."""
    for index, rule in enumerate(rules.rules):
        if (
            port in rule.ports
            and protocol in rule.protocols
            and {c.value for c in needs} <= set(rule.acknowledged)
            and any(names_host(pattern) for pattern in rule.hosts)
        ):
            return Allowed(index, rule)
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


def vet(
    rules: HostRules, port: int, protocol: str, address: Address, own: frozenset[Address]
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

    if _rule_for(rules, port, protocol, named, needs):
        return None
    if needs and _rule_for(rules, port, protocol, named):
        words = " and ".join(c.value for c in ordered(needs))
        return f"{address} is {reason}: no rule that names it acknowledged {words} (`insecure`)"
    return f"{address} is {reason} and no rule names it"
