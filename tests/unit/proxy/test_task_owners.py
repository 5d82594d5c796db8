"""Every task has the task helper (`proxy/tasks.py`) or an `asyncio.TaskGroup` for its owner,
in mcp-lok's packages and in the gate alike: ruff bans what it can see (TID251), and this
finds what it cannot, a loop's `create_task`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HELPER = ROOT / "proxy" / "tasks.py"
SPAWNERS = {"create_task", "ensure_future"}


def _task_groups(tree: ast.AST) -> set[str]:
    """Names bound by `async with asyncio.TaskGroup() as NAME` (which owns its tasks)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncWith | ast.With):
            for item in node.items:
                call = item.context_expr
                if (
                    isinstance(call, ast.Call)
                    and ast.unparse(call.func).endswith("TaskGroup")
                    and isinstance(item.optional_vars, ast.Name)
                ):
                    found.add(item.optional_vars.id)
    return found


def spawned_outside_the_helper(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    groups = _task_groups(tree)
    return [
        f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node.func)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in SPAWNERS
        and not (isinstance(node.func.value, ast.Name) and node.func.value.id in groups)
    ]


def test_no_task_is_spawned_but_through_the_helper() -> None:
    """What ruff's banned-API rule cannot see (`loop.create_task`, a loop's method on an
    object it cannot type) is found here, in mcp-lok's packages and the gate alike."""
    sources = [
        p
        for package in ("policy", "launcher", "proxy")
        for p in sorted((ROOT / package).rglob("*.py"))
        if p != HELPER and p.name != "_lalr.py"
    ]
    assert [found for p in sources for found in spawned_outside_the_helper(p)] == []


def test_the_finder_finds_a_loop_s_task(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text(
        "async def f(loop, group):\n"
        "    loop.create_task(g())\n"
        "    asyncio.ensure_future(g())\n"
        "    async with asyncio.TaskGroup() as tg:\n"
        "        tg.create_task(g())\n"
    )
    found = [line.split(": ", 1)[1] for line in spawned_outside_the_helper(source, tmp_path)]
    assert found == ["loop.create_task", "asyncio.ensure_future"]
