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
from collections.abc import Iterable

from .gate_config import Egress
from .hosts import LOCALHOST, HostKind, canonical, classify, is_name, literal, matches

EXACT_BASE = int(ipaddress.IPv4Address("127.1.0.0"))  # exact names: 127.1.0.1, 127.1.0.2, …
WILDCARD_BASE = int(ipaddress.IPv4Address("127.2.0.0"))  # wildcard names, on first lookup
# each name costs a listener per allowed port (descriptors, within the gate's nofile
# limit of 1024); beyond this many names, lookups are refused
MAX_NAMES = 256


class Names:
    """The allow-list as the gate applies it, and the name ↔ address table."""

    def __init__(self, egress: Egress) -> None:
        self._egress = egress
        self._address: dict[str, str] = {}
        self._name: dict[str, str] = {}
        self._wildcards = 0
        exact = sorted(
            {h for r in egress.rules for h in r.hosts if classify(h) is HostKind.NAME} - {LOCALHOST}
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
        """Every (port, protocol) a rule allows to `host`, explicit denies taken out."""
        host = canonical(host)
        if self.denied(host):
            return set()
        found = {
            (port, protocol)
            for rule in self._egress.rules
            if any(matches(p, host) for p in rule.hosts)
            for port in rule.ports
            for protocol in rule.protocols
        }
        return {(p, t) for p, t in found if p not in self._egress.deny_ports}

    def allows(self, host: str, port: int, protocol: str) -> bool:
        return (port, protocol) in self.allowed(host)

    def address_of(self, name: str) -> tuple[str | None, bool]:
        """The loopback address DNS answers for `name` (None: refused), and whether the
        name was given one just now (its listeners must be started before answering)."""
        name = canonical(name)
        if name == LOCALHOST:
            return "127.0.0.1", False
        if name in self._address:
            return self._address[name], False
        if literal(name) is not None or not is_name(name) or not self.allowed(name):
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
