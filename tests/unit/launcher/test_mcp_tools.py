"""The MCP server's tool handlers (`mcp_server.tools`) without an engine or the SDK: an
in-memory engine, a state store in a temporary folder, and a fake proxy hand-over."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import TypeAdapter

from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher import handoff, servers, state
from mcp_lok.launcher.cli.audit import audit as audit_command
from mcp_lok.launcher.errors import LokError, UsageError
from mcp_lok.launcher.mcp_server import app, schemas, tools
from mcp_lok.launcher.request import LaunchRequest
from mcp_lok.launcher.state import Store
from mcp_lok.policy import PolicyError

from .audit.test_collect import RecordedEngine, launched
from .fakes import FakeEngine
from .test_state import make_state

IMAGE = "mcp-lok/mcp-server-time"
URL = "http://127.0.0.1:40000"


def RunRequest(image: str, **arguments: Any) -> LaunchRequest:
    """What `run_server` builds from its arguments."""
    return tools.launch_request(image, **arguments)


def conforms(outcome: tools.Outcome, schema: Any) -> dict[str, Any]:
    """`outcome`'s data, checked against the output schema its tool publishes."""
    TypeAdapter(schema).validate_python(outcome.data, strict=True)
    return outcome.data


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """The engine `prepare` discovers, and a state store under `tmp_path`."""
    fake = FakeEngine()
    monkeypatch.setattr(state, "default_root", lambda: tmp_path)
    monkeypatch.setattr(adapter, "discover", lambda choice=None: fake)
    return fake


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names handed to a (fake) detached proxy, which answers `URL`."""
    names: list[str] = []

    def spawn(
        store: Store,
        server: state.ServerState,
        port: int,
        token: str | None = None,
        on_attached: Callable[[], None] | None = None,
        restarts: int = 0,
        body: dict[str, Any] | None = None,
    ) -> str:
        assert token is not None  # the proxy requires one
        assert token == server.token  # and the state keeps it, for `inspect`
        names.append(server.name)
        if on_attached is not None:  # the proxy is attached: the container starts now
            on_attached()
        return URL

    monkeypatch.setattr(handoff, "spawn", spawn)
    return names


# --- run_server ----------------------------------------------------------------------------


def test_run_starts_detached_and_says_nothing_is_granted_beyond_stdio(
    engine: FakeEngine, spawned: list[str]
) -> None:
    outcome = tools.run_server(RunRequest(IMAGE, name="time"))
    conforms(outcome, schemas.Launched)
    assert spawned == ["time"]
    assert [call for call in engine.calls if call[0] == "start"]  # a stdio server runs
    assert outcome.data["started"] is True
    assert outcome.data["url"] == f"{URL}/mcp"
    assert outcome.data["sse_url"] == f"{URL}/sse"
    assert outcome.data["exposure"]["beyond_stdio"] == []
    assert "nothing beyond the built-in `stdio` profile" in outcome.text
    assert f"endpoint: {URL}/mcp" in outcome.text
    saved = Store().load("time")
    assert saved is not None
    assert saved.detached is True
    # the structured result carries the bearer token the proxy requires; the text does not
    assert outcome.data["token"] == saved.token
    assert len(outcome.data["token"]) >= 40
    assert outcome.data["token"] not in outcome.text
    assert "Authorization: Bearer <token>" in outcome.text
    assert saved.container_id in engine.containers_by_id


def test_a_dry_run_explains_the_grant_and_creates_nothing(
    engine: FakeEngine, spawned: list[str]
) -> None:
    outcome = tools.run_server(RunRequest(IMAGE, name="web", profile="network"), dry_run=True)
    conforms(outcome, schemas.Launched)
    assert spawned == []
    assert engine.calls == []
    assert Store().load("web") is None
    assert outcome.data["started"] is False
    assert outcome.data["token"] is None
    beyond = outcome.data["exposure"]["beyond_stdio"]
    assert any("unrestricted egress" in row["description"] for row in beyond), beyond
    assert outcome.text.startswith("would start `web`")
    assert "beyond `stdio` it grants:" in outcome.text


def test_an_inline_profile_is_kept_in_the_servers_folder_and_recorded(
    engine: FakeEngine, spawned: list[str]
) -> None:
    profile = {"read": ["/etc/debian_version"]}
    outcome = tools.run_server(RunRequest(IMAGE, name="time", profile_json=profile))
    kept = Store().folder("time") / "profile.json"
    assert json.loads(kept.read_text()) == profile
    saved = Store().load("time")
    assert saved is not None
    assert saved.profile == str(kept)
    assert str(kept) in saved.files  # so `rm` removes it
    beyond = outcome.data["exposure"]["beyond_stdio"]
    assert [row["description"] for row in beyond] == [
        "`/etc/debian_version` is readable from the container"
    ]


def test_env_is_checked_like_the_clis_e_option(engine: FakeEngine, spawned: list[str]) -> None:
    with pytest.raises(UsageError, match="`NOVALUE` is not KEY=VALUE") as caught:
        tools.run_server(RunRequest(IMAGE, env=["NOVALUE"]))
    assert tools.failure(caught.value).text == "error: `env`: `NOVALUE` is not KEY=VALUE"
    outcome = tools.run_server(RunRequest(IMAGE, name="time", env=["TZ=Europe/Paris"]))
    beyond = outcome.data["exposure"]["beyond_stdio"]
    assert [row["description"] for row in beyond] == ["`TZ` is set (value not shown)"]


@pytest.mark.parametrize(
    ("asked", "error"),
    [
        (RunRequest(IMAGE, name="seccomp"), UsageError),
        (RunRequest(IMAGE, name="-bad"), UsageError),  # before an engine is asked
        (RunRequest(IMAGE, profile="/nonexistent.json"), PolicyError),
        (RunRequest(IMAGE, profile="stdio", profile_json={}), UsageError),
        (RunRequest(IMAGE, transport="tcp", port=70000), UsageError),
        (RunRequest("mcp-lok/unknown"), LokError),
    ],
)
def test_bad_requests_fail_before_anything_is_created(
    engine: FakeEngine, spawned: list[str], asked: RunRequest, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        tools.run_server(asked)
    assert engine.calls == []
    assert Store().names() == []
    assert tools.failure(caught.value).data["error"]


def test_a_proxy_that_fails_leaves_nothing_and_its_log_joins_the_hint(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def spawn(store: Store, server: state.ServerState, port: int, **options: Any) -> str:
        Path(server.log_path).write_text("boom: the proxy could not attach\n")
        raise LokError("the proxy stopped before it was ready (exit 1)", hint="see its log")

    monkeypatch.setattr(handoff, "spawn", spawn)
    with pytest.raises(LokError) as caught:
        tools.run_server(RunRequest(IMAGE, name="time", profile_json={}))
    assert caught.value.hint is not None
    assert "boom: the proxy could not attach" in caught.value.hint
    assert Store().load("time") is None
    assert not Store().folder("time").exists()  # the inline profile went too
    assert engine.containers_by_id == {}


def test_a_host_path_swapped_after_the_check_is_refused_like_the_cli(
    engine: FakeEngine, spawned: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "other").mkdir()
    link = tmp_path / "link"
    link.symlink_to("real")

    def swap(image: str) -> None:  # the policy is compiled by now; nothing is created yet
        link.unlink()
        link.symlink_to("other")

    monkeypatch.setattr(engine, "require_image", swap, raising=False)
    with pytest.raises(PolicyError) as caught:
        tools.run_server(RunRequest(IMAGE, name="time", profile_json={"read": [str(link)]}))
    failed = tools.failure(caught.value)
    assert [d["code"] for d in failed.data["diagnostics"]] == ["policy.path-changed"]
    assert "error[policy.path-changed]" in failed.text
    assert engine.calls == []
    assert Store().names() == []
    assert spawned == []


# --- list, stop, remove, logs --------------------------------------------------------------


def test_list_hides_stopped_servers_unless_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(state, "default_root", lambda: tmp_path)
    rows = [
        {"name": "a", "status": "running", "transport": "stdio", "url": "http://x/mcp"},
        {"name": "b", "status": "stopped", "transport": "stdio", "url": None},
    ]
    for row in rows:
        row.update(image=IMAGE, engine="docker", profile="stdio", sse_url=None)
        row.update(created="2026-01-01T00:00:00+00:00", container=None, auth=True)
    monkeypatch.setattr(servers, "rows", lambda seen: rows)
    assert [r["name"] for r in tools.list_servers().data["servers"]] == ["a"]
    every = tools.list_servers(include_stopped=True)
    conforms(every, schemas.ServerList)
    assert [r["name"] for r in every.data["servers"]] == ["a", "b"]
    assert every.text.splitlines()[1].startswith("b: stopped, stdio, no URL")
    monkeypatch.setattr(servers, "rows", lambda seen: [])
    assert tools.list_servers().text == "no servers"


@pytest.mark.parametrize("handler", [tools.stop_server, tools.remove_server, tools.server_logs])
@pytest.mark.parametrize("name", ["../etc", "seccomp", "-"])
def test_a_bad_server_name_is_refused_like_the_cli(handler: Any, name: str) -> None:
    with pytest.raises(UsageError) as caught:
        handler(name)
    assert tools.failure(caught.value).text.startswith("error: `name`: `")


def test_stop_and_remove_call_the_clis_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[tuple[str, str, bool]] = []
    monkeypatch.setattr(servers, "stop_server", lambda name: called.append(("stop", name, False)))

    def remove(name: str, force: bool) -> list[str]:
        called.append(("rm", name, force))
        return ["c" * 64]  # a look-alike, left alone

    monkeypatch.setattr(servers, "remove_server", remove)
    assert conforms(tools.stop_server("time"), schemas.Stopped) == {"name": "time", "stopped": True}
    outcome = tools.remove_server("time", force=True)
    removed = conforms(outcome, schemas.Removed)
    assert removed == {"name": "time", "removed": True, "left": ["c" * 64]}
    assert outcome.text == (
        "removed `time`; left containers carrying its labels that mcp-lok did not create: "
        "cccccccccccc"
    )
    assert called == [("stop", "time", False), ("rm", "time", True)]


def test_logs_are_the_last_lines_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "default_root", lambda: tmp_path)
    log = tmp_path / "time" / "proxy.log"
    Store().save(make_state("time", log_path=str(log)))
    log.write_text("".join(f"line {n}\n" for n in range(5000)) + "x" * 5000 + "\n")
    outcome = tools.server_logs("time", lines=3)
    conforms(outcome, schemas.Logs)
    assert outcome.data["proxy_log"][:2] == ["line 4998", "line 4999"]
    assert len(outcome.data["proxy_log"][2]) == tools.LINE_WIDTH
    assert outcome.data["server_log"] == []
    assert outcome.text.startswith("== proxy log of `time` ==")
    with pytest.raises(UsageError, match="from 1 to 1000"):
        tools.server_logs("time", lines=0)
    with pytest.raises(LokError, match="no server named `gone`"):
        tools.server_logs("gone")


def test_an_http_servers_logs_include_its_containers_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "default_root", lambda: tmp_path)
    Store().save(make_state("web", transport="sse", log_path=str(tmp_path / "none.log")))
    asked: list[int | None] = []

    class Engine(FakeEngine):
        def logs(self, container: str, *, follow: bool = False, tail: int | None = None) -> Any:
            asked.append(tail)
            return iter([b"one\ntw", b"o\nthree\n"])

    monkeypatch.setattr(adapter.EngineClient, "connect", staticmethod(lambda url: Engine()))
    outcome = tools.server_logs("web", lines=2)
    assert asked == [2]
    assert outcome.data == {"name": "web", "proxy_log": [], "server_log": ["two", "three"]}
    assert "== output of `web`'s container ==\ntwo\nthree" in outcome.text


# --- explain, failures ---------------------------------------------------------------------


def test_explain_states_what_goes_beyond_stdio() -> None:
    outcome = tools.explain_policy("network", engine="podman")
    conforms(outcome, schemas.Explained)
    assert outcome.data["engine"] == "podman"
    assert outcome.data["score"] > outcome.data["stdio_score"]
    assert {row["mark"] for row in outcome.data["beyond_stdio"]} == {"!", "✗"}
    assert len(outcome.data["controls"]) > len(outcome.data["beyond_stdio"])
    assert "Overall exposure level for network" in outcome.text
    assert "beyond `stdio` it grants:" in outcome.text
    assert tools.explain_policy().data["beyond_stdio"] == []


def test_explain_reads_an_inline_profile_and_rejects_a_bad_one() -> None:
    outcome = tools.explain_policy(profile_json={"read": ["/etc/debian_version"]})
    assert outcome.data["source"].startswith("inline-")
    with pytest.raises(PolicyError) as caught:
        tools.explain_policy(profile_json={"privileged": True})
    failed = tools.failure(caught.value)
    assert failed.data["error"] == "policy rejected"
    assert [d["code"] for d in failed.data["diagnostics"]] == ["policy.insecure-required"]
    assert failed.text.endswith("1 error: policy rejected")


def test_failures_read_like_the_clis() -> None:
    lok = tools.failure(LokError("the engine does not answer", hint="start it"))
    assert lok.text == "error: the engine does not answer\n  = hint: start it"
    assert lok.data == {"error": "the engine does not answer", "hint": "start it"}
    usage = tools.failure(UsageError.of("name", "bad", hint="a good one"))
    assert usage.text == "error: `name`: bad\n  = hint: a good one"
    assert usage.data == {"error": "`name`: bad", "hint": "a good one"}
    with pytest.raises(TypeError):
        tools.failure(RuntimeError("a bug is not a tool failure"))


# --- audit -------------------------------------------------------------------------------

MIB = 1024 * 1024


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RecordedEngine, str]:
    """A server launched on Docker (recorded inspect output and launch record), in the
    store the tools use, on the engine `audit` discovers; and its name."""
    engine, _store, data = launched(tmp_path, "docker-std")
    data["server"]["State"]["Pid"] = 0  # its limits are inspect's, not some host process's
    monkeypatch.setattr(state, "default_root", lambda: tmp_path)
    monkeypatch.setattr(adapter, "discover", lambda choice=None: engine)
    return engine, data["record"]["plan"]["name"]


def server_inspect(engine: RecordedEngine) -> dict[str, Any]:
    (found,) = [c for c in engine.by_id.values() if not c["Name"].endswith("-gate")]
    return found


def test_audit_reports_an_untampered_server_clean_with_its_score(
    recorded: tuple[RecordedEngine, str],
) -> None:
    _engine, name = recorded
    outcome = tools.audit_servers([name])
    data = conforms(outcome, schemas.Audit)
    assert (data["engines"], data["drifted"], data["exceeded"]) == (["docker"], [], [])
    assert data["not_answering"] == []
    (server,) = data["servers"]
    assert (server["name"], server["recorded"], server["compared"]) == (name, True, True)
    assert server["drifted"] is False
    assert 0 < server["score"] < 10
    assert [c["drift"] for c in server["containers"]] == [[]]
    assert outcome.text.startswith("audit passed: no drift (1 server on docker)")
    assert f"{name} on docker: matches its plan; exposure {server['score']:.1f}" in outcome.text
    assert tools.audit_servers(audit_all=True).data == data


def test_drift_and_a_score_above_the_threshold_are_a_result_not_a_failure(
    recorded: tuple[RecordedEngine, str],
) -> None:
    engine, name = recorded
    server_inspect(engine)["HostConfig"]["Memory"] = 256 * MIB  # `docker update --memory 256m`
    outcome = tools.audit_servers([name], threshold=0)
    data = conforms(outcome, schemas.Audit)
    assert (data["drifted"], data["exceeded"], data["threshold"]) == ([name], [name], 0.0)
    (drift,) = data["servers"][0]["containers"][0]["drift"]
    assert (drift["field"], drift["expected"], drift["found"]) == (
        "HostConfig.Memory", 512 * MIB, 256 * MIB,
    )  # fmt: skip
    assert drift["origin"] == "default (baseline)"
    assert outcome.text.startswith(
        f"audit failed: exposure above 0: {name}; drifted from their plan: {name}"
    )
    # through the SDK, which checks the result against the tool's output schema
    result = asyncio.run(app.build().call_tool("audit_servers", {"names": [name]}))
    assert not result.is_error  # type: ignore[union-attr]
    assert result.structured_content["drifted"] == [name]  # type: ignore[union-attr]


def test_audit_names_the_servers_it_left_out_on_another_engine(
    recorded: tuple[RecordedEngine, str],
) -> None:
    Store().save(make_state("elsewhere", engine_url="unix:///other.sock"))
    data = tools.audit_servers(audit_all=True, engine="docker").data
    assert data["elsewhere"] == ["elsewhere"]
    assert [s["name"] for s in data["servers"]] == [recorded[1]]
    assert tools.audit_servers([recorded[1]]).data["elsewhere"] == []  # named: none left out


def test_audit_of_every_engine_names_the_engines_that_did_not_answer(
    recorded: tuple[RecordedEngine, str],
) -> None:
    Store().save(make_state("far", engine_url="unix:///other.sock"))
    outcome = tools.audit_servers(audit_all=True)
    conforms(outcome, schemas.Audit)
    assert [s["name"] for s in outcome.data["servers"]] == [recorded[1]]
    assert outcome.data["elsewhere"] == []
    assert outcome.data["not_answering"] == [
        "docker at /other.sock does not answer (does not exist)"
    ]
    assert "not audited: docker at /other.sock does not answer" in outcome.text


BAD_AUDITS = [
    # (tool arguments, CLI arguments, what both say)
    ({}, [], "name the servers to audit, or pass"),
    ({"names": ["x"], "audit_all": True}, ["x", "--all"], "audits every server: name none"),
    ({"names": ["../etc"]}, ["../etc"], "not a valid server name"),
    ({"names": ["seccomp"]}, ["seccomp"], "reserved for mcp-lok"),
    ({"audit_all": True, "threshold": 11}, ["--all", "--threshold", "11"], "`11` is not a"),
    ({"audit_all": True, "threshold": -1}, ["--all", "--threshold", "-1"], "`-1` is not a"),
    ({"audit_all": True, "threshold": math.nan}, ["--all", "--threshold", "nan"], "`nan` is not"),
]


@pytest.mark.parametrize(("asked", "argv", "says"), BAD_AUDITS)
def test_bad_audit_requests_are_refused_like_the_clis(
    recorded: tuple[RecordedEngine, str], asked: dict[str, Any], argv: list[str], says: str
) -> None:
    with pytest.raises(UsageError) as caught:
        tools.audit_servers(**asked)
    failed = tools.failure(caught.value)
    assert says in failed.data["error"], failed
    cli = CliRunner().invoke(audit_command, argv)
    assert cli.exit_code == 2, cli.output
    assert says in cli.output, cli.output


def test_auditing_a_server_that_does_not_exist_is_a_tool_error(
    recorded: tuple[RecordedEngine, str],
) -> None:
    with pytest.raises(LokError, match="no server named `gone` on docker") as caught:
        tools.audit_servers([recorded[1], "gone"])
    assert caught.value.hint == "see them all with `mcp-lok list --all`"
    result = app.audit_servers(names=["gone"])
    assert result.is_error
    assert result.structured_content is not None
    assert result.structured_content["error"] == "no server named `gone` on docker"


# --- host files --------------------------------------------------------------------------


def test_a_tool_reads_only_profile_and_policy_files_from_the_host(tmp_path: Path) -> None:
    key = tmp_path / "id_rsa"
    key.write_text("ssh-rsa AAAASECRET user@host\n")
    with pytest.raises(LokError, match=r"neither a built-in nor a `\.json` or `\.lok` file"):
        tools.explain_policy(str(key))
    with pytest.raises(LokError, match="neither a built-in"):
        tools.run_server(RunRequest(IMAGE, profile=str(key)))


def test_a_host_files_lines_are_not_quoted_back_but_an_inline_profiles_are(
    tmp_path: Path,
) -> None:
    secrets = tmp_path / "config.json"
    secrets.write_text('{"auths": {"registry": {"auth": "U0VDUkVU"}}}\n')
    with pytest.raises(PolicyError) as caught:
        tools.explain_policy(str(secrets))
    text = tools.failure(caught.value).text
    assert "source.not-a-policy" in text
    assert "auths" not in text
    assert "U0VDUkVU" not in text
    with pytest.raises(PolicyError) as inline:
        tools.explain_policy(profile_json={"read": [], "auths": {"x": 1}})
    assert '"auths": {' in tools.failure(inline.value).text  # the caller's own text, quoted
