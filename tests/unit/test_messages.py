"""Hints speak to users: no message the code can show names the repository's own tools
(`make …`, `scripts/…`), which a user of the installed package does not have, and no
CIS fix text leaves a placeholder for the reader to fill in."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from mcp_lok.launcher.audit import cis
from mcp_lok.launcher.audit.normalise import View

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("launcher", "policy", "proxy")
REPOSITORY_TOOLS = re.compile(r"`make [a-z]|\bscripts/")
PLACEHOLDER = re.compile(r"<[a-z_ -]+>|…")


def strings(path: Path) -> list[str]:
    """The string literals of a module that are not docstrings (f-strings' parts too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


MODULES = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_message_names_the_repositorys_tools(path: Path) -> None:
    found = [s for s in strings(path) if REPOSITORY_TOOLS.search(s)]
    assert found == [], found


def test_every_module_was_read() -> None:
    assert len(MODULES) > 100
    assert any(p.name == "sockets.py" for p in MODULES)


def test_no_cis_fix_leaves_a_placeholder() -> None:
    """A container that fails every check it can: each fix is a whole sentence to act on."""
    worst = View(
        {
            "HostConfig.Privileged": True,
            "HostConfig.NetworkMode": "host",
            "HostConfig.PidMode": "host",
            "HostConfig.IpcMode": "host",
            "HostConfig.UTSMode": "host",
            "HostConfig.UsernsMode": "host",
            "Networks": ["bridge"],
            "HostConfig.RestartPolicy": "always",
            "HostConfig.PortBindings": ["0.0.0.0:80->80/tcp"],
            "HostConfig.Devices": ["/dev/sda"],
            "Config.User": "0",
        }
    )
    checks = cis.check(worst, "/run/mcp-lok", {})
    fixes = [c.fix for c in checks if c.status is not cis.Status.PASS]
    assert len(fixes) > 15, fixes
    assert [f for f in fixes if PLACEHOLDER.search(f)] == []
    network = next(c for c in checks if c.id == "CIS 5.30")
    assert "`bridge`" in network.fix
