"""The proxy options of `run` and `start`: `--auth-token` (a given token is checked,
`generate` makes one, the client snippet carries it) and `--restart`."""

from __future__ import annotations

import json

import pytest

from mcp_lok.launcher.commands import _snippet
from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.proxy_options import auth_token as _auth_token


def test_no_token_means_no_auth() -> None:
    assert _auth_token(None) == (None, False)


def test_generate_makes_a_fresh_long_token_each_time() -> None:
    first, made = _auth_token("generate")
    second, _ = _auth_token("generate")
    assert made
    assert first
    assert second
    assert first != second
    assert len(first) >= 40


def test_a_given_token_is_used_as_is() -> None:
    assert _auth_token("s3cret-s3cret-s3cret") == ("s3cret-s3cret-s3cret", False)


@pytest.mark.parametrize("bad", ["short", "has a space in it ok", "é" * 20, "tab\there-0123456789"])
def test_a_weak_or_unsendable_token_is_refused(bad: str) -> None:
    with pytest.raises(LokError) as error:
        _auth_token(bad)
    assert error.value.hint
    assert "generate" in error.value.hint


def test_the_snippet_carries_the_bearer_header() -> None:
    urls: dict[str, str | None] = {"url": "http://127.0.0.1:1/mcp", "sse_url": None}
    entry = json.loads(_snippet("x", urls, "stdio", "t" * 20))["mcpServers"]["x"]
    assert entry == {
        "type": "http",
        "url": "http://127.0.0.1:1/mcp",
        "headers": {"Authorization": f"Bearer {'t' * 20}"},
    }
    assert "headers" not in json.loads(_snippet("x", urls, "stdio"))["mcpServers"]["x"]


@pytest.mark.parametrize(
    ("value", "restarts"),
    [("no", 0), ("on-failure", 5), ("on-failure:1", 1), ("on-failure:100", 100)],
)
def test_restart_policies(value: str, restarts: int) -> None:
    from mcp_lok.launcher.respawn import parse_restart

    assert parse_restart(value) == restarts


@pytest.mark.parametrize(
    "value",
    ["always", "on-failure:0", "on-failure:-1", "on-failure:x", "on-failure:101", "on-failure:²"],
)
def test_unknown_restart_policies_are_refused_with_a_hint(value: str) -> None:
    from mcp_lok.launcher.respawn import parse_restart

    with pytest.raises(LokError) as error:
        parse_restart(value)
    assert error.value.hint
    assert "on-failure:N" in error.value.hint
