"""A client's configuration file, changed without losing anything of it: every other entry
and every key mcp-lok does not know stay as they were, in their order.

One change is read → change → write: the new text goes to a temp file in the same folder
that is renamed over the old one (readers see the old file or the new, never half), with
the old file's mode (0600 for a file mcp-lok creates: it holds a token), after a copy of
the old file is kept next to it (`NAME.mcp-lok-backup-TIME`, 0600, the last few kept). A
file a client rewrote between the read and the write is read again (a few times), so
mcp-lok never writes over a change it did not see. A symbolic link (a dotfiles
repository) is written through: the link stays. What to change is the caller's
(`clients/__init__.py`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.state import PRIVATE_FILE, write_atomic

MAX_SIZE = 64 * 1024 * 1024  # `~/.claude.json` keeps every project's history: it grows
BACKUP = ".mcp-lok-backup-"
BACKUPS_KEPT = 5
ATTEMPTS = 3  # reads, when a client keeps rewriting its file while mcp-lok changes it
_INDENT = re.compile(r"\n([ \t]+)\S")

Change = Callable[[dict[str, Any]], bool]  # changes the parsed file; False: nothing to do


@dataclass(frozen=True)
class Written:
    """What one change did to a file: whether it changed it, made it, and the backup."""

    changed: bool
    created: bool
    backup: Path | None
    mode: int


def update(path: Path, change: Change) -> Written:
    """Apply `change` to the JSON object in `path` (an empty object when there is no file)
    and write the result, as the module docstring says. Raises `LokError` for a file that
    is not a JSON object mcp-lok can keep, or that cannot be read or written."""
    real = Path(os.path.realpath(path))
    for _ in range(ATTEMPTS):
        text, seen = _read(real)
        data = _parse(path, text)
        if not change(data):
            return Written(False, False, None, _mode(seen))
        if _seen(real) != seen:
            continue  # rewritten meanwhile: start again from what it holds now
        mode = _mode(seen)
        backup = _backup(real, text) if text is not None else None
        try:
            write_atomic(real, _dump(data, text), mode)
        except OSError as error:
            raise LokError(
                f"cannot write `{path}`: {error.strerror or error}",
                hint="check that its folder is yours and has room",
            ) from error
        return Written(True, text is None, backup, mode)
    raise LokError(
        f"`{path}` kept changing while mcp-lok wrote to it",
        hint="close the client, or try again in a moment",
    )


def load(path: Path) -> dict[str, Any]:
    """The JSON object in `path` (empty when there is no file), as `update` reads it."""
    text, _ = _read(Path(os.path.realpath(path)))
    return _parse(path, text)


def section(data: dict[str, Any], keys: tuple[str, ...], path: Path) -> dict[str, Any] | None:
    """The object at `keys` in `data` (None when absent); raises `LokError` when something
    else than an object is there."""
    here: Any = data
    for key in keys:
        here = here.get(key) if isinstance(here, dict) else None
        if here is None:
            return None
    if not isinstance(here, dict):
        raise LokError(
            f"`{'.'.join(keys)}` in `{path}` is not an object",
            hint="fix the file: it is what the client reads its servers from",
        )
    return here


def make_section(data: dict[str, Any], keys: tuple[str, ...], path: Path) -> dict[str, Any]:
    """The object at `keys` in `data`, made when absent."""
    if (found := section(data, keys, path)) is not None:
        return found
    here = data
    for key in keys:
        here = here.setdefault(key, {})
    return here


Seen = tuple[int, int, int, int] | None  # inode, size, mtime, mode; None: no file


def _seen(real: Path) -> Seen:
    try:
        info = real.stat()
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, stat.S_IMODE(info.st_mode))


def _mode(seen: Seen) -> int:
    # INVARIANT: a file mcp-lok creates holds a bearer token: its owner's alone
    return PRIVATE_FILE if seen is None else seen[3]


def _read(real: Path) -> tuple[str | None, Seen]:
    try:
        with open(real, "rb") as handle:
            info = os.fstat(handle.fileno())
            seen = (info.st_ino, info.st_size, info.st_mtime_ns, stat.S_IMODE(info.st_mode))
            raw = handle.read(MAX_SIZE + 1)
    except FileNotFoundError:
        return None, None
    except OSError as error:
        raise LokError(
            f"cannot read `{real}`: {error.strerror or error}",
            hint="check that it is a file of yours",
        ) from error
    if len(raw) > MAX_SIZE:
        raise LokError(
            f"`{real}` is larger than {MAX_SIZE // 2**20} MiB", hint="is it the right file?"
        )
    try:
        return raw.decode("utf-8"), seen
    except UnicodeDecodeError as error:
        raise LokError(f"`{real}` is not UTF-8 text", hint="is it the right file?") from error


def _parse(path: Path, text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as error:
        where = getattr(error, "lineno", None)
        at = f" (line {where}, column {getattr(error, 'colno', 0)})" if where else ""
        raise LokError(
            f"`{path}` is not JSON mcp-lok can keep{at}",
            hint=(
                "fix it; comments and trailing commas (which some clients allow) would be "
                "lost in a rewrite, so mcp-lok leaves such a file alone: remove them, or add "
                "the entry by hand (`mcp-lok inspect NAME --show-token` shows URL and token)"
            ),
        ) from error
    if not isinstance(data, dict):
        raise LokError(f"`{path}` holds no JSON object", hint="is it the right file?")
    return data


def _dump(data: dict[str, Any], old: str | None) -> str:
    """`data` as JSON, indented as the old text was (two spaces for a new file)."""
    indent: str | int = 2
    if old is not None and (found := _INDENT.search(old)):
        indent = found[1] if "\t" in found[1] else len(found[1])
    return json.dumps(data, indent=indent, ensure_ascii=False) + "\n"


def _backup(real: Path, text: str) -> Path:
    """Keep `text` (the file before this change) next to it, 0600 (it may hold tokens);
    only the last few of mcp-lok's backups of that file stay."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    backup = real.with_name(f"{real.name}{BACKUP}{stamp}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(backup, flags, PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise LokError(
            f"cannot keep a backup of `{real}` at `{backup}`: {error.strerror or error}",
            hint="nothing was changed; check that its folder is yours and has room",
        ) from error
    ours = sorted(real.parent.glob(f"{glob_escape(real.name)}{BACKUP}*"))
    for old in ours[:-BACKUPS_KEPT]:
        with contextlib.suppress(OSError):
            old.unlink()
    return backup


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


__all__ = ["BACKUP", "Written", "load", "make_section", "section", "update"]
