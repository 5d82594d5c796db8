"""The gate's package as its image holds it, made by the image build's own code
(`scripts/build_images.py`): `proxy/gate/` with the modules it shares with mcp-lok copied
over their stand-ins."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_images", ROOT / "scripts" / "build_images.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_images"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


BUILD = _load()
SHARED: dict[str, Path] = BUILD.SHARED


def image_package(folder: Path) -> Path:
    """Make the gate image's build context in `folder`/context; return the folder that
    holds its package, `mcp_lok_gate`."""
    context = folder / "context"
    BUILD.make_context("gate", context)
    return context
