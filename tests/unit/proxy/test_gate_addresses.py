"""The gate never relays a loopback or unspecified destination, however spelt, nor a host
that is neither a name nor an address: it judges with the compiler's own code
(`policy/hosts.py`, shared: tests/unit/proxy/test_gate_shared.py), as the host does."""

from __future__ import annotations

import ipaddress
import json

import pytest

from mcp_lok.policy import addresses, hosts
from mcp_lok.proxy import egress_policy
from mcp_lok.proxy.gate import GateConfig
from mcp_lok.proxy.gate.httpproxy import HttpProxy, parse_head
from mcp_lok.proxy.gate.splice import Connections

SPELLINGS = [
    "127.0.0.1", "127.1.2.3", "::1", "0.0.0.0", "::", "::ffff:127.0.0.1", "::ffff:0.0.0.0",
    "64:ff9b::7f00:1", "2002:7f00:1::", "2002:7f00:1:2::3", "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::", "169.254.169.254", "8.8.8.8", "2606:4700::1",
    "::ffff:8.8.8.8", "64:ff9b::", "2002::",
]  # fmt: skip


def proxy() -> HttpProxy:
    egress = {
        "socket": "/s",
        "dns": "127.0.0.53",
        "proxy": "127.0.0.1:3128",
        "rules": [{"hosts": ["0.0.0.0/0", "::/0"], "ports": [80], "protocols": ["tcp"]}],
        "deny_hosts": [],
        "deny_ports": [],
    }
    config = GateConfig.from_json(
        json.dumps({"version": 2, "name": "t", "ingress": None, "egress": egress})
    )
    assert config.egress is not None
    return HttpProxy(config.egress, Connections())


@pytest.mark.parametrize("address", SPELLINGS)
def test_the_gate_refuses_what_the_host_never_dials(address: str) -> None:
    parsed = ipaddress.ip_address(address)
    host = f"[{parsed}]" if parsed.version == 6 else str(parsed)
    refused = proxy()._refusal(hosts.canonical(host), 80)
    assert (refused is not None) == (hosts.never_dialled(parsed) is not None)


@pytest.mark.parametrize(
    ("head", "refusal"),
    [
        (b"CONNECT 127.0.0.1:22 HTTP/1.1", "own loopback"),
        (b"CONNECT [::1]:22 HTTP/1.1", "own loopback"),
        (b"CONNECT [::ffff:127.0.0.1]:22 HTTP/1.1", "own loopback"),
        (b"CONNECT [64:ff9b::7f00:1]:22 HTTP/1.1", "own loopback"),
        (b"CONNECT [2002:7f00:1::]:22 HTTP/1.1", "own loopback"),
        (b"CONNECT localhost:22 HTTP/1.1", "own loopback"),
        (b"CONNECT LocalHost.:22 HTTP/1.1", "own loopback"),
        (b"CONNECT 0.0.0.0:22 HTTP/1.1", "unspecified"),
        (b"CONNECT [::]:22 HTTP/1.1", "unspecified"),
        (b"CONNECT [::ffff:0.0.0.0]:22 HTTP/1.1", "unspecified"),
        (b"CONNECT 0:22 HTTP/1.1", "`0` is not a host name"),
        (b"CONNECT 2130706433:22 HTTP/1.1", "`2130706433` is not a host name"),
        (b"CONNECT 0x7f.1:22 HTTP/1.1", "`0x7f.1` is not a host name"),
        (b"CONNECT 0177.0.0.1:22 HTTP/1.1", "`0177.0.0.1` is not a host name"),
        (b"CONNECT 127.1:22 HTTP/1.1", "`127.1` is not a host name"),
        (b"GET http://0x7f000001/ HTTP/1.1", "`0x7f000001` is not a host name"),
        (b"GET http://[::ffff:7f00:1]:8080/ HTTP/1.1", "own loopback"),
        (b"GET http://127.0.0.1:8080/ HTTP/1.1", "own loopback"),
        (b"GET http://0.0.0.0/ HTTP/1.1", "unspecified"),
    ],
)
def test_the_gate_never_relays_loopback_or_the_unspecified_address(
    head: bytes, refusal: str
) -> None:
    host, port, _, _ = parse_head(head + b"\r\n\r\n")
    found = proxy()._refusal(host, port)
    assert found is not None
    assert refusal in found


@pytest.mark.parametrize(
    "head",
    [b"CONNECT api.example.com:443 HTTP/1.1", b"CONNECT 8.8.8.8:80 HTTP/1.1",
     b"CONNECT [2606:4700::1]:80 HTTP/1.1", b"GET http://a.localhost.example/ HTTP/1.1"],
)  # fmt: skip
def test_other_destinations_go_to_the_host_which_decides(head: bytes) -> None:
    host, port, _, _ = parse_head(head + b"\r\n\r\n")
    assert proxy()._refusal(host, port) is None


def test_the_host_judges_metadata_addresses_by_the_compiler_s_list() -> None:
    assert egress_policy.METADATA is addresses.metadata_addresses()  # one list, not a copy
    assert {str(a) for a in egress_policy.METADATA} == set(addresses.METADATA)
