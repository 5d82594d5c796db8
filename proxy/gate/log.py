"""The gate's one logger: a line per connection or refusal on stderr (the engine's log),
never a payload."""

from __future__ import annotations

import logging

log = logging.getLogger("mcp-lok-gate")
