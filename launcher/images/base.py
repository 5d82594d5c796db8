"""The Python base every `uvx://` image is built on: reused when the engine has it, else
made from Debian packages (`rootfs.py`) and imported.

Its tag is its content key (`rootfs.base_tag`), so a base built by an older recipe is never
taken for the current one. Where no registry is reachable (this project's machines), this
is the only way to a base; debootstrap needs root.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mcp_lok.launcher.engine import EngineClient
from mcp_lok.launcher.errors import LokError

from . import rootfs, store

CACHE_VARIABLE = "MCP_LOK_CACHE_DIR"


@dataclass(frozen=True)
class Base:
    """The base on one engine: its name there, and its content key."""

    ref: str
    key: str

    @property
    def name(self) -> str:
        """Its name on any engine (what the SBOM records)."""
        return f"{rootfs.BASE_REPOSITORY}:{self.key[:12]}"


def cache_dir() -> Path:
    """Where the rootfs tarball is kept: MCP_LOK_CACHE_DIR, else /var/cache/mcp-lok for
    root (shared with the test images' build), else the user's cache folder."""
    if given := os.environ.get(CACHE_VARIABLE):
        return Path(given)
    if os.geteuid() == 0:
        return Path("/var/cache/mcp-lok")
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(home) / "mcp-lok"


def current(engine: EngineClient) -> Base:
    """The current recipe's base, as `engine` names it (whether it has it or not)."""
    return Base(store.ref(engine, rootfs.BASE_REPOSITORY, rootfs.base_tag()), rootfs.base_key())


def ensure(
    engine: EngineClient, progress: Callable[[str], None], force: bool = False
) -> tuple[Base, bool]:
    """The base on `engine`, built when it is missing (or `force`), saying how it goes to
    `progress`; whether it was built."""
    base = current(engine)
    if not force and store.inspect(engine, base.ref) is not None:
        return base, False
    if os.geteuid() != 0:
        raise LokError(
            f"the base image `{base.ref}` is missing, and building it needs root (debootstrap)",
            hint="build it once with `sudo mcp-lok base build`",
        )
    try:
        tar = rootfs.ensure_tarball(cache_dir(), progress)
    except rootfs.RootfsError as error:
        raise LokError(
            f"cannot build the base image: {error}",
            hint="install Debian's `debootstrap` (apt-get install debootstrap)",
        ) from None
    changes = [*rootfs.CHANGES, f"LABEL {rootfs.INPUTS_LABEL}={base.key}"]
    store.import_rootfs(engine, str(tar), rootfs.BASE_REPOSITORY, rootfs.base_tag(), changes)
    progress(f"base: imported {base.ref}")
    return base, True
