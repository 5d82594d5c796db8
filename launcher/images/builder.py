"""A package spec to a local image, in this order: the base, a warm image, resolve, build.

    base      the base on the engine, built from Debian packages when missing (`base.py`)
    warm      an image built before for the same spec as asked, on the current base (and
              the same `--entrypoint`, if one is asked): used as it is, without asking the
              index, unless `refresh`
    resolve   the pinned tree, on the host (`resolve.py`); its content key (spec, pins,
              base, entry point, recipe) is the image's tag, so an image with that tag is
              the same image and is used as it is
    build     unpack, choose the entry point, compile, write the SBOM, build with no
              network (`assembly.py`, `store.build`)

What was asked and what was resolved are the image's labels (`LABELS`); `images` lists
them and `rm` removes what this built.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mcp_lok.launcher.engine import EngineClient

from . import assembly, base, rootfs, sbom, store, wheels
from .resolve import Resolution, resolve
from .spec import PackageSpec

Progress = Callable[[str], None]

RECIPE = "1"  # bump when a change here changes what an image holds
SPEC_LABEL = "io.mcp-lok.spec"  # resolved: `uvx://NAME@VERSION`; every built image has it
REQUEST_LABEL = "io.mcp-lok.request"  # as asked, spelt one way (`PackageSpec.request`)
PACKAGES_LABEL = "io.mcp-lok.packages"  # JSON: {name: version} of the whole tree
ENTRYPOINT_LABEL = "io.mcp-lok.entrypoint"
BASE_LABEL = "io.mcp-lok.base"  # the base's content key
SBOM_LABEL = "io.mcp-lok.sbom"  # where the SBOM is, in the image
SBOM_HASH_LABEL = "io.mcp-lok.sbom-sha256"


@dataclass(frozen=True)
class Built:
    """An image of a package on one engine: its name there, what it was built from, and
    whether this call built it."""

    ref: str
    spec: str
    packages: dict[str, str]
    entrypoint: str
    built: bool = False


def repository(spec: PackageSpec) -> str:
    return f"mcp-lok/{spec.scheme}/{spec.project}"


def ensure(
    engine: EngineClient,
    spec: PackageSpec,
    progress: Progress,
    entrypoint: str | None = None,
    refresh: bool = False,
) -> Built:
    """The image of `spec` on `engine`, built when there is none (or `refresh`)."""
    current, _ = base.ensure(engine, progress)
    if not refresh:
        if (warm := find(engine, spec, current.key, entrypoint)) is not None:
            return warm
        if (kept := _kept(spec, current.key, entrypoint)) is not None:
            return _build(engine, spec, kept, progress)
    progress(f"resolving {spec.request} on the host (wheels for {wheels.TARGET})")
    started = time.monotonic()
    resolution = resolve(spec)
    progress(f"resolved {resolution.pinned}: {len(resolution.pins)} packages")
    with tempfile.TemporaryDirectory(prefix="mcp-lok-build-") as folder:
        context = Path(folder)
        site = assembly.unpack(resolution, context)
        chosen = assembly.choose(
            assembly.entry_points(site, spec.project), entrypoint, spec.project
        )
        key = content_key(resolution, current.key, chosen.name)
        ref = store.ref(engine, repository(spec), key[:16])
        if (found := store.inspect(engine, ref)) is not None:
            return described(ref, found)
        if not assembly.compile_bytecode(site):
            progress("no CPython 3.11 on this host: the image holds no bytecode")
        script = assembly.write_script(context, chosen)
        document = sbom.bom(resolution, key, current.name, (assembly.SITE, site), [script])
        (context / "sbom.cdx.json").write_bytes(sbom.render(document))
        labels = _labels(resolution, current.key, chosen.name, key, context)
        (context / "Dockerfile").write_text(assembly.dockerfile(chosen, labels))
        made = Built(ref, resolution.pinned, _packages(resolution), chosen.name, built=True)
        kept = _keep(context, made, key, spec, current.key, entrypoint)
    image = _build(engine, spec, kept, progress)
    progress(f"built {ref} in {time.monotonic() - started:.0f}s")
    return image


@dataclass(frozen=True)
class Kept:
    """A build context kept on the host (a tar, by content key), with what it holds: an
    image for another engine, or again after `images rm`, is built without resolving."""

    tar: Path
    key: str
    spec: str
    packages: dict[str, str]
    entrypoint: str


def _kept_record(spec: PackageSpec, base_key: str, entrypoint: str | None) -> Path:
    asked = rootfs.sha256_json([spec.request, base_key, entrypoint, RECIPE])
    return base.cache_dir() / "contexts" / f"{asked[:32]}.json"


def _kept(spec: PackageSpec, base_key: str, entrypoint: str | None) -> Kept | None:
    """The context kept for `spec` as asked, on this base, if it is still there."""
    try:
        record = json.loads(_kept_record(spec, base_key, entrypoint).read_text())
        kept = Kept(**{**record, "tar": Path(record["tar"])})
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return kept if kept.tar.is_file() else None


def _keep(
    context: Path,
    made: Built,
    key: str,
    spec: PackageSpec,
    base_key: str,
    entrypoint: str | None,
) -> Kept:
    """Tar `context` into the host's cache, and note it for `spec` as asked."""
    folder = base.cache_dir() / "contexts"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    tar = folder / f"{key[:32]}.tar"
    part = tar.with_suffix(f".part-{os.getpid()}")
    with open(part, "wb") as out:
        assembly.tar_context(context, out)
    part.rename(tar)
    record = _kept_record(spec, base_key, entrypoint)
    previous = _kept(spec, base_key, entrypoint)
    kept = Kept(tar, key, made.spec, made.packages, made.entrypoint)
    record.write_text(json.dumps({**asdict(kept), "tar": str(tar)}, sort_keys=True))
    if previous is not None and previous.tar != tar:
        previous.tar.unlink(missing_ok=True)  # one context kept per spec as asked
    return kept


def _build(engine: EngineClient, spec: PackageSpec, kept: Kept, progress: Progress) -> Built:
    """The image of the kept context on `engine`: the one there, or built now."""
    ref = store.ref(engine, repository(spec), kept.key[:16])
    if (found := store.inspect(engine, ref)) is not None:
        return described(ref, found)
    progress(f"building {ref} (no network)")
    with open(kept.tar, "rb") as tar:
        store.build(engine, tar, ref, {"BASE": base.current(engine).ref})
    return Built(ref, kept.spec, kept.packages, kept.entrypoint, built=True)


def content_key(resolution: Resolution, base_key: str, entrypoint: str) -> str:
    """Same spec, same pins, same base, same entry point: same key, same image."""
    return rootfs.sha256_json(
        {
            "spec": resolution.pinned,
            "pins": [[p.project, p.version, p.sha256] for p in resolution.pins],
            "base": base_key,
            "entrypoint": entrypoint,
            "recipe": RECIPE,
        }
    )


def find(
    engine: EngineClient, spec: PackageSpec, base_key: str, entrypoint: str | None
) -> Built | None:
    """The newest image built for `spec` as asked, on this base (and this entry point)."""
    candidates = [
        image
        for image in store.labelled(engine, REQUEST_LABEL)
        if (labels := image.get("Labels") or {}).get(REQUEST_LABEL) == spec.request
        and labels.get(BASE_LABEL) == base_key
        and entrypoint in (None, labels.get(ENTRYPOINT_LABEL))
        and image.get("RepoTags")
    ]
    if not candidates:
        return None
    newest = max(candidates, key=lambda i: int(i.get("Created") or 0))
    return described(str(newest["RepoTags"][0]), {"Config": {"Labels": newest["Labels"]}})


def described(ref: str, inspected: dict[str, Any]) -> Built:
    labels = (inspected.get("Config") or {}).get("Labels") or {}
    return Built(
        ref,
        str(labels.get(SPEC_LABEL, "")),
        packages_of(labels),
        str(labels.get(ENTRYPOINT_LABEL, "")),
    )


def package_of(engine: EngineClient, image: str) -> dict[str, Any] | None:
    """What `image` was built from, when mcp-lok built it: the spec as asked and resolved,
    every package's version, the entry point and the SBOM's path (None otherwise)."""
    labels = ((store.inspect(engine, image) or {}).get("Config") or {}).get("Labels") or {}
    if SPEC_LABEL not in labels:
        return None
    return {
        "spec": labels[SPEC_LABEL],
        "requested": labels.get(REQUEST_LABEL),
        "packages": packages_of(labels),
        "entrypoint": labels.get(ENTRYPOINT_LABEL),
        "sbom": labels.get(SBOM_LABEL),
    }


def packages_of(labels: dict[str, Any]) -> dict[str, str]:
    try:
        found = json.loads(str(labels.get(PACKAGES_LABEL) or "{}"))
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _packages(resolution: Resolution) -> dict[str, str]:
    return {p.project: p.version for p in resolution.pins}


def _labels(
    resolution: Resolution, base_key: str, entrypoint: str, key: str, context: Path
) -> dict[str, str]:
    digest = hashlib.sha256((context / "sbom.cdx.json").read_bytes()).hexdigest()
    return {
        SPEC_LABEL: resolution.pinned,
        REQUEST_LABEL: resolution.spec.request,
        PACKAGES_LABEL: json.dumps(_packages(resolution), sort_keys=True),
        ENTRYPOINT_LABEL: entrypoint,
        BASE_LABEL: base_key,
        SBOM_LABEL: sbom.PATH,
        SBOM_HASH_LABEL: digest,
        rootfs.INPUTS_LABEL: key,
    }
