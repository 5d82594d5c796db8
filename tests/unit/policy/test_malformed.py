"""The words for a malformed host or path: which part to move where, and why a pattern is
refused, never advice that `hosts` would refuse in turn."""

from __future__ import annotations

import pytest

from mcp_lok.policy import hosts, malformed

PORT = "the port `{port}` goes in `allow_port`"
GENERIC = "write e.g. `api.example.com`, `*.example.com`, `10.0.0.5` or `10.0.0.0/8`"


@pytest.mark.parametrize(
    ("value", "message", "help"),
    [
        (
            "https://api.example.com",
            "`https://api.example.com` is a URL, not a host pattern",
            "write the host alone, `api.example.com`: drop the scheme `https://`",
        ),
        (
            "api.example.com:443",
            "`api.example.com:443` is a host with a port, not a host pattern",
            "write the host alone, `api.example.com`: the port `443` goes in `allow_port`",
        ),
        (
            "HTTP://Api.example.com:8080/v1/",
            "`HTTP://Api.example.com:8080/v1/` is a URL, not a host pattern",
            "write the host alone, `Api.example.com`: drop the scheme `HTTP://`; drop the "
            "path `/v1/`; the port `8080` goes in `allow_port`",
        ),
        (
            "[2001:db8::1]:443",
            "`[2001:db8::1]:443` is a host with a port, not a host pattern",
            "write the host alone, `[2001:db8::1]`: the port `443` goes in `allow_port`",
        ),
        (
            "*.com",
            "`*.com` would allow every host in the top-level domain `com`",
            "a wildcard needs a domain below the top level, such as `*.example.com`: list "
            "the domains the server needs",
        ),
        (
            "10.0.0.1/8",
            "`10.0.0.1/8` is not a network: it has bits set past its prefix",
            "write the network `10.0.0.0/8`, or the address `10.0.0.1` alone",
        ),
    ],
)
def test_what_was_meant_is_said_part_by_part(value: str, message: str, help: str) -> None:
    assert malformed.host(value, PORT) == (message, help)
    # the advice is a pattern `hosts` accepts
    if "`*." not in help:
        written = help.split("`")[1]
        assert hosts.classify(written.lower()) is not None


@pytest.mark.parametrize(
    "value",
    [
        "api example.com",
        "https://bad host:443",  # what is left is no host either
        "https://*.com",
        "api.example.com:",  # no port to move
        "api.example.com/v1",  # without a scheme, a path reads as a bad CIDR
        "*",
        "*.*.example.com",
        "ftp://",
        "10.0.0.0/33",
    ],
)
def test_anything_else_gets_the_general_advice(value: str) -> None:
    message, help = malformed.host(value, PORT)
    assert message == f"`{value}` is not a host name, `*.suffix`, IP address or CIDR"
    assert help == GENERIC


@pytest.mark.parametrize(
    ("path", "help"),
    [
        ("~/x", "`~` is not expanded: write the absolute path it stands for"),
        ("~", "`~` is not expanded: write the absolute path it stands for"),
        ("~alice/x", "`~` is not expanded: write the absolute path it stands for"),
        ("srv/data", "write it from the root, e.g. `/srv/data`"),
        ("./data", "write it from the root, e.g. `/data`"),
    ],
)
def test_a_relative_path(path: str, help: str) -> None:
    assert malformed.relative_path(path) == help
