"""Host patterns in egress rules: exact names, `*.suffix` wildcards, IPv4/IPv6 literals
and CIDRs. One function to classify a pattern; anything else is malformed.

`ipaddress` is imported only where a pattern could be an address or a network: most
policies name hosts only, and importing it costs every cold `mcp-lok policy compile` about
a millisecond (tests/unit/policy/test_cold_imports.py checks that it stays unloaded)."""

from __future__ import annotations

import enum
import re

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# what a resolver (`inet_aton`) reads as an IPv4 address: one to four parts, each decimal,
# octal or hex (`2130706433`, `0x7f.1`, `0x7f000001`); never a name
_NUMERIC = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}")
# only text that could be an address literal is handed to `ipaddress` (a fast path:
# its failures are exceptions, and most patterns are names)
_MAYBE_ADDRESS = re.compile(r"\[?[0-9.]+\]?|\[?[0-9a-fA-F:.%]*:[0-9a-zA-Z:.%]*\]?")


class HostKind(enum.Enum):
    NAME = "name"
    WILDCARD = "wildcard"
    ADDRESS = "address"
    NETWORK = "network"


def classify(pattern: str) -> HostKind | None:
    """The kind of a (lower-cased) host pattern, or None when it is malformed."""
    if "/" in pattern:
        import ipaddress  # see the module docstring

        try:
            ipaddress.ip_network(pattern, strict=True)
        except ValueError:
            return None
        return HostKind.NETWORK
    if _MAYBE_ADDRESS.fullmatch(pattern):
        import ipaddress  # see the module docstring

        try:
            ipaddress.ip_address(_unbracket(pattern))
        except ValueError:
            pass
        else:
            return HostKind.ADDRESS
    if pattern.startswith("*."):
        suffix = pattern[2:]
        # `*.com` would allow a whole top-level domain: a suffix needs two labels.
        return HostKind.WILDCARD if suffix.count(".") >= 1 and _is_name(suffix) else None
    return HostKind.NAME if _is_name(pattern) else None


def _is_name(name: str) -> bool:
    labels = name.split(".")
    if len(name) > 253 or labels[-1].isdigit() or _NUMERIC.fullmatch(name):
        return False
    return all(_LABEL.fullmatch(label) for label in labels)


def _unbracket(pattern: str) -> str:
    """An address literal without its `[…]`; only a matched pair is removed, so that
    `classify` and `normalise` agree on what the address is."""
    return pattern[1:-1] if pattern.startswith("[") and pattern.endswith("]") else pattern


def normalise(pattern: str) -> str:
    """Lower case, and IPv6 literals without brackets, in canonical form."""
    text = pattern.lower()
    kind = classify(text)
    if kind is HostKind.ADDRESS:
        import ipaddress  # see the module docstring; `classify` has loaded it

        return str(ipaddress.ip_address(_unbracket(text)))
    if kind is HostKind.NETWORK:
        import ipaddress  # as above

        return str(ipaddress.ip_network(text))
    return text
