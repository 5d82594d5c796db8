"""This host's own addresses, as the egress check sees them."""

from __future__ import annotations

import ipaddress
import socket

from mcp_lok.proxy import hostaddr


def test_the_host_addresses_include_loopback_and_every_interface_address() -> None:
    found = hostaddr.own_addresses()
    assert ipaddress.ip_address("127.0.0.1") in found
    # an address this host can bind is one of its own
    for address in found:
        if address.version == 4 and not address.is_loopback:
            with socket.socket() as probe:
                probe.bind((str(address), 0))
    assert hostaddr.own_addresses() is found  # cached between calls


def test_the_routing_trie_is_read_for_local_addresses() -> None:
    assert ipaddress.ip_address("127.0.0.1") in hostaddr._local_routes()
