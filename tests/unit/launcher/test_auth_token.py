"""`--auth-token`: a given token is checked, `generate` makes one, and the client snippet
carries it."""

from __future__ import annotations

import json

import pytest

from mcp_lok.launcher.commands import _auth_token, _snippet
from mcp_lok.launcher.errors import LokError


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
