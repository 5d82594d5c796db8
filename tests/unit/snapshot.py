"""syrupy extensions that keep snapshots as plain files under the top-level `snapshots/`,
one file per case, so a reviewer reads them as the audit trail of what mcp-lok sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation

ROOT = Path(__file__).resolve().parents[2] / "snapshots"


class _TextSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        # flat: `snapshots/test_builtin_plan[stdio-docker-sse].json`
        del test_location
        return str(ROOT)

    def serialize(self, data: Any, **_: Any) -> str:
        return str(data)


class JsonSnapshot(_TextSnapshot):
    file_extension = "json"


class TextSnapshot(_TextSnapshot):
    file_extension = "txt"
