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
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "images"

# Bump to force every image to rebuild when the recipe in this file changes in
# a way the hashed inputs cannot see.
RECIPE_VERSION = "1"

SOCKETS = {"docker": "/var/run/docker.sock", "podman": "/run/podman/podman.sock"}

# --- base rootfs ------------------------------------------------------------
SUITE = "bookworm"
VARIANT = "minbase"
MIRROR = os.environ.get("MCP_LOK_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Removed from the rootfs after debootstrap: package caches and indexes, docs,
# logs, and the host's resolv.conf/hostname that debootstrap copies in (the
# engines bind-mount their own).
ROOTFS_PRUNE = [
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
]
# Image config set at import time (docker/podman import --change).
BASE_CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV PYTHONDONTWRITEBYTECODE=1",
    "ENV PYTHONUNBUFFERED=1",
    'CMD ["python3"]',
]

# --- python packages --------------------------------------------------------
# The target interpreter is Debian bookworm's CPython 3.11 (glibc 2.36). pip
# 23 does not expand manylinux_2_X tags below X by itself, so list them all,
# most specific first.
PY_VERSION = "3.11"
PY_ABI = "cp311"
PLATFORMS = [f"manylinux_2_{m}_x86_64" for m in range(36, 16, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]
PIP_TARGET_ARGS = [
    "--only-binary=:all:",
    "--implementation", "cp",
    "--python-version", PY_VERSION,
    "--abi", PY_ABI,
    *[arg for p in PLATFORMS for arg in ("--platform", p)],
]  # fmt: skip

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


def sha256_json(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def hash_tree(root: Path) -> list[list[str]]:
    """(relative path, mode bit x, sha256) for every file under root, sorted."""
    out = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        out.append(
            [path.relative_to(root).as_posix(), "x" if os.access(path, os.X_OK) else "-", digest]
        )
    return out


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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


def base_packages() -> list[str]:
    lines = (IMAGES / "base" / "packages.txt").read_text().splitlines()
    return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]


def rootfs_key() -> str:
    """Inputs of the debootstrap tarball (not the mirror: same suite, same content)."""
    return sha256_json(
        {
            "suite": SUITE,
            "variant": VARIANT,
            "arch": "amd64",
            "include": base_packages(),
            "prune": ROOTFS_PRUNE,
            "recipe": RECIPE_VERSION,
        }
    )


def ensure_rootfs_tar(cache: Path) -> Path:
    """The cached rootfs tarball; run debootstrap only if it is missing."""
    key = rootfs_key()[:16]
    tar = cache / "rootfs" / f"{SUITE}-{VARIANT}-{key}.tar"
    with file_lock(cache / "rootfs" / ".lock"):
        if tar.exists():
            log(f"base: cached rootfs {tar} ({tar.stat().st_size // 2**20} MiB)")
            return tar
        if shutil.which("debootstrap") is None:
            raise SystemExit(
                "build-images: ERROR: debootstrap not found (run scripts/ensure-engines.sh)"
            )
        work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=tar.parent))
        root = work / "rootfs"
        try:
            t0 = time.monotonic()
            log(f"base: debootstrap --variant={VARIANT} {SUITE} from {MIRROR} (once per machine)")
            dlog = work / "debootstrap.log"
            with open(dlog, "w") as fh:
                res = subprocess.run(
                    [
                        "debootstrap",
                        f"--variant={VARIANT}",
                        "--include=" + ",".join(base_packages()),
                        "--arch=amd64",
                        SUITE,
                        str(root),
                        MIRROR,
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                )
            if res.returncode != 0:
                tail = dlog.read_text(errors="replace").splitlines()[-25:]
                raise SystemExit("build-images: ERROR: debootstrap failed:\n" + "\n".join(tail))
            log(f"base: debootstrap done in {time.monotonic() - t0:.0f}s; pruning")
            for pattern in ROOTFS_PRUNE:
                for path in root.glob(pattern):
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
            root.chmod(0o755)  # the image's "/": any uid must be able to traverse it
            (root / "tmp").chmod(0o1777)
            part = tar.with_suffix(".tar.part")
            # --numeric-owner: ids as in the rootfs, whatever the host's names.
            run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(part), "."])
            part.rename(tar)
            log(f"base: rootfs tarball {tar} ({tar.stat().st_size // 2**20} MiB)")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return tar


def build_base(engines: list[Engine], cache: Path, force: bool) -> Built:
    key = sha256_json({"rootfs": rootfs_key(), "changes": BASE_CHANGES, "recipe": RECIPE_VERSION})
    tag = key[:12]
    repo = "mcp-lok/base"
    tar: Path | None = None
    for eng in engines:
        ref = eng.ref(repo, tag)
        if eng.exists(ref) and not force:
            log(f"{eng.name}: {repo}:{tag} up to date")
        else:
            tar = tar or ensure_rootfs_tar(cache)
            t0 = time.monotonic()
            eng.import_tar(tar, ref, BASE_CHANGES, key)
            log(f"{eng.name}: imported {repo}:{tag} in {time.monotonic() - t0:.1f}s")
        eng.tag(ref, eng.ref(repo, "latest"))
    return Built("base", repo, tag)


# --- python images ----------------------------------------------------------
def pip(*args: str) -> None:
    """Run the host's pip (its config — CA bundle, index mirrors — applies),
    dropping the warnings this machine's index config prints for every package."""
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            *args[:1],
            "--quiet",
            "--disable-pip-version-check",
            "--root-user-action=ignore",
            *args[1:],
        ],
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr,
        stderr=subprocess.PIPE,
        text=True,
    )
    noise = ("WARNING: Location 'file:", "WARNING: Running pip as the 'root' user")
    for line in res.stderr.splitlines():
        if not line.startswith(noise):
            print(line, file=sys.stderr)
    if res.returncode != 0:
        raise SystemExit(f"build-images: ERROR: pip {args[0]} failed ({res.returncode})")


def pip_install_target(requirements: Path, target: Path) -> None:
    """Install the hashed lock into target for bookworm's CPython, from the host."""
    old = os.umask(0o022)  # files must be readable by the container's uid
    try:
        pip(
            "install",
            "--no-warn-conflicts",
            "--no-compile",
            "--require-hashes",
            "--target",
            str(target),
            *PIP_TARGET_ARGS,
            "-r",
            str(requirements),
        )
    finally:
        os.umask(old)
    # Console scripts carry the host interpreter's path; the image runs modules.
    shutil.rmtree(target / "bin", ignore_errors=True)


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
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.json"
            pip(
                "install",
                "--dry-run",
                "--ignore-installed",
                "--target",
                str(Path(tmp) / "t"),
                "--report",
                str(report),
                *PIP_TARGET_ARGS,
                "-r",
                str(src),
            )
            items = json.loads(report.read_text())["install"]
        lines = [
            "# Generated by scripts/build_images.py --relock from requirements.in; do not edit.",
            f"# Target: CPython {PY_VERSION} ({PY_ABI}), manylinux x86_64 (Debian {SUITE}).",
        ]
        for item in sorted(items, key=lambda i: i["metadata"]["name"].lower()):
            meta, info = item["metadata"], item["download_info"]
            digest = info.get("archive_info", {}).get("hashes", {}).get("sha256")
            if not digest:
                raise SystemExit(
                    f"build-images: ERROR: no sha256 for {meta['name']} ({info.get('url')})"
                )
            lines.append(f"{meta['name']}=={meta['version']} \\\n    --hash=sha256:{digest}")
        (IMAGES / name / "requirements.txt").write_text("\n".join(lines) + "\n")
        log(f"{name}: wrote requirements.txt ({len(items)} packages)")


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
