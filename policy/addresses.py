"""Address classes: what the addresses and networks of egress rules reach, judged by the
addresses they cover, not by how they are spelt.

A host pattern that is an address or a network covers classes of addresses: loopback,
link-local (and the cloud metadata addresses, named as such), the unspecified address, the
host's own addresses, private and shared ranges; and the address rules of a policy
together may make a catch-all range, however it is split. IPv6 ranges that carry IPv4
addresses (IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are
judged by the IPv4 addresses they carry. Names cover nothing here: what a name resolves to
is judged on the host when it is dialled (`mcp_lok.proxy.egress_policy`, which takes its
classes and metadata addresses from this module, so both judge alike).

What a rule covers, and what the check pass says of it, are here; `check` asks for
`insecure`, `explain` names the classes in a plan. Pure.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Final, TypeAlias

from . import hosts, rules
from .diagnostics import Code, Collector
from .host import Host

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressClass(enum.Enum):
    """A class of addresses a rule may cover, in the order they are named (worst first)."""

    CATCH_ALL = "catch-all"
    HOST = "host"
    METADATA = "metadata"
    LINK_LOCAL = "link-local"
    LOOPBACK = "loopback"
    UNSPECIFIED = "unspecified"
    PRIVATE = "private"

    @property
    def words(self) -> str:
        return _WORDS[self]


_WORDS: Final = {
    AddressClass.CATCH_ALL: "a catch-all range",
    AddressClass.HOST: "the host's own addresses",
    AddressClass.METADATA: "cloud metadata addresses",
    AddressClass.LINK_LOCAL: "link-local addresses",
    AddressClass.LOOPBACK: "loopback addresses",
    AddressClass.UNSPECIFIED: "the unspecified address",
    AddressClass.PRIVATE: "private or shared addresses",
}
# a rule that covers any of these needs `insecure`; private ranges are notable, not insecure
DANGEROUS: Final = frozenset(AddressClass) - {AddressClass.PRIVATE}
# the classes mcp-lok on the host dials only through a rule whose `insecure` acknowledged
# them (loopback and the unspecified address it never dials)
ACKNOWLEDGEABLE: Final = frozenset(
    {AddressClass.HOST, AddressClass.METADATA, AddressClass.LINK_LOCAL}
)
# cloud metadata services; link-local, private or shared already, named as what they are
METADATA: Final = ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
# a catch-all: the address rules of a policy together cover more than a /8 of IPv4 or a
# /32 of IPv6, counting public addresses only (private, loopback and link-local ranges are
# judged by classes of their own: `allow 10.0.0.0/8` is a private network, not the world)
LIMITS: Final = {4: 2**24, 6: 2**96}

_LOOPBACK: Final = ("127.0.0.0/8", "::1/128")
_LINK_LOCAL: Final = ("169.254.0.0/16", "fe80::/10")
_PRIVATE: Final = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")


@functools.cache
def _networks(texts: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(text) for text in texts)


@functools.cache
def _metadata() -> frozenset[Address]:
    return frozenset(ipaddress.ip_address(text) for text in METADATA)


def metadata_addresses() -> frozenset[Address]:
    """The cloud metadata addresses, parsed."""
    return _metadata()


def network(pattern: str) -> Network | None:
    """A normalised host pattern as a network (an address is a network of one), or None
    for a name, a wildcard or a malformed pattern."""
    kind = hosts.classify(pattern)
    if kind is hosts.HostKind.NETWORK:
        return ipaddress.ip_network(pattern)
    address = hosts.literal(pattern) if kind is hosts.HostKind.ADDRESS else None
    return None if address is None else _single(address)


def _single(address: Address) -> Network:
    if address.version == 4:
        return ipaddress.IPv4Network(int(address))
    return ipaddress.IPv6Network(int(address))  # without a zone: a zone is not an address


def carried(net: ipaddress.IPv6Network) -> tuple[ipaddress.IPv4Network, ...]:
    """The IPv4 networks an IPv6 network carries, one for each carrier it overlaps."""
    found = []
    for carrier, shift in hosts.carriers():
        if not net.overlaps(carrier):
            continue
        if carrier.subnet_of(net):
            found.append(ipaddress.IPv4Network("0.0.0.0/0"))
            continue
        length = min(net.prefixlen, 128 - shift) - carrier.prefixlen
        base = (int(net.network_address) >> shift) & 0xFFFFFFFF
        found.append(ipaddress.IPv4Network((base, length), strict=False))
    return tuple(found)


def parts(net: Network) -> tuple[Network, ...]:
    """What a network is judged as: itself and the IPv4 networks it carries; an IPv6
    network inside one carrier is judged by the IPv4 addresses it carries alone."""
    if net.version == 4:
        return (net,)
    inside = carried(net)
    if any(net.subnet_of(carrier) for carrier, _ in hosts.carriers()):
        return inside
    return (net, *inside)


def _within(net: Network, texts: tuple[str, ...]) -> bool:
    return any(net.subnet_of(n) for n in _networks(texts) if n.version == net.version)  # type: ignore[arg-type]


def _overlaps(net: Network, texts: tuple[str, ...]) -> bool:
    return any(net.overlaps(n) for n in _networks(texts) if n.version == net.version)


def own_loopback(pattern: str) -> bool:
    """Whether a normalised pattern names only the server's own loopback: `localhost`, or
    addresses within 127.0.0.0/8 or `::1`, however spelt."""
    if pattern == "localhost":
        return True
    net = network(pattern)
    return net is not None and all(_within(part, _LOOPBACK) for part in parts(net))


def unspecified(pattern: str) -> bool:
    """Whether a normalised pattern is exactly the unspecified address (`0.0.0.0`, `::`),
    however spelt: never a destination (on Linux, dialling it reaches the host's loopback)."""
    net = network(pattern)
    return net is not None and all(
        part.num_addresses == 1 and int(part.network_address) == 0 for part in parts(net)
    )


def wide(net: Network) -> bool:
    """Whether a network alone is a catch-all (wider than `LIMITS`, by what it carries)."""
    return any(_public(part) > LIMITS[part.version] for part in parts(net))


def classes_of(net: Network, own: Iterable[Address]) -> frozenset[AddressClass]:
    """The classes a network covers, given the host's own addresses (a catch-all is a
    property of a policy's rules together: `reach` adds it)."""
    own = tuple(a for a in own if not (a.is_loopback or a.is_unspecified))
    found: set[AddressClass] = set()
    for part in parts(net):
        found |= _classes(part, own)
    return frozenset(found)


def address_classes(address: Address, own: Iterable[Address]) -> frozenset[AddressClass]:
    """The classes one address belongs to (an IPv6 address that carries an IPv4 one, by
    that IPv4 address)."""
    return classes_of(_single(address), own)


def _classes(part: Network, own: tuple[Address, ...]) -> set[AddressClass]:
    found = set()
    if _overlaps(part, _LOOPBACK):
        found.add(AddressClass.LOOPBACK)
    if int(part.network_address) == 0:
        found.add(AddressClass.UNSPECIFIED)
    if _overlaps(part, _LINK_LOCAL):
        found.add(AddressClass.LINK_LOCAL)
    if any(a in part for a in _metadata() if a.version == part.version):
        found.add(AddressClass.METADATA)
    if _overlaps(part, _PRIVATE):
        found.add(AddressClass.PRIVATE)
    if any(a in part for a in own if a.version == part.version):
        found.add(AddressClass.HOST)
    return found


def ordered(classes: Iterable[AddressClass]) -> tuple[AddressClass, ...]:
    """Classes in the order they are named."""
    chosen = set(classes)
    return tuple(c for c in AddressClass if c in chosen)


def in_words(classes: Iterable[AddressClass], *, together: bool = False) -> str:
    """The classes as a list in words: `a catch-all range, the host's own addresses and
    loopback addresses`. `together`: the catch-all is made with other rules."""
    words = [c.words for c in ordered(classes)]
    if together and AddressClass.CATCH_ALL in classes:
        words[0] = "a catch-all range (with the address rules before it)"
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


Reach: TypeAlias = tuple[frozenset[AddressClass], ...]  # per host pattern of one rule


def reach(ruleset: Sequence[rules.Rule], host: Host) -> dict[int, Reach]:
    """For each `allow` rule, by its index in `ruleset`, the classes each of its host
    patterns covers on `host`. A pattern is part of a catch-all when it alone is wider
    than `LIMITS`, or when it adds addresses to a union of the address rules in force
    (those since the last `network none`) that is, or with it becomes, wider. A pattern
    naming only the server's own loopback covers nothing (it grants nothing outside)."""
    found: dict[int, Reach] = {}
    union: dict[int, list[Network]] = {4: [], 6: []}
    own: tuple[Address, ...] | None = None
    for index, rule in enumerate(ruleset):
        if isinstance(rule, rules.NetworkNone):
            union = {4: [], 6: []}
        if not isinstance(rule, rules.Allow):
            continue
        covered = []
        for item in rule.hosts:
            pattern = hosts.normalise(item.value)
            net = network(pattern)
            if net is None or own_loopback(pattern):
                covered.append(frozenset[AddressClass]())
                continue
            if own is None:  # asked once, and only when a rule names an address
                own = _parse_own(host.own_addresses())
            classes = classes_of(net, own)
            if _widens(union, parts(net)):
                classes |= {AddressClass.CATCH_ALL}
            covered.append(classes)
        found[index] = tuple(covered)
    return found


def _widens(union: dict[int, list[Network]], added: Sequence[Network]) -> bool:
    """Add `added` to `union`; whether it makes or widens a catch-all."""
    widens = False
    for net in added:
        family, limit = union[net.version], LIMITS[net.version]
        before = _size(family)
        # one family at a time: `union[4]` holds IPv4 networks only, `union[6]` IPv6 ones
        family[:] = ipaddress.collapse_addresses([*family, net])  # type: ignore[type-var]
        after = _size(family)
        widens |= _public(net) > limit or (after > limit and after > before)
    return widens


def _size(networks: Iterable[Network]) -> int:
    return sum(_public(n) for n in networks)


def _public(net: Network) -> int:
    """How many addresses of `net` are outside the private, loopback and link-local ranges
    (which are disjoint, and like any two networks either nest or do not meet)."""
    size = net.num_addresses
    for other in _not_public(net.version):
        if net.overlaps(other):
            size -= min(net.num_addresses, other.num_addresses)
    return size


@functools.cache
def _not_public(version: int) -> tuple[Network, ...]:
    ranges = (*_PRIVATE, *_LOOPBACK, *_LINK_LOCAL)
    found = (ipaddress.ip_network(r) for r in ranges)
    return tuple(n for n in found if n.version == version)


# --- what the check pass says of an address rule ------------------------------------------


def danger(rule: rules.Allow, covered: Reach) -> str:
    """Each pattern of `rule` that covers a class of addresses that needs `insecure`, with
    the classes it covers (`0.0.0.0/0`, which covers a catch-all range, …); "" for none."""
    found = []
    for item, classes in zip(rule.hosts, covered, strict=True):
        pattern = hosts.normalise(item.value)
        # the unspecified address alone is an error of its own: `insecure` cannot allow it
        if not classes & DANGEROUS or unspecified(pattern):
            continue
        net = network(pattern)
        together = net is not None and not wide(net)
        found.append(
            f"`{item.value}`, which covers {in_words(classes & DANGEROUS, together=together)}"
        )
    return "; ".join(found)


def check_destination(item: rules.Item, out: Collector) -> None:
    """The one meaning of loopback in a rule: the server's own (a warning: it grants nothing
    outside); the unspecified address is never a destination (an error)."""
    pattern = hosts.normalise(item.value)
    if own_loopback(pattern):
        out.warn(
            Code.HOST_OWN_LOOPBACK,
            f"`{item.value}` is the server's own loopback, which it always reaches: "
            "this grants nothing outside",
            item.origin,
            help="mcp-lok never dials the host's loopback; to reach a service on the host, "
            "name one of the host's own addresses, marked `insecure`",
        )
    elif unspecified(pattern):
        out.error(
            Code.HOST_UNSPECIFIED,
            f"`{item.value}` is the unspecified address, which is never a destination",
            item.origin,
            help="on Linux, dialling it reaches the dialler's own loopback; "
            "name the address of the service instead",
        )


def _parse_own(texts: Iterable[str]) -> tuple[Address, ...]:
    found = []
    for text in sorted(texts):
        try:
            found.append(ipaddress.ip_address(text))
        except ValueError:
            continue  # not an address: nothing of the host's can be in it
    return tuple(found)


__all__ = [
    "ACKNOWLEDGEABLE",
    "DANGEROUS",
    "LIMITS",
    "METADATA",
    "AddressClass",
    "Reach",
    "address_classes",
    "carried",
    "check_destination",
    "classes_of",
    "danger",
    "in_words",
    "metadata_addresses",
    "network",
    "ordered",
    "own_loopback",
    "parts",
    "reach",
    "unspecified",
    "wide",
]
