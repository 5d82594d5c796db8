#!/usr/bin/env python3
"""Build mcp-lok's test images for Docker and/or Podman, with no registry.

Images (all tagged ``:<inputs-hash>`` and ``:latest``):

  mcp-lok/base              Debian bookworm minbase rootfs (debootstrap) with
                            python3, tzdata, ca-certificates, imported with
                            ``docker import`` / ``podman import``.
  mcp-lok/mcp-server-time   the PyPI server ``mcp-server-time`` over stdio.
  mcp-lok/http-test-server  images/http-test-server/server.py (official SDK).
  mcp-lok/conformance-server images/conformance-server/server.py (official SDK):
                            what the MCP conformance suite's server scenarios call.
  mcp-lok/gate              proxy/gate/ (stdlib only) on the base image, with the
                            modules it shares with policy/ (SHARED).

Python packages are resolved on the host (``pip install --target`` for CPython
3.11 / manylinux x86_64, hash-checked against images/*/requirements.txt) and
only COPY'd into the image; builds run with ``--network none``.

Caching: every image's tag is a hash of its inputs (its files under images/,
the base's hash, the recipe below). If an image with that tag exists in an
engine, it is not rebuilt there; ``:latest`` is re-pointed at it. The
debootstrap rootfs tarball is cached under the cache dir keyed by its own
inputs, so debootstrap runs once per machine.

Usage:
  scripts/build_images.py [--engine docker|podman|all] [--print-tags]
                          [--only NAME ...] [--force] [--cache-dir DIR]
  scripts/build_images.py --relock [--only NAME ...]  # regenerate images/*/requirements.txt

Progress goes to stderr. stdout is empty unless --print-tags, which prints one
image reference (``mcp-lok/<name>:<hash>``) per line; the references are the
same for both engines.
Stdlib only; runs as root (debootstrap needs it).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "images"


def _product(name: str) -> ModuleType:
    """One of mcp-lok's own stdlib-only modules (launcher/images/), loaded by its path: the
    recipe of the base and the pip target live there once, for this script and the product."""
    spec = importlib.util.spec_from_file_location(
        f"mcp_lok_images_{name}", REPO / "launcher" / "images" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ROOTFS = _product("rootfs")
WHEELS = _product("wheels")
RECIPE_VERSION = ROOTFS.RECIPE_VERSION
PIP_TARGET_ARGS = WHEELS.TARGET_ARGS
SOCKETS = {"docker": "/var/run/docker.sock", "podman": "/run/podman/podman.sock"}
sha256_json = ROOTFS.sha256_json
file_lock = ROOTFS.file_lock

# Images built from images/<name>/Dockerfile (all FROM mcp-lok/base). Python
# wheels are installed into the context only if images/<name>/requirements.txt
# exists.
APP_IMAGES = ["mcp-server-time", "http-test-server", "conformance-server", "gate"]
ALL_IMAGES = ["base", *APP_IMAGES]
# Modules the gate shares with mcp-lok (stdlib only): the very files, copied into the
# gate's package over the stand-ins that proxy/gate/ holds for them in the repository
# (which re-export them there). tests/unit/proxy/test_gate_shared.py checks both.
SHARED = {
    "hosts.py": REPO / "policy" / "hosts.py",
    "gate_config.py": REPO / "policy" / "gate_config.py",
    "tasks.py": REPO / "proxy" / "tasks.py",
}
# Files copied into a build context from elsewhere in the repo, which stays
# their one source of truth (context name -> repo path), in this order. Hashed like
# the rest. A folder is copied whole (its files hashed one by one), without bytecode
# caches.
EXTRA_FILES = {
    "gate": {
        "mcp_lok_gate": REPO / "proxy" / "gate",
        **{f"mcp_lok_gate/{name}": path for name, path in SHARED.items()},
    }
}


def log(msg: str) -> None:
    print(f"build-images: {msg}", file=sys.stderr, flush=True)


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    capture: bool = False,
    check: bool = True,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command; its stdout goes to our stderr unless captured."""
    res = subprocess.run(
        cmd,
        env=env,
        cwd=cwd,
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else sys.stderr,
        stderr=subprocess.PIPE if capture else None,
    )
    if check and res.returncode != 0:
        detail = f"\n{res.stderr.strip()}" if capture and res.stderr else ""
        raise SystemExit(
            f"build-images: ERROR: command failed ({res.returncode}): {' '.join(cmd)}{detail}"
        )
    return res


def hash_tree(root: Path) -> list[list[str]]:
    """(relative path, mode bit x, sha256) for every file under root, sorted."""
    out = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        out.append(
            [path.relative_to(root).as_posix(), "x" if os.access(path, os.X_OK) else "-", digest]
        )
    return out


def socket_answers(path: str) -> bool:
    """True if the engine socket answers GET /version with 200."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(path)
            s.sendall(b"GET /version HTTP/1.0\r\nHost: localhost\r\n\r\n")
            head = s.recv(64)
    except OSError:
        return False
    return head.startswith(b"HTTP/1.") and b" 200 " in head[:16]


# --- engines ----------------------------------------------------------------
class Engine:
    """The CLI of one engine. Docker's CLI talks to the socket; Podman's CLI
    works on the same storage as the service behind /run/podman/podman.sock."""

    def __init__(self, name: str):
        self.name = name
        self.env = dict(os.environ)
        if name == "docker":
            self.env["DOCKER_HOST"] = "unix://" + SOCKETS["docker"]
            # Docker 20.10 daemons build with the classic builder; newer docker
            # CLIs without the buildx plugin would otherwise warn or fail.
            self.env["DOCKER_BUILDKIT"] = "0"

    def ref(self, repo: str, tag: str) -> str:
        # Podman stores unqualified names as localhost/<name>; say so, so it
        # never tries a registry. Its compat API and CLI resolve both forms.
        return f"localhost/{repo}:{tag}" if self.name == "podman" else f"{repo}:{tag}"

    def cli(
        self, *args: str, capture: bool = False, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run([self.name, *args], env=self.env, capture=capture, check=check)

    def exists(self, ref: str) -> bool:
        if self.name == "podman":
            return self.cli("image", "exists", ref, capture=True, check=False).returncode == 0
        return (
            self.cli(
                "image", "inspect", "--format", "{{.Id}}", ref, capture=True, check=False
            ).returncode
            == 0
        )

    def image_id(self, ref: str) -> str:
        return self.cli("image", "inspect", "--format", "{{.Id}}", ref, capture=True).stdout.strip()

    def size(self, ref: str) -> int:
        return int(
            self.cli("image", "inspect", "--format", "{{.Size}}", ref, capture=True).stdout.strip()
        )

    def tag(self, src: str, dst: str) -> None:
        self.cli("tag", src, dst, capture=True)

    def import_tar(self, tar: Path, ref: str, changes: list[str], label: str) -> None:
        args = ["import"]
        for change in [*changes, f"LABEL io.mcp-lok.inputs={label}"]:
            args += ["--change", change]
        if self.name == "podman":
            args.append("--quiet")
        self.cli(*args, str(tar), ref, capture=True)

    def build(self, context: Path, ref: str, build_args: dict[str, str], label: str) -> None:
        args = ["build", "--network", "none", "--tag", ref, "--label", f"io.mcp-lok.inputs={label}"]
        if self.name == "podman":
            # Never look at a registry for FROM; the base is local.
            args += ["--pull=never", "--quiet"]
        else:
            args += ["--quiet"]
        for key, value in build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        args += ["--file", str(context / "Dockerfile"), str(context)]
        self.cli(*args, capture=True)


# --- base -------------------------------------------------------------------
@dataclass
class Built:
    name: str
    repo: str
    tag: str


def ensure_rootfs_tar(cache: Path) -> Path:
    try:
        return ROOTFS.ensure_tarball(cache, log)
    except ROOTFS.RootfsError as error:
        raise SystemExit(f"build-images: ERROR: {error} (run scripts/ensure-engines.sh)") from None


def build_base(engines: list[Engine], cache: Path, force: bool) -> Built:
    key = ROOTFS.base_key()
    tag = ROOTFS.base_tag()
    repo = ROOTFS.BASE_REPOSITORY
    tar: Path | None = None
    for eng in engines:
        ref = eng.ref(repo, tag)
        if eng.exists(ref) and not force:
            log(f"{eng.name}: {repo}:{tag} up to date")
        else:
            tar = tar or ensure_rootfs_tar(cache)
            t0 = time.monotonic()
            eng.import_tar(tar, ref, list(ROOTFS.CHANGES), key)
            log(f"{eng.name}: imported {repo}:{tag} in {time.monotonic() - t0:.1f}s")
        eng.tag(ref, eng.ref(repo, "latest"))
    return Built("base", repo, tag)


# --- python images ----------------------------------------------------------
def pip(*args: str) -> str:
    try:
        out: str = WHEELS.pip(*args)
    except WHEELS.PipError as error:
        raise SystemExit(f"build-images: ERROR: {error}\n{error.stderr}") from None
    return out


def pip_install_target(requirements: Path, target: Path) -> None:
    """Install the hashed lock into target for bookworm's CPython, from the host."""
    try:
        WHEELS.install_target(requirements, target)
    except WHEELS.PipError as error:
        raise SystemExit(f"build-images: ERROR: {error}\n{error.stderr}") from None


def app_key(name: str, base: Built) -> str:
    """Hash of everything that goes into an app image."""
    inputs: dict[str, object] = {
        "base": base.tag,
        "files": hash_tree(IMAGES / name),
        "pip": PIP_TARGET_ARGS,
        "recipe": RECIPE_VERSION,
    }
    extras = EXTRA_FILES.get(name, {})
    if extras:
        inputs["extra"] = {d: _extra_hash(p) for d, p in extras.items()}
    return sha256_json(inputs)


def _extra_hash(path: Path) -> str:
    if not path.is_dir():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    files = sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    return sha256_json(
        {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    )


def make_context(name: str, ctx: Path) -> None:
    """images/<name>/ + extra files + site-packages/ (if it has requirements.txt)."""
    src = IMAGES / name
    t0 = time.monotonic()
    shutil.copytree(src, ctx, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for dst, extra in EXTRA_FILES.get(name, {}).items():
        if extra.is_dir():
            shutil.copytree(extra, ctx / dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            for copied in (ctx / dst).rglob("*"):
                copied.chmod(0o755 if copied.is_dir() else 0o644)
            continue
        shutil.copyfile(extra, ctx / dst)
        (ctx / dst).chmod(0o644)
    if (src / "requirements.txt").exists():
        pip_install_target(src / "requirements.txt", ctx / "site-packages")
        log(f"{name}: resolved wheels into the build context in {time.monotonic() - t0:.1f}s")
    (ctx / ".complete").touch()


def build_app(name: str, base: Built, engines: list[Engine], cache: Path, force: bool) -> Built:
    key = app_key(name, base)
    tag = key[:12]
    repo = f"mcp-lok/{name}"
    todo = [e for e in engines if force or not e.exists(e.ref(repo, tag))]
    for eng in engines:
        if eng not in todo:
            log(f"{eng.name}: {repo}:{tag} up to date")
    if todo:
        ctx = cache / "build" / f"{name}-{tag}"
        with file_lock(cache / "build" / f".{name}.lock"):
            if not (ctx / ".complete").exists():
                # Contexts of older input hashes are no longer needed.
                for stale in ctx.parent.glob(f"{name}-*"):
                    shutil.rmtree(stale, ignore_errors=True)
                make_context(name, ctx)
            for eng in todo:
                t0 = time.monotonic()
                eng.build(ctx, eng.ref(repo, tag), {"BASE": eng.ref(base.repo, base.tag)}, key)
                log(f"{eng.name}: built {repo}:{tag} in {time.monotonic() - t0:.1f}s")
    for eng in engines:
        eng.tag(eng.ref(repo, tag), eng.ref(repo, "latest"))
    return Built(name, repo, tag)


# --- relock -----------------------------------------------------------------
def relock(names: list[str]) -> None:
    """Resolve images/<name>/requirements.in for the target platform and write
    requirements.txt with exact pins and sha256 hashes of the chosen wheels."""
    for name in names:
        src = IMAGES / name / "requirements.in"
        if not src.exists():
            continue
        try:
            items = WHEELS.report(["-r", str(src)])
            lines = WHEELS.lock_lines(items)
        except WHEELS.PipError as error:
            raise SystemExit(f"build-images: ERROR: {error}\n{error.stderr}") from None
        header = [
            "# Generated by scripts/build_images.py --relock from requirements.in; do not edit.",
            f"# Target: {WHEELS.TARGET} (Debian {ROOTFS.SUITE}).",
        ]
        (IMAGES / name / "requirements.txt").write_text(WHEELS.lock_text(lines, header))
        log(f"{name}: wrote requirements.txt ({len(lines)} packages)")


# --- main -------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--engine", choices=["docker", "podman", "all"], default="all")
    ap.add_argument(
        "--print-tags", action="store_true", help="print the image references on stdout"
    )
    ap.add_argument(
        "--only", nargs="+", choices=ALL_IMAGES, help="build only these (and their base)"
    )
    ap.add_argument("--force", action="store_true", help="rebuild even if the tagged image exists")
    ap.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("MCP_LOK_CACHE_DIR", "/var/cache/mcp-lok")),
    )
    ap.add_argument(
        "--relock",
        action="store_true",
        help="regenerate images/*/requirements.txt (of --only's images, if given) and exit",
    )
    return ap.parse_args()


def select_engines(choice: str) -> list[Engine]:
    """The engines to build for: each one named, if its socket answers."""
    engines = []
    for name in ["docker", "podman"] if choice == "all" else [choice]:
        if not socket_answers(SOCKETS[name]):
            msg = f"{name}: {SOCKETS[name]} does not answer"
            if choice != "all":
                raise SystemExit(f"build-images: ERROR: {msg} (run scripts/ensure-engines.sh)")
            log(f"{msg}; skipping {name}")
            continue
        if shutil.which(name) is None:
            raise SystemExit(f"build-images: ERROR: {name} CLI not found")
        engines.append(Engine(name))
    if not engines:
        raise SystemExit("build-images: ERROR: no engine answers (run scripts/ensure-engines.sh)")
    return engines


def main() -> int:
    args = parse_args()
    if args.relock:
        relock(args.only or APP_IMAGES)
        return 0
    if platform.machine() != "x86_64":
        raise SystemExit("build-images: ERROR: only x86_64 hosts are supported (wheels target it)")
    if os.geteuid() != 0:
        raise SystemExit("build-images: ERROR: run as root (debootstrap and the sockets need it)")

    t_start = time.monotonic()
    engines = select_engines(args.engine)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    built = [build_base(engines, args.cache_dir, args.force)]
    for name in APP_IMAGES:
        if name not in (args.only or APP_IMAGES):
            continue
        if not (IMAGES / name / "Dockerfile").exists():
            log(f"{name}: no images/{name}/Dockerfile; skipped")
            continue
        built.append(build_app(name, built[0], engines, args.cache_dir, args.force))

    for eng in engines:
        for b in built:
            size = eng.size(eng.ref(b.repo, b.tag))
            log(f"{eng.name}: {b.repo}:{b.tag} (:latest) {size / 1e6:.0f} MB")
    log(f"done in {time.monotonic() - t_start:.1f}s")
    if args.print_tags:
        for b in built:
            print(f"{b.repo}:{b.tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
