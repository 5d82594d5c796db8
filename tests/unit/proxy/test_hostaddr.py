"""This host's own addresses, as the egress check sees them."""

from __future__ import annotations

import errno
import ipaddress
import socket

import pytest

from mcp_lok.proxy import hostaddr


def test_the_host_addresses_include_loopback_and_every_interface_address() -> None:
    found = hostaddr.own_addresses()
    assert ipaddress.ip_address("127.0.0.1") in found
    # an address this host can bind is one of its own (unless its interface went away in
    # between: container networks come and go while the tests run)
    for address in found:
        if address.version == 4 and not address.is_loopback:
            with socket.socket() as probe:
                try:
                    probe.bind((str(address), 0))
                except OSError as error:
                    gone = address not in hostaddr._ipv4() | hostaddr._local_routes()
                    assert (error.errno, gone) == (errno.EADDRNOTAVAIL, True)  # noqa: PT017 - judged with what is read after


def test_the_addresses_are_read_again_only_after_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(hostaddr.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(hostaddr, "_cache", (0.0, frozenset()))
    found = hostaddr.own_addresses()
    now[0] += hostaddr.CACHE_SECONDS / 2
    assert hostaddr.own_addresses() is found  # cached between calls
    now[0] += hostaddr.CACHE_SECONDS
    assert hostaddr.own_addresses() is not found


def test_the_routing_trie_is_read_for_local_addresses() -> None:
    assert ipaddress.ip_address("127.0.0.1") in hostaddr._local_routes()
