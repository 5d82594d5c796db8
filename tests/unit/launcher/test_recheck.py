"""The launch's second look at host paths: a path swapped after the compile refuses the
launch with `policy.path-changed` (exit 3), before anything is created or, when the swap
comes while the gate is created, right before the server's create call, with everything
already created undone. Real symlinks in a temp folder; the in-memory engine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from mcp_lok.launcher import creation, teardown
from mcp_lok.launcher.launch import Prepared, provision
from mcp_lok.launcher.recheck import PathCheck
from mcp_lok.launcher.request import LaunchRequest
from mcp_lok.launcher.state import Store
from mcp_lok.policy import Code, PolicyError, Severity, render_all
from mcp_lok.policy.origin import Span

from .fakes import FakeEngine
from .fakes import prepared as prepared_for

IMAGE = "mcp-lok/mcp-server-time"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """`real/` and `other/`, and `link` → `real`, in a folder only root may change."""
    root = tmp_path / "tree"
    (root / "real").mkdir(parents=True)
    (root / "other").mkdir()
    (root / "link").symlink_to("real")
    for folder in (tmp_path, root):
        folder.chmod(0o755)
    return root


def swap(link: Path, to: str) -> None:
    """Point `link` elsewhere in one step, as an attacker racing the launch would."""
    fresh = link.with_name(link.name + ".new")
    fresh.symlink_to(to)
    os.replace(fresh, link)


def prepared(tmp_path: Path, tree: Path, text: str) -> tuple[Prepared, FakeEngine, Store]:
    policy = tmp_path / "policy.lok"
    policy.write_text(text.format(tree=tree))
    store, engine = Store(tmp_path / "run"), FakeEngine()
    request = LaunchRequest(IMAGE, "srv", profile=str(policy))
    return prepared_for(store, engine, request), engine, store


@pytest.fixture(autouse=True)
def _no_gate_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(creation, "wait_for_socket", lambda *_, **__: None)
    monkeypatch.setattr(creation.os, "chown", lambda *_: None)


def refusal(caught: pytest.ExceptionInfo[PolicyError]) -> tuple[Code, str, object]:
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.severity is Severity.ERROR
    assert diagnostic.help
    return diagnostic.code, diagnostic.message, diagnostic.origin


def test_a_symlink_swapped_after_the_compile_refuses_before_anything_is_created(
    tmp_path: Path, tree: Path
) -> None:
    ready, engine, store = prepared(tmp_path, tree, "read {tree}/link as /data\n")
    assert ready.plan.server.body["HostConfig"]["Mounts"][0]["Source"] == str(tree / "real")
    swap(tree / "link", "other")
    with pytest.raises(PolicyError) as caught:
        provision(ready, detached=True)
    code, message, origin = refusal(caught)
    assert code is Code.PATH_CHANGED
    assert message == (
        f"`{tree}/link` changed since the policy was compiled: it led to `{tree}/real` and "
        f"now leads to `{tree}/other`"
    )
    assert isinstance(origin, Span)
    assert origin.line == 1
    rendered = render_all(caught.value.diagnostics, caught.value.sources)
    assert "error[policy.path-changed]" in rendered
    assert f"read {tree}/link as /data" in rendered  # the source line, for the caret
    assert engine.calls == []
    assert store.all() == []


def test_a_swap_while_the_gate_is_created_refuses_the_server_and_undoes_the_gate(
    tmp_path: Path, tree: Path
) -> None:
    ready, engine, store = prepared(
        tmp_path, tree, "read {tree}/link as /data\nallow api.example.com port 443\n"
    )
    assert ready.plan.gate is not None
    create = engine.create_container

    def racing(name: str, body: dict[str, Any]) -> str:
        made = create(name, body)
        if name.endswith("-gate"):
            swap(tree / "link", "other")  # after the first look, before the server's create
        return made

    engine.create_container = racing  # type: ignore[method-assign]
    with pytest.raises(PolicyError) as caught:
        provision(ready, detached=True)
    assert refusal(caught)[0] is Code.PATH_CHANGED
    assert [c for c in engine.calls if c[0] == "create"] == [("create", "mcp-lok-srv-gate")]
    assert engine.containers_by_id == {}  # the gate is removed again
    assert engine.networks_by_id == {}
    assert store.all() == []
    assert not (store.root / "srv").exists()


def test_a_folder_replaced_by_another_with_the_same_name_is_a_change(
    tmp_path: Path, tree: Path
) -> None:
    ready, engine, _ = prepared(tmp_path, tree, "write {tree}/real as /out\n")
    (tree / "real").rename(tree / "old")
    (tree / "real").mkdir()
    with pytest.raises(PolicyError) as caught:
        provision(ready, detached=True)
    code, message, _ = refusal(caught)
    assert code is Code.PATH_CHANGED
    assert message.endswith(f"`{tree}/real` was replaced by another folder")
    assert engine.calls == []


def test_a_socket_put_into_a_granted_folder_after_the_compile_is_a_change(
    tmp_path: Path, tree: Path
) -> None:
    import socket

    ready, _, _ = prepared(tmp_path, tree, "read {tree}/real as /data\n")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tree / "real" / "d.sock"))
        with pytest.raises(PolicyError) as caught:
            PathCheck.of(ready.compiled)()
    code, message, _ = refusal(caught)
    assert code is Code.PATH_CHANGED
    assert message.endswith(
        f"mounting `{tree}/real`, which holds `{tree}/real/d.sock`, a Unix socket, was not "
        "dangerous then"
    )


def test_a_path_removed_after_the_compile_is_a_change(tmp_path: Path, tree: Path) -> None:
    ready, _, _ = prepared(tmp_path, tree, "read {tree}/link as /data\n")
    (tree / "real").rmdir()
    with pytest.raises(PolicyError) as caught:
        PathCheck.of(ready.compiled)()
    assert refusal(caught)[:2] == (
        Code.PATH_CHANGED,
        f"`{tree}/link` changed since the policy was compiled: it no longer exists",
    )


def test_a_path_missing_at_the_compile_warns_there_and_is_refused_at_launch(
    tmp_path: Path, tree: Path
) -> None:
    ready, engine, store = prepared(tmp_path, tree, "read {tree}/nowhere as /data\n")
    assert [(d.code, d.message) for d in ready.compiled.warnings] == [
        (Code.PATH_MISSING, f"`{tree}/nowhere` does not exist on this host")
    ]
    with pytest.raises(PolicyError) as caught:
        provision(ready, detached=True)
    assert refusal(caught)[:2] == (
        Code.PATH_MISSING,
        f"`{tree}/nowhere` does not exist on this host",
    )
    assert engine.calls == []
    assert store.all() == []


def test_an_unchanged_path_launches(tmp_path: Path, tree: Path) -> None:
    ready, engine, store = prepared(tmp_path, tree, "read {tree}/link as /data\n")
    state = provision(ready, detached=True)
    assert [c[0] for c in engine.calls] == ["create"]
    assert state.container_id in engine.containers_by_id
    teardown.teardown(engine, store, state)  # type: ignore[arg-type]
