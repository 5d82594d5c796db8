"""The Python base's root filesystem: Debian bookworm by `debootstrap`, as a cached tarball.

The recipe (suite, variant, the Debian packages, what is pruned, the image config set at
import) and its content key live here, once: `mcp-lok base build` (`base.py`) imports the
tarball into an engine, and the developer script that builds the test images loads this
very file. Stdlib only, and no import from its package, for that reason: errors are a
`RootfsError` of its own, which the product maps to a `LokError`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# Bump to rebuild every image when the recipe changes in a way the hashed inputs cannot see.
RECIPE_VERSION = "1"

SUITE = "bookworm"
VARIANT = "minbase"
ARCH = "amd64"
MIRROR_VARIABLE = "MCP_LOK_DEBIAN_MIRROR"
MIRROR = "http://deb.debian.org/debian"
# Debian packages added to the minbase: the interpreter every uvx:// image runs, the zone
# database and the CA bundle. Changing the list changes the base's tag.
PACKAGES = ("python3", "tzdata", "ca-certificates")
# Removed from the rootfs after debootstrap: package caches and indexes, docs, logs, and
# the host's resolv.conf/hostname that debootstrap copies in (the engines bind their own).
PRUNE = (
    "var/lib/apt/lists/*",
    "var/cache/apt/*.bin",
    "var/cache/apt/archives/*.deb",
    "var/cache/apt/archives/partial/*",
    "var/cache/debconf/*-old",
    "var/lib/dpkg/*-old",
    "var/log/*",
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/locale/*",
    "usr/share/lintian/*",
    "etc/resolv.conf",
    "etc/hostname",
    "tmp/*",
    "dev/*",
)
# The image config set at import (`import --change`).
CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV PYTHONDONTWRITEBYTECODE=1",
    "ENV PYTHONUNBUFFERED=1",
    'CMD ["python3"]',
)
BASE_REPOSITORY = "mcp-lok/base"
INPUTS_LABEL = "io.mcp-lok.inputs"  # the full content key an image was built from


class RootfsError(Exception):
    """debootstrap is missing or failed."""


def sha256_json(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def rootfs_key() -> str:
    """The inputs of the tarball (not the mirror: the same suite gives the same content)."""
    return sha256_json(
        {
            "suite": SUITE,
            "variant": VARIANT,
            "arch": ARCH,
            "include": list(PACKAGES),
            "prune": list(PRUNE),
            "recipe": RECIPE_VERSION,
        }
    )


def base_key() -> str:
    """The base image's content key: its tarball's and the config set at import."""
    return sha256_json({"rootfs": rootfs_key(), "changes": list(CHANGES), "recipe": RECIPE_VERSION})


def base_tag() -> str:
    return base_key()[:12]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`, for builds by several processes at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_tarball(cache: Path, log: Callable[[str], None]) -> Path:
    """The cached rootfs tarball under `cache`; debootstrap runs only when it is missing."""
    tar = cache / "rootfs" / f"{SUITE}-{VARIANT}-{rootfs_key()[:16]}.tar"
    with file_lock(cache / "rootfs" / ".lock"):
        if tar.exists():
            log(f"base: cached rootfs {tar} ({tar.stat().st_size // 2**20} MiB)")
            return tar
        if shutil.which("debootstrap") is None:
            raise RootfsError("debootstrap is not installed")
        work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=tar.parent))
        try:
            _debootstrap(work / "rootfs", work / "debootstrap.log", log)
            part = tar.with_suffix(".tar.part")
            # --numeric-owner: ids as in the rootfs, whatever the host's names
            argv = ["tar", "--numeric-owner", "-C", str(work / "rootfs"), "-cf", str(part), "."]
            # a fixed argv, tar from PATH as debootstrap itself uses it
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)  # noqa: S603
            part.rename(tar)
            log(f"base: rootfs tarball {tar} ({tar.stat().st_size // 2**20} MiB)")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return tar


def _debootstrap(root: Path, logfile: Path, log: Callable[[str], None]) -> None:
    mirror = os.environ.get(MIRROR_VARIABLE, MIRROR)
    started = time.monotonic()
    log(f"base: debootstrap --variant={VARIANT} {SUITE} from {mirror} (once per machine)")
    command = [
        "debootstrap",
        f"--variant={VARIANT}",
        "--include=" + ",".join(PACKAGES),
        f"--arch={ARCH}",
        SUITE,
        str(root),
        mirror,
    ]
    with open(logfile, "w") as out:
        # a fixed argv: the suite, the packages and the folder are this module's own
        done = subprocess.run(  # noqa: S603
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=False
        )
    if done.returncode != 0:
        tail = logfile.read_text(errors="replace").splitlines()[-25:]
        raise RootfsError("debootstrap failed:\n" + "\n".join(tail))
    log(f"base: debootstrap done in {time.monotonic() - started:.0f}s; pruning")
    for pattern in PRUNE:
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    root.chmod(0o755)  # the image's "/": any uid must be able to traverse it
    (root / "tmp").chmod(0o1777)
