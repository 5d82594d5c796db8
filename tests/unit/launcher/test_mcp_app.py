"""The MCP server's SDK wiring (`mcp_server.app`) and how `mcp-lok` with no command
chooses between help and the MCP server."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mcp.types import CallToolRequestParams

from mcp_lok.launcher import cli as cli_module
from mcp_lok.launcher import mcp_server
from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.mcp_server import app, tools

MCP_LOK = str(Path(sys.executable).parent / "mcp-lok")


def test_a_result_carries_text_json_text_and_structured_content() -> None:
    result = app.answer(lambda: tools.Outcome("two servers", {"servers": ["a", "b"]}))
    assert not result.is_error
    assert result.structured_content == {"servers": ["a", "b"]}
    texts = [block.text for block in result.content]  # type: ignore[union-attr]
    assert texts[0] == "two servers"
    assert json.loads(texts[1]) == {"servers": ["a", "b"]}


def test_a_failure_is_an_error_result_not_an_exception() -> None:
    def failing() -> tools.Outcome:
        raise LokError("no server named `x`", hint="see them all")

    result = app.answer(failing)
    assert result.is_error
    assert result.structured_content == {"error": "no server named `x`", "hint": "see them all"}
    assert app.stop_server("../etc").is_error
    assert app.explain_policy(profile="stdio", profile_json={}).is_error


def test_a_bug_is_left_to_the_sdk() -> None:
    def buggy() -> tools.Outcome:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        app.answer(buggy)


def test_the_tools_schemas_and_hints() -> None:
    listed = {tool.name: tool for tool in asyncio.run(app.build().list_tools())}
    assert sorted(listed) == [
        "audit_servers",
        "explain_policy",
        "list_servers",
        "remove_server",
        "run_server",
        "server_logs",
        "stop_server",
    ]
    run = listed["run_server"].input_schema
    assert run["required"] == ["image"]
    assert run["properties"]["transport"]["enum"] == ["stdio", "sse", "streamable-http"]
    assert "beyond the built-in `stdio` profile" in (listed["run_server"].description or "")
    logs = listed["server_logs"].input_schema["properties"]["lines"]
    assert (logs["minimum"], logs["maximum"]) == (1, tools.MAX_LOG_LINES)
    assert listed["list_servers"].annotations is not None
    assert listed["list_servers"].annotations.read_only_hint is True
    assert listed["remove_server"].annotations is not None
    assert listed["remove_server"].annotations.destructive_hint is True
    audit = listed["audit_servers"]
    threshold = audit.input_schema["properties"]["threshold"]["anyOf"][0]
    assert (threshold["minimum"], threshold["maximum"]) == (0, 10)
    assert "names" not in audit.input_schema.get("required", [])
    assert audit.annotations is not None
    assert audit.annotations.read_only_hint is True


def test_every_tool_publishes_an_output_schema_its_results_meet() -> None:
    server = app.build()
    listed = asyncio.run(server.list_tools())
    assert all(tool.output_schema for tool in listed), [t.name for t in listed]
    # the SDK checks a result against the schema before sending it, and raises on a mismatch
    result = asyncio.run(server.call_tool("explain_policy", {"profile": "network"}))
    assert not result.is_error  # type: ignore[union-attr]
    assert result.structured_content["level"] == "EXPOSED"  # type: ignore[union-attr]


def test_bad_arguments_are_tool_errors_through_the_sdk() -> None:
    server = app.build()
    result = asyncio.run(
        server._handle_call_tool(  # the SDK's tools/call handler, without a transport
            None,  # type: ignore[arg-type]
            CallToolRequestParams(name="server_logs", arguments={"name": "x", "lines": 0}),
        )
    )
    assert result.is_error  # type: ignore[union-attr]
    # one sentence: the argument and what it must be; no pydantic report, value or link
    assert _text(result) == (
        "the argument `lines` of `server_logs` must be greater than or equal to 1"
    )
    asked = {"all": True, "threshold": 11}
    result = asyncio.run(
        server._handle_call_tool(
            None,  # type: ignore[arg-type]
            CallToolRequestParams(name="audit_servers", arguments=asked),
        )
    )
    assert result.is_error  # type: ignore[union-attr]
    assert _text(result) == (
        "the argument `threshold` of `audit_servers` must be less than or equal to 10"
    )
    result = asyncio.run(
        server._handle_call_tool(
            None,  # type: ignore[arg-type]
            CallToolRequestParams(name="run_server", arguments={"port": "x"}),
        )
    )
    assert _text(result) == (
        "`run_server` needs the argument `image`; the argument `port` of `run_server` must "
        "be a valid integer, unable to parse string as an integer"
    )


def _text(result: Any) -> str:
    (text,) = [block.text for block in result.content]
    assert "pydantic" not in text
    assert "\n" not in text
    return str(text)


def test_no_command_with_stdin_not_a_terminal_serves_mcp(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[bool] = []
    monkeypatch.setattr(mcp_server, "serve", lambda: served.append(True))
    result = CliRunner().invoke(cli_module.cli, [])  # CliRunner's stdin is not a terminal
    assert result.exit_code == 0, result.output
    assert served == [True]
    assert result.output == ""


def test_the_mcp_command_serves_mcp_even_from_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[bool] = []
    monkeypatch.setattr(mcp_server, "serve", lambda: served.append(True))
    assert CliRunner().invoke(cli_module.cli, ["mcp"]).exit_code == 0
    assert served == [True]


def test_no_command_on_a_terminal_prints_help_and_how_to_serve_mcp() -> None:
    primary, secondary = pty.openpty()
    try:
        result = subprocess.run(
            [MCP_LOK], stdin=secondary, capture_output=True, text=True, timeout=30, check=False
        )
    finally:
        os.close(primary)
        os.close(secondary)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: mcp-lok")
    assert "mcp  " in result.stdout  # the command is listed
    assert "serves its\nown tools over stdio" in result.stdout


def test_a_wrong_run_request_is_reported_one_sentence_per_problem() -> None:
    server = app.build()
    asked = {"image": "x", "transport": "tcp", "port": 70000, "env": ["NOVALUE"]}
    result = asyncio.run(
        server._handle_call_tool(
            None,  # type: ignore[arg-type]
            CallToolRequestParams(name="run_server", arguments=asked),
        )
    )
    assert result.is_error  # type: ignore[union-attr]
    (text, *_) = [block.text for block in result.content]  # type: ignore[union-attr]
    assert text.splitlines() == [
        "error: `transport`: `tcp` is not one of `stdio`, `sse` or `streamable-http`",
        "error: `env`: `NOVALUE` is not KEY=VALUE",
        "error: `port`: port `70000` is outside 0–65535",
        "  = hint: 0 picks a free one",
    ]
    run = {tool.name: tool for tool in asyncio.run(server.list_tools())}["run_server"]
    port = run.input_schema["properties"]["port"]
    assert (port["minimum"], port["maximum"]) == (0, 65535)
