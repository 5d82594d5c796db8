"""The proxy options of `run` and `start`: the bearer token (a given one is checked, by
default one is made, `--no-auth` opts out, the client snippet carries it) and `--restart`."""

from __future__ import annotations

import json

import pytest

from mcp_lok.launcher.commands import _snippet
from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.proxy_options import auth_token as _auth_token


def test_without_a_token_one_is_made_fresh_each_time() -> None:
    first, second, asked = _auth_token(None), _auth_token(None), _auth_token("generate")
    assert first is not None
    assert second is not None
    assert asked is not None
    assert len({first, second, asked}) == 3
    assert min(len(first), len(second), len(asked)) >= 40


def test_no_auth_is_the_only_way_to_no_token() -> None:
    assert _auth_token(None, no_auth=True) is None
    with pytest.raises(LokError, match="contradict") as error:
        _auth_token("s3cret-s3cret-s3cret", no_auth=True)
    assert error.value.hint


def test_a_given_token_is_used_as_is() -> None:
    assert _auth_token("s3cret-s3cret-s3cret") == "s3cret-s3cret-s3cret"


@pytest.mark.parametrize("bad", ["short", "has a space in it ok", "é" * 20, "tab\there-0123456789"])
def test_a_weak_or_unsendable_token_is_refused(bad: str) -> None:
    with pytest.raises(LokError) as error:
        _auth_token(bad)
    assert error.value.hint
    assert "random one" in error.value.hint


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
