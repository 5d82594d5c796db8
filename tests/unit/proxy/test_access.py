"""Who may talk to the proxy: `Host` names this proxy, `Origin` is its own or configured,
and the bearer token when there is one."""

from __future__ import annotations

import pytest

from mcp_lok.proxy.access import Access

ACCESS = Access.bound("127.0.0.1", 8123, ("https://app.example.com/",), token=None)


@pytest.mark.parametrize("host", ["127.0.0.1:8123", "localhost:8123", "LOCALHOST:8123"])
def test_the_proxys_own_host_is_allowed(host: str) -> None:
    assert ACCESS.host_ok(host)


@pytest.mark.parametrize(
    "host", [None, "", "127.0.0.1", "localhost:80", "evil.example:8123", "127.0.0.1:8124"]
)
def test_any_other_host_is_refused(host: str | None) -> None:
    assert not ACCESS.host_ok(host)


def test_a_non_loopback_binding_adds_its_own_address() -> None:
    assert Access.bound("10.0.0.5", 9000).host_ok("10.0.0.5:9000")
    assert Access.bound("::1", 9000).host_ok("[::1]:9000")


@pytest.mark.parametrize(
    "origin",
    [None, "http://127.0.0.1:8123", "http://localhost:8123", "https://app.example.com"],
)
def test_no_origin_or_an_allowed_one_passes(origin: str | None) -> None:
    assert ACCESS.origin_ok(origin)


@pytest.mark.parametrize(
    "origin", ["null", "http://evil.example", "http://localhost:9999", "https://localhost:8123"]
)
def test_other_origins_are_refused(origin: str) -> None:
    assert not ACCESS.origin_ok(origin)


def test_the_token_is_required_when_set() -> None:
    access = Access.bound("127.0.0.1", 1, token="s3cret")
    assert access.token_ok("Bearer s3cret")
    assert access.token_ok("bearer s3cret")
    assert not access.token_ok(None)
    assert not access.token_ok("Bearer wrong")
    assert not access.token_ok("Basic s3cret")
    assert ACCESS.token_ok(None)
