"""Python packages for the base's interpreter, resolved and unpacked on the host by pip.

The target is Debian bookworm's CPython 3.11 (glibc 2.36) on x86_64, wheels only: nothing a
package ships is built or run. The host's pip does the work, with the host's own
configuration (index, CA bundle), so that no package manager runs in an image. Stdlib only,
and no import from its package: the developer script that builds the test images loads
this very file, and errors are a `PipError` of its own, which the product maps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PY_VERSION = "3.11"
PY_ABI = "cp311"
TARGET = "CPython 3.11 on manylinux x86_64"
# pip 23 does not expand manylinux_2_X tags below X by itself: all are listed, most
# specific first
PLATFORMS = [f"manylinux_2_{m}_x86_64" for m in range(36, 16, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]
TARGET_ARGS = [
    "--only-binary=:all:",
    "--implementation", "cp",
    "--python-version", PY_VERSION,
    "--abi", PY_ABI,
    *[arg for p in PLATFORMS for arg in ("--platform", p)],
]  # fmt: skip
# how a resolved package's name (PEP 508), version (PEP 440's characters) and hash are spelt
NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]*")
SHA256 = re.compile(r"[0-9a-f]{64}")
# lines of this machine's pip configuration that are not about the work asked
NOISE = ("WARNING: Location 'file:", "WARNING: Running pip as the 'root' user")


class PipError(Exception):
    """pip could not do what it was asked; `stderr` holds what it said."""

    def __init__(self, command: str, stderr: str) -> None:
        super().__init__(f"pip {command} failed")
        self.command = command
        self.stderr = stderr


def pip(*args: str, python: str | None = None) -> str:
    """Run pip (the interpreter's own, with the host's configuration), quietly; returns its
    stdout; raises `PipError` with its stderr when it fails."""
    command, *rest = args
    done = subprocess.run(  # noqa: S603 - a fixed argv: the interpreter, pip, its options
        [
            python or sys.executable,
            "-m",
            "pip",
            command,
            "--disable-pip-version-check",
            *(["--root-user-action=ignore"] if command == "install" else []),
            *rest,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    stderr = "\n".join(ln for ln in done.stderr.splitlines() if not ln.startswith(NOISE))
    if done.returncode != 0:
        raise PipError(command, stderr)
    return done.stdout


def report(requirements: Sequence[str]) -> list[dict[str, Any]]:
    """pip's installation report for `requirements` (pip's `-r FILE` or requirement
    strings) on the target: every package of the tree, pinned, with the index's hashes.
    Nothing is installed nor built."""
    with tempfile.TemporaryDirectory(prefix="mcp-lok-resolve-") as folder:
        out = Path(folder) / "report.json"
        pip(
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--target",
            str(Path(folder) / "target"),
            "--report",
            str(out),
            *TARGET_ARGS,
            *requirements,
        )
        items: list[dict[str, Any]] = json.loads(out.read_text())["install"]
    return items


def install_target(requirements: Path, target: Path) -> None:
    """Unpack the hashed lock `requirements` (every package pinned, with its sha256) into
    `target` for the target interpreter. pip checks every hash; wheels run nothing."""
    old = os.umask(0o022)  # files must be readable by the container's uid
    try:
        pip(
            "install",
            "--quiet",
            "--no-warn-conflicts",
            "--no-compile",
            "--no-deps",
            "--require-hashes",
            "--target",
            str(target),
            *TARGET_ARGS,
            "-r",
            str(requirements),
        )
    finally:
        os.umask(old)
    # console scripts carry the host interpreter's path: the image runs its own
    shutil.rmtree(target / "bin", ignore_errors=True)


def lock_lines(items: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(name, version, sha256) of each package of a report, by name. Raises `PipError`
    for a package the index gave no sha256 for (nothing unhashed goes in), or whose name,
    version or hash is not spelt as they are spelt (they are written into a requirements
    file, labels and the SBOM: a package's own metadata may not add a line or an option)."""
    found = []
    for item in sorted(items, key=lambda i: str(i["metadata"]["name"]).lower()):
        meta, info = item["metadata"], item["download_info"]
        name, version = str(meta["name"]), str(meta["version"])
        digest = str(info.get("archive_info", {}).get("hashes", {}).get("sha256") or "")
        if not digest:
            raise PipError("install", f"no sha256 for {name} ({info.get('url')})")
        if not (NAME.fullmatch(name) and VERSION.fullmatch(version) and SHA256.fullmatch(digest)):
            raise PipError("install", f"the index describes a package as {name!r} {version!r}")
        found.append((name, version, digest))
    return found


def lock_text(lines: Sequence[tuple[str, str, str]], header: Sequence[str] = ()) -> str:
    """A requirements file pip installs with `--require-hashes`."""
    body = [f"{name}=={version} \\\n    --hash=sha256:{digest}" for name, version, digest in lines]
    return "\n".join([*header, *body]) + "\n"
