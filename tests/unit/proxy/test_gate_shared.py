"""The gate shares modules with mcp-lok by sharing the files: in the repository the gate's
stand-ins re-export `policy/hosts.py`, `policy/gate_config.py` and `proxy/tasks.py`, and the
image build copies those very files into the gate's package. Both halves are checked
here, and that the package the image gets runs on the standard library alone."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gate_image import ROOT, SHARED, image_package


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gate image's build context, as the image build makes it."""
    return image_package(tmp_path_factory.mktemp("gate")) / "mcp_lok_gate"


@pytest.mark.parametrize("name", sorted(SHARED))
def test_the_image_gets_the_very_file(name: str, context: Path) -> None:
    assert SHARED[name].parent in (ROOT / "policy", ROOT / "proxy")
    assert (context / name).read_bytes() == SHARED[name].read_bytes()


@pytest.mark.parametrize("name", sorted(SHARED))
def test_in_the_repository_the_gate_uses_the_same_module(name: str) -> None:
    home = f"mcp_lok.{SHARED[name].parent.name}.{SHARED[name].stem}"
    shared = importlib.import_module(home)
    stand_in = importlib.import_module(f"mcp_lok.proxy.gate.{SHARED[name].stem}")
    assert shared.__all__
    assert all(getattr(stand_in, n) is getattr(shared, n) for n in shared.__all__)
    # a stand-in holds nothing of its own: its one statement re-exports the shared module
    tree = ast.parse((ROOT / "proxy" / "gate" / name).read_text(encoding="utf-8"))
    statements = [s for s in tree.body if not isinstance(s, ast.Expr)]  # past the docstring
    assert [ast.unparse(s) for s in statements] == [f"from {home} import *"]


def test_the_image_s_package_imports_the_standard_library_and_itself_only(context: Path) -> None:
    own = {p.stem for p in context.glob("*.py")}
    for path in sorted(context.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert (node.module or "").split(".")[0] in own | {""}, path.name
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] in sys.stdlib_module_names, path.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in sys.stdlib_module_names, path.name


def test_the_image_s_package_reads_what_lowering_writes(context: Path) -> None:
    from mcp_lok.policy import FixedHost, Target, Transport, compile_plan

    source = context.parent.parent / "egress.lok"
    source.write_text("extends stdio\nallow api.github.com, 10.0.0.0/8 port 443\n")
    target = Target(image="x:1", name="x", transport=Transport.SSE)
    plan = compile_plan(str(source), target, host=FixedHost())
    assert plan.gate is not None
    written = plan.gate.config.to_json()
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(context.parent)!r})\n"
        "from mcp_lok_gate import GateConfig\n"
        "config = GateConfig.from_json(sys.stdin.read())\n"
        "print(json.dumps(config.to_dict()))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('mcp_lok'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script],
        input=written,
        capture_output=True,
        text=True,
        check=True,
    )
    read, modules = done.stdout.splitlines()
    assert json.loads(read) == json.loads(written)
    assert all(m == "mcp_lok_gate" or m.startswith("mcp_lok_gate.") for m in json.loads(modules))
