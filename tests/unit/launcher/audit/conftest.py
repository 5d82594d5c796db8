"""Inspect output recorded from real engines (Docker 20.10, Podman 4.3) for untampered
servers launched by `mcp-lok start`, with their launch records and image configs:
`<engine>-std` (stdio built-in), `-net` (network built-in), `-http` (streamable-http with
a gate and two bind mounts)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
CASES = sorted(p.stem for p in DATA.glob("*.json"))


def load(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{case}.json").read_text())
    return copy.deepcopy(data)


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)
