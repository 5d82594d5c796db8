"""An image's build context, assembled on the host from a resolved tree: the packages
unpacked, the entry point's script, bytecode, the bill of materials, and a Dockerfile that
only copies them onto the base.

INVARIANT: nothing runs inside the image while it is built. The Dockerfile holds `FROM`,
`COPY`, `ENV`, `WORKDIR`, `USER`, `LABEL` and `ENTRYPOINT`, never `RUN`; the engine builds
it with no network (`store.build`). Bytecode is compiled on the host by a CPython 3.11 (the
base's) when there is one, with hashes rather than timestamps, since the image's root is
read-only when it runs.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mcp_lok.launcher.errors import LokError, UsageError

from . import sbom, wheels
from .resolve import Resolution

ROOT = "/opt/mcp-lok"
SITE = f"{ROOT}/site-packages"
BIN = f"{ROOT}/bin"
# a console script's object reference, `module.sub:attr.attr`: both parts go into Python
# code the image runs, so nothing but dotted identifiers is taken
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
SCRIPT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class EntryPointError(LokError):
    """The package has no console script to run, or not the one asked."""


@dataclass(frozen=True)
class EntryPoint:
    """A console script: its name, and the module and attribute it calls."""

    name: str
    module: str
    attribute: str

    def script(self) -> str:
        """The script the image runs, as pip would write it (minus the host's `#!`)."""
        head, _, rest = self.attribute.partition(".")
        call = f"{head}.{rest}()" if rest else f"{head}()"
        return f"import sys\nfrom {self.module} import {head}\nsys.exit({call})\n"


def entry_points(site: Path, project: str) -> list[EntryPoint]:
    """The console scripts the wheel of `project` declares, by name; one whose object
    reference is not plain dotted names is left out."""
    from .resolve import Pin  # the one spelling of a project's name

    found: list[EntryPoint] = []
    for dist in sorted(site.glob("*.dist-info")):
        name = dist.name.removesuffix(".dist-info").rpartition("-")[0]
        if Pin(name, "", "").project != project or not (dist / "entry_points.txt").is_file():
            continue
        parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # names keep their case
        parser.read_string((dist / "entry_points.txt").read_text(errors="replace"))
        if not parser.has_section("console_scripts"):
            continue
        for script, value in parser.items("console_scripts"):
            module, _, attribute = value.split("[", 1)[0].strip().partition(":")
            if (
                SCRIPT_NAME.fullmatch(script)
                and MODULE.fullmatch(module)
                and MODULE.fullmatch(attribute)
            ):
                found.append(EntryPoint(script, module, attribute))
    return sorted(found, key=lambda e: e.name)


def choose(found: list[EntryPoint], wanted: str | None, project: str) -> EntryPoint:
    """The console script to run: `wanted`, or the only one; else an error naming them."""
    names = ", ".join(f"`{e.name}`" for e in found)
    if not found:
        raise EntryPointError(
            f"`{project}` declares no console script to run",
            hint="mcp-lok runs a package by one of its own console scripts; this package "
            "has none (a library, or a server started another way)",
        )
    if wanted is not None:
        for entry in found:
            if entry.name == wanted:
                return entry
        raise UsageError.of(
            "entrypoint", f"`{project}` has no console script `{wanted}`", f"it has {names}"
        )
    if len(found) > 1:
        raise UsageError.of(
            "entrypoint",
            f"`{project}` has {len(found)} console scripts: {names}",
            "choose one with `--entrypoint NAME`",
        )
    return found[0]


def unpack(resolution: Resolution, context: Path) -> Path:
    """Every pinned wheel, hash-checked by pip, unpacked into `context`/site-packages."""
    lock = context / "requirements.lock"
    lock.write_text(resolution.lock())
    site = context / "site-packages"
    try:
        wheels.install_target(lock, site)
    except wheels.PipError as error:
        raise LokError(
            f"pip could not unpack `{resolution.pinned}`:\n{error.stderr.strip()[-1500:]}",
            hint="the index may have changed since it was resolved: try again with `--refresh`",
        ) from None
    lock.unlink()
    return site


def compile_bytecode(site: Path) -> bool:
    """Byte-compile `site` for the base's CPython 3.11, on the host; False when this host
    has no CPython 3.11 (the image then compiles nothing and starts a little slower)."""
    python = sys.executable if sys.version_info[:2] == (3, 11) else shutil.which("python3.11")
    if python is None:
        return False
    command = [python, "-m", "compileall", "-q", "-j", "0", "-d", SITE]
    command += ["--invalidation-mode", "unchecked-hash", str(site)]
    # a fixed argv: an interpreter of this host compiles (never runs) the unpacked files
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=False)  # noqa: S603
    return done.returncode == 0


def dockerfile(entry: EntryPoint, labels: Mapping[str, str]) -> str:
    """The build's recipe: copies and settings only (see the INVARIANT above). The base is
    a build argument, `BASE`, since each engine names it its own way."""
    lines = [
        "ARG BASE",
        "FROM ${BASE}",
        f"COPY site-packages/ {SITE}/",
        f"COPY bin/ {BIN}/",
        f"COPY sbom.cdx.json {sbom.PATH}",
        f"ENV PYTHONPATH={SITE} HOME=/tmp PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1",
        "WORKDIR /tmp",
        "USER 65534:65534",
        *(f"LABEL {key}={json.dumps(value)}" for key, value in sorted(labels.items())),
        f'ENTRYPOINT ["python3", "{BIN}/{entry.name}"]',
        "CMD []",
    ]
    return "\n".join(lines) + "\n"


def write_script(context: Path, entry: EntryPoint) -> tuple[str, str]:
    """The entry point's script in `context`/bin; its in-image path and sha256."""
    text = entry.script().encode()
    (context / "bin").mkdir()
    (context / "bin" / entry.name).write_bytes(text)
    return f"{BIN}/{entry.name}", hashlib.sha256(text).hexdigest()


def tar_context(context: Path, out: IO[bytes]) -> None:
    """`context` as the tar a build takes: root's, readable by all, no host names or times."""

    def normal(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 0
        executable = info.isdir() or info.mode & 0o111
        info.mode = 0o755 if executable else 0o644
        return info

    with tarfile.open(fileobj=out, mode="w") as tar:
        for path in sorted(context.iterdir()):
            tar.add(path, arcname=path.name, filter=normal)
