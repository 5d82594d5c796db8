"""The audit trail: every built-in × engine × transport, every example, every diagnostic
case and every explain output, snapshotted into `snapshots/`. A diff here is a change to
what mcp-lok sends to the engine; update with `pytest --snapshot-update` only on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from mcp_lok.policy import (
    BUILTINS,
    Engine,
    PolicyError,
    Target,
    Transport,
    compile_plan,
    compile_policy,
    lower,
    render_all,
)
from mcp_lok.policy import explain as explaining
from mcp_lok.policy.host import FixedHost

from .snapshot import JsonSnapshot, TextSnapshot

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if p.suffix in (".lok", ".json"))
CASES = sorted((REPO / "tests" / "cases" / "diagnostics").iterdir())


def relative(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.fixture
def plan_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JsonSnapshot)


@pytest.fixture
def text_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(TextSnapshot)


@pytest.mark.parametrize("transport", [t.value for t in Transport])
@pytest.mark.parametrize("engine", [e.value for e in Engine])
@pytest.mark.parametrize("builtin", sorted(BUILTINS))
def test_builtin_plan(
    builtin: str, engine: str, transport: str, plan_snapshot: SnapshotAssertion
) -> None:
    target = Target(
        image="mcp-lok/mcp-server-time:latest",
        name="time",
        engine=Engine(engine),
        transport=Transport(transport),
    )
    assert compile_plan(builtin, target, host=FixedHost()).to_json() == plan_snapshot


@pytest.mark.parametrize("engine", [e.value for e in Engine])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_plan(
    example: Path, engine: str, plan_snapshot: SnapshotAssertion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # origins name files as a user in the repo would
    target = Target(image="example/server:1.0", name=example.stem, engine=Engine(engine))
    assert compile_plan(relative(example), target, host=FixedHost()).to_json() == plan_snapshot


@pytest.mark.parametrize(
    "source", [*sorted(BUILTINS), *EXAMPLES], ids=lambda s: s.name if isinstance(s, Path) else s
)
def test_explain(
    source: str | Path, text_snapshot: SnapshotAssertion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    name = relative(source) if isinstance(source, Path) else source
    compiled = compile_policy(name, host=FixedHost())
    plan = lower(compiled.policy, Target(image="IMAGE", name="server"))
    assert explaining.render_human(explaining.explain(compiled.policy, plan)) == text_snapshot


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_diagnostics(
    case: Path, text_snapshot: SnapshotAssertion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    try:
        compiled = compile_policy(relative(case), host=FixedHost())
    except PolicyError as error:
        rendered = render_all(error.diagnostics, error.sources)
    else:
        assert compiled.warnings, f"{case.name} is a diagnostic case but compiles cleanly"
        rendered = render_all(compiled.warnings, compiled.texts)
    assert rendered + "\n" == text_snapshot
