"""What a malformed host pattern or path was most likely meant to be, in words: the message
and help of the check pass's spelling errors, each saying which part to move where.

Whether a pattern is well formed is `hosts.classify`'s judgement (shared with the gate);
this module only explains a refusal, and never accepts what `hosts` refuses.
"""

from __future__ import annotations

import ipaddress
import re

from . import hosts

# a URL's parts around a host: `https://api.example.com:8443/v1`, `[2001:db8::1]:443`
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?"
    r"(?P<host>\[[^\]/]*\]|[^/:\[\]]*)"
    r"(?::(?P<port>[0-9]+))?"
    r"(?P<path>/.*)?"
)
_GENERIC = "write e.g. `api.example.com`, `*.example.com`, `10.0.0.5` or `10.0.0.0/8`"


def host(value: str, port: str) -> tuple[str, str]:
    """The message and help for the malformed host pattern `value`; `port` says what to
    do with a port written in it, `{port}` standing for the port (such as "the port
    `{port}` goes in `allow_port`")."""
    pattern = value.lower()
    if pattern.startswith("*.") and hosts.is_name(pattern[2:]) and "." not in pattern[2:]:
        return (
            f"`{value}` would allow every host in the top-level domain `{pattern[2:]}`",
            "a wildcard needs a domain below the top level, such as `*.example.com`: "
            "list the domains the server needs",
        )
    if (network := _loose_network(pattern)) is not None:
        address = pattern.partition("/")[0]
        return (
            f"`{value}` is not a network: it has bits set past its prefix",
            f"write the network `{network}`, or the address `{address}` alone",
        )
    found = _URL.fullmatch(value)
    if found and (found["scheme"] or found["port"]) and _well_formed(found["host"]):
        return _url(value, found, port)
    return f"`{value}` is not a host name, `*.suffix`, IP address or CIDR", _GENERIC


def _url(value: str, found: re.Match[str], port: str) -> tuple[str, str]:
    bare = found["host"]
    moves = []
    if found["scheme"]:
        moves.append(f"drop the scheme `{found['scheme']}`")
    if found["path"]:
        moves.append(f"drop the path `{found['path']}`")
    if found["port"]:
        moves.append(port.format(port=found["port"]))
    what = "a URL" if found["scheme"] else "a host with a port"
    return (
        f"`{value}` is {what}, not a host pattern",
        f"write the host alone, `{bare}`: {'; '.join(moves)}",
    )


def _loose_network(pattern: str) -> str | None:
    """The network that a CIDR with host bits set (`10.0.0.1/8`) lies in, or None."""
    if "/" not in pattern:
        return None
    try:
        return str(ipaddress.ip_network(pattern, strict=False))
    except ValueError:
        return None


def _well_formed(pattern: str) -> bool:
    return hosts.classify(pattern.lower()) is not None


def relative_path(path: str) -> str:
    """The help for a relative `path`."""
    if path.startswith("~"):
        return "`~` is not expanded: write the absolute path it stands for"
    return f"write it from the root, e.g. `/{path.lstrip('./')}`"


__all__ = ["host", "relative_path"]
