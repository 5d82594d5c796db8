"""Reading an image's files without running it, apart from the engine calls themselves
(`EngineClient.read_image_files`): the create body of the container that serves the
reads, and what an archive from `GET /containers/{id}/archive` begins with. Pure.
"""

from __future__ import annotations

import io
import tarfile
from typing import Any

# the label that marks a container made only to read an image's files (never started)
READER_LABEL = "mcp-lok-reader"
TAR_HEADERS = 64 * 1024  # room for a tar member's headers (PAX ones included) before its data


def reader_body(image_id: str, name: str) -> dict[str, Any]:
    """The create body of a container that only serves reads of the image's files: it is
    never started, and would run nothing with nothing if it were."""
    return {
        "Image": image_id,
        "Entrypoint": ["/mcp-lok-never-started"],
        "Cmd": [],
        "User": "65534:65534",
        "Env": [],
        "Labels": {READER_LABEL: name},
        "HostConfig": {
            "NetworkMode": "none",
            "CapDrop": ["ALL"],
            "Privileged": False,
            "ReadonlyRootfs": True,
            "SecurityOpt": ["no-new-privileges:true"],
            "RestartPolicy": {"Name": "no"},
        },
    }


def first_member(data: bytes, limit: int) -> bytes | str | None:
    """What the archive `data` begins with: a regular file's first `limit` bytes, a
    symlink's target, or None (a folder, a device, an archive that cannot be read)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            member = archive.next()
    except tarfile.TarError:
        return None
    if member is None:
        return None
    if member.issym():
        return member.linkname
    if not member.isreg():
        return None
    return data[member.offset_data : member.offset_data + min(member.size, limit)]


__all__ = ["READER_LABEL", "TAR_HEADERS", "first_member", "reader_body"]
