"""The proxy options of a launch: the bearer token (a given one is checked, by default one
is made, no auth opts out, the client snippet carries it), `--restart` and the session
mode; all judged by the request itself (`LaunchRequest.problems`)."""

from __future__ import annotations

import json

import pytest

from mcp_lok.launcher import launch
from mcp_lok.launcher.cli.launch import snippet
from mcp_lok.launcher.request import LaunchRequest

IMAGE = "mcp-lok/mcp-server-time"


def token(**fields: object) -> str | None:
    return launch._token(LaunchRequest(IMAGE, **fields))  # type: ignore[arg-type]


def problems(**fields: object) -> list[tuple[str, str, str | None]]:
    found = LaunchRequest(IMAGE, **fields).problems()  # type: ignore[arg-type]
    return [(p.field, p.message, p.hint) for p in found]


def test_without_a_token_one_is_made_fresh_each_time() -> None:
    first, second, asked = token(), token(), token(auth_token="generate")
    assert first is not None
    assert second is not None
    assert asked is not None
    assert len({first, second, asked}) == 3
    assert min(len(first), len(second), len(asked)) >= 40


def test_no_auth_is_the_only_way_to_no_token() -> None:
    assert token(no_auth=True) is None
    assert problems(no_auth=True) == []
    ((field, message, hint),) = problems(no_auth=True, auth_token="s3cret-s3cret-s3cret")
    assert field == "no_auth"
    assert "contradicts" in message
    assert hint


def test_a_given_token_is_used_as_is() -> None:
    assert token(auth_token="s3cret-s3cret-s3cret") == "s3cret-s3cret-s3cret"
    assert problems(auth_token="s3cret-s3cret-s3cret") == []


@pytest.mark.parametrize("bad", ["short", "has a space in it ok", "é" * 20, "tab\there-0123456789"])
def test_a_weak_or_unsendable_token_is_refused(bad: str) -> None:
    ((field, _, hint),) = problems(auth_token=bad)
    assert field == "auth_token"
    assert hint is not None
    assert "random one" in hint


def test_the_snippet_carries_the_bearer_header() -> None:
    urls: dict[str, str | None] = {"url": "http://127.0.0.1:1/mcp", "sse_url": None}
    entry = json.loads(snippet("x", urls, "stdio", "t" * 20))["mcpServers"]["x"]
    assert entry == {
        "type": "http",
        "url": "http://127.0.0.1:1/mcp",
        "headers": {"Authorization": f"Bearer {'t' * 20}"},
    }
    assert "headers" not in json.loads(snippet("x", urls, "stdio", None))["mcpServers"]["x"]


@pytest.mark.parametrize(
    ("value", "restarts"),
    [("no", 0), ("on-failure", 5), ("on-failure:1", 1), ("on-failure:100", 100)],
)
def test_restart_policies(value: str, restarts: int) -> None:
    assert LaunchRequest(IMAGE, restart=value).restarts == restarts
    assert problems(restart=value) == []


@pytest.mark.parametrize(
    "value",
    ["always", "on-failure:0", "on-failure:-1", "on-failure:x", "on-failure:101", "on-failure:²"],
)
def test_unknown_restart_policies_are_refused_with_a_hint(value: str) -> None:
    ((field, message, hint),) = problems(restart=value)
    assert field == "restart"
    assert message == f"unknown restart policy `{value}`"
    assert hint is not None
    assert "on-failure:N" in hint
    assert LaunchRequest(IMAGE, restart=value).restarts == 0


def test_a_server_per_session_is_for_stdio_servers_only() -> None:
    assert problems(session_mode="per-session") == []
    ((field, _, hint),) = problems(session_mode="per-session", transport="sse")
    assert field == "session_mode"
    assert hint
    ((field, message, _),) = problems(session_mode="each")
    assert (field, message) == ("session_mode", "`each` is not one of `shared` or `per-session`")


def test_session_limits_default_to_the_proxys_and_are_checked() -> None:
    assert LaunchRequest(IMAGE).session_limits == (128, 3600)
    asked = LaunchRequest(IMAGE, max_sessions=2, session_idle_timeout=5)
    assert asked.session_limits == (2, 5)
    assert problems(max_sessions=2, session_idle_timeout=5) == []
    assert problems(max_sessions=0, session_idle_timeout=7 * 24 * 3600 + 1) == [
        ("max_sessions", "`0` is outside 1–65536 sessions", None),
        ("session_idle_timeout", "`604801` is outside 1–604800 seconds", None),
    ]
    assert LaunchRequest(IMAGE, transport="sse").session_limits is None
    ((field, message, hint),) = problems(transport="streamable-http", max_sessions=4)
    assert (field, message) == (
        "max_sessions",
        "an HTTP server keeps its own sessions: the proxy only forwards them",
    )
    assert hint


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        name="seccomp",
        transport="tcp",
        profile="stdio",
        inline_profile="{}",
        env=("NOVALUE", "A=1", "=x"),
        port=70000,
    )
    assert [field for field, _, _ in found] == [
        "name",
        "transport",
        "inline_profile",
        "env",
        "env",
        "port",
    ]
    assert found[1][1] == "`tcp` is not one of `stdio`, `sse` or `streamable-http`"
    assert found[3][1] == "`NOVALUE` is not KEY=VALUE"
    assert LaunchRequest(IMAGE, env=("NOVALUE", "A=1")).env_pairs == (("A", "1"),)
