"""A virtual environment with mcp-lok installed from a wheel, as a user has it.

The development environment installs mcp-lok in editable mode. Its `.pth` file imports a
finder at every interpreter start — `python3 -c pass` there loads pathlib, re, typing and
more, about 10 ms — so start-up ratios measured there are flattered. `wheel_venv()` builds a
wheel from the working tree, installs it with `--no-deps` into `target/bench/wheel-venv`
together with click (the one library the `policy` commands import, at the version the
development environment has) and returns that environment's `bin` folder.

The environment is made once; the wheel is rebuilt and reinstalled on every call, so what
is measured is the code in the tree. Needs the package index once, for click and for the
build back end (as `pip install .` does).
"""

from __future__ import annotations

import subprocess
import sys
import venv
from importlib.metadata import version
from pathlib import Path

from benchlib import REPO

ROOT = REPO / "target" / "bench"
VENV = ROOT / "wheel-venv"
WHEELS = ROOT / "wheels"


def _pip(python: Path | str, *args: str) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "-q", *args],
        check=True,
        timeout=600,
    )


def wheel_venv() -> Path:
    """Build the tree's wheel, install it in the bench environment, return its `bin`."""
    bindir = VENV / "bin"
    if not (bindir / "python").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        _pip(bindir / "python", "install", "--no-deps", f"click=={version('click')}")
    for old in WHEELS.glob("mcp_lok-*.whl"):
        old.unlink()
    _pip(sys.executable, "wheel", "--no-deps", "-w", str(WHEELS), str(REPO))
    (wheel,) = WHEELS.glob("mcp_lok-*.whl")
    _pip(bindir / "python", "install", "--no-deps", "--force-reinstall", str(wheel))
    return bindir


if __name__ == "__main__":
    print(wheel_venv())
