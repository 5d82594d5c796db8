"""This host's own addresses (every interface's, bridges included): egress to them is
refused unless a rule names them, so a server cannot reach services on the host."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
import time

from .egress_policy import Address

SIOCGIFADDR = 0x8915
CACHE_SECONDS = 2.0
_cache: tuple[float, frozenset[Address]] = (0.0, frozenset())


def own_addresses() -> frozenset[Address]:
    """Read at most every `CACHE_SECONDS`, so a bridge created since is seen quickly."""
    global _cache
    now = time.monotonic()
    if now - _cache[0] > CACHE_SECONDS:
        _cache = (now, frozenset(_ipv4() | _local_routes() | _ipv6()))
    return _cache[1]


def _ipv4() -> set[Address]:
    found: set[Address] = {ipaddress.ip_address("127.0.0.1")}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            with contextlib.suppress(OSError):
                answer = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, request)
                found.add(ipaddress.ip_address(answer[20:24]))
    return found


def _ipv6() -> set[Address]:
    found: set[Address] = set()
    with contextlib.suppress(OSError), open("/proc/net/if_inet6", encoding="ascii") as table:
        for line in table:
            digits = line.split()[0]
            found.add(ipaddress.ip_address(bytes.fromhex(digits)))
    return found


def _local_routes() -> set[Address]:
    """Every local IPv4 address (secondary ones too) from the kernel's routing trie."""
    found: set[Address] = set()
    with contextlib.suppress(OSError), open("/proc/net/fib_trie", encoding="ascii") as trie:
        previous = ""
        for line in trie:
            if line.strip() == "/32 host LOCAL":
                with contextlib.suppress(ValueError, IndexError):
                    found.add(ipaddress.ip_address(previous.split()[-1]))
            previous = line
    return found
