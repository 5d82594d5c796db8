"""The bill of materials an image carries: CycloneDX 1.5 JSON, made from what was unpacked.

One component per package (name, version, package URL, the sha256 of the wheel pip checked
it against), each holding one `file` component per file it put in the image, with that
file's own sha256, read from the files as they are copied in (not from the wheel's
RECORD). Files no package owns (the entry point's script, bytecode of a file no package
lists) are components of the image itself. Deterministic: the same files give the same
bytes; the serial number is derived from the image's content key.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from .resolve import Pin, Resolution

SPEC_VERSION = "1.5"
PATH = "/opt/mcp-lok/sbom.cdx.json"  # where every built image carries it
NAMESPACE = uuid.UUID("6f1c8a55-3a0e-4f0e-9d1e-6d2b5c1d0a77")  # mcp-lok's, for serial numbers


def owners(site: Path) -> dict[str, str]:
    """Each file under `site` (a posix path relative to it) → the project whose wheel put
    it there, from the `RECORD` of every `*.dist-info`; bytecode belongs to its source."""
    owned: dict[str, str] = {}
    for record in sorted(site.glob("*.dist-info/RECORD")):
        project = _project_of(record.parent)
        for row in csv.reader(io.StringIO(record.read_text(errors="replace"))):
            if row and not row[0].startswith(("/", "..")):
                owned[str(PurePosixPath(row[0]))] = project
    return owned


def _project_of(dist_info: Path) -> str:
    name = dist_info.name.removesuffix(".dist-info").rpartition("-")[0]
    return Pin(name, "", "").project


def _owner(path: str, owned: Mapping[str, str]) -> str | None:
    if path in owned:
        return owned[path]
    pure = PurePosixPath(path)
    if pure.parent.name == "__pycache__" and pure.suffix == ".pyc":
        source = pure.parent.parent / (pure.name.split(".", 1)[0] + ".py")
        return owned.get(str(source))
    return None


def files(root: Path) -> list[tuple[str, str]]:
    """(path relative to `root`, sha256) of every regular file under `root`, sorted."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found.append((path.relative_to(root).as_posix(), digest))
    return found


def bom(
    resolution: Resolution,
    key: str,
    base: str,
    site: tuple[str, Path],
    extra: Iterable[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The CycloneDX document: `site` is the in-image folder the packages were unpacked to
    and the host folder they are in; `extra` (in-image path, sha256) are the image's own
    files; `base` the base image it was built on."""
    where, root = site
    owned = owners(root)
    by_project: dict[str, list[dict[str, Any]]] = {p.project: [] for p in resolution.pins}
    loose: list[dict[str, Any]] = [_file(path, digest) for path, digest in extra]
    for path, digest in files(root):
        entry = _file(f"{where}/{path}", digest)
        owner = _owner(path, owned)
        by_project.get(owner or "", loose).append(entry)
    components = [
        {
            "type": "library",
            "bom-ref": _purl(pin),
            "name": pin.name,
            "version": pin.version,
            "purl": _purl(pin),
            "hashes": [{"alg": "SHA-256", "content": pin.sha256}],
            "components": by_project[pin.project],
        }
        for pin in resolution.pins
    ]
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(NAMESPACE, key)}",
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "mcp-lok"}]},
            "component": {
                "type": "container",
                "bom-ref": resolution.pinned,
                "name": resolution.pinned,
                "version": key,
                "components": [{"type": "container", "name": base}, *loose],
            },
            "properties": [
                {"name": "mcp-lok:spec", "value": resolution.spec.request},
                {"name": "mcp-lok:resolved", "value": resolution.pinned},
            ],
        },
        "components": components,
        "dependencies": [
            {"ref": resolution.pinned, "dependsOn": [_purl(p) for p in resolution.pins]}
        ],
    }


def render(document: Mapping[str, Any]) -> bytes:
    """The document's bytes, as the image holds them: sorted keys, one line per value."""
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


def _file(path: str, digest: str) -> dict[str, Any]:
    return {"type": "file", "name": path, "hashes": [{"alg": "SHA-256", "content": digest}]}


def _purl(pin: Pin) -> str:
    return f"pkg:pypi/{pin.project}@{pin.version}"
