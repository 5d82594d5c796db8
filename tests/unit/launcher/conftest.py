"""Unit tests need no engine: every engine on this machine (`census.take`) is the one a test
made `engine.discover` return, or none. `census.take` runs as written, only reaching no
socket: the engine found is named as `MCP_LOK_ENGINE` would name it, and every other socket
(a well-known one, or one a state records) does not exist."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from mcp_lok.launcher import census
from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher.engine import ContainerEngine
from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.sockets import ENGINE_VARIABLE

REAL_DISCOVER = adapter.discover
REAL_TAKE = census.take


@pytest.fixture(autouse=True)
def no_real_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    def take(
        servers: Mapping[str, tuple[str, str]] | None = None,
        environ: Mapping[str, str] | None = None,
        reach: object = None,
    ) -> census.Census:
        found: ContainerEngine | None = None
        if adapter.discover is not REAL_DISCOVER:
            try:
                found = adapter.discover()
            except LokError:
                found = None

        def fake(url: str) -> ContainerEngine:
            if found is not None and url == found.url:
                return found
            raise census.Missing("does not exist")

        named = {ENGINE_VARIABLE: found.url} if found is not None else {}
        return REAL_TAKE(servers, named, fake)

    monkeypatch.setattr(census, "take", take)
