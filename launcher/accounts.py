"""An image's accounts — its /etc/passwd and /etc/group — read through the engine without
running the image, and kept by image id so that a warm launch does not read them again.

The engine reads the files (`ContainerEngine.read_image_files`: a container created from the
image, never started, then removed); `mcp_lok.policy.identity` parses them and judges what
a user resolves to. An image id names its content, so its files cannot change under it:
the copy kept in `<runtime root>/.image-accounts/` (a folder no server's name can reach,
as names cannot start with `.`) is good for as long as it is there. Only its owner may read
or write it; one that anybody else could have written is not used. Whatever it says, the
numbers a user resolves to are judged afresh on every launch.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from mcp_lok.policy.digest import sha256_hex
from mcp_lok.policy.identity import GROUP, MAX_FILE, PASSWD, Accounts, parse
from mcp_lok.policy.layout import IMAGE_ACCOUNTS

from .state import write_atomic

if TYPE_CHECKING:  # the adapter loads the docker SDK, which `policy` commands do without
    from .engine import ContainerEngine

CACHE = IMAGE_ACCOUNTS  # under the runtime root
VERSION = 1


def read(engine: ContainerEngine, image: str, root: Path | None) -> Accounts:
    """The accounts of the local `image` on `engine`, kept under the runtime `root` (None:
    not kept). Raises `LokError` when the engine lacks the image or cannot read it."""
    image_id = engine.image_id(image)
    folder = _folder(root)
    texts = _load(folder, image_id) if folder is not None else None
    if texts is None:
        # one more byte than is parsed, so that `parse` can tell a file was longer
        files = engine.read_image_files(image_id, (PASSWD, GROUP), MAX_FILE + 1)
        texts = (files[PASSWD].decode("utf-8", "replace"), files[GROUP].decode("utf-8", "replace"))
        if folder is not None:
            _save(folder, image_id, texts)
    return parse(*texts)


def _folder(root: Path | None) -> Path | None:
    """The cache folder, made private if it is new; None when it cannot be trusted."""
    if root is None:
        return None
    folder = root / CACHE
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        folder.mkdir(mode=0o700)
    return folder if _private(folder) else None


def _private(path: Path) -> bool:
    """Whether `path` is what mcp-lok made: not a symlink, owned by this user, and neither
    readable nor writable by anybody else."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (
        not stat.S_ISLNK(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o077
    )


def _path(folder: Path, image_id: str) -> Path:
    return folder / f"{sha256_hex(image_id.encode())}.json"


def _load(folder: Path, image_id: str) -> tuple[str, str] | None:
    path = _path(folder, image_id)
    if not _private(path):
        return None
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if kept["version"] != VERSION or kept["image"] != image_id:
            return None
        return str(kept["passwd"]), str(kept["group"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save(folder: Path, image_id: str, texts: tuple[str, str]) -> None:
    kept = {"version": VERSION, "image": image_id, "passwd": texts[0], "group": texts[1]}
    with contextlib.suppress(OSError):  # a cache that cannot be written is only slower
        write_atomic(_path(folder, image_id), json.dumps(kept), 0o600)


__all__ = ["CACHE", "read"]
