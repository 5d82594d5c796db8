"""An exposure threshold, as `policy explain --threshold` and `audit --threshold` take it
(and the MCP server's `audit_servers`): a score from 0 to 10."""

from __future__ import annotations

import math

HIGHEST = 10.0


def threshold_problem(value: float) -> str | None:
    """Why `value` cannot be a threshold, or None when it can. Not NaN: every comparison
    with NaN is false, so a CI gate `--threshold nan` would pass everything."""
    if math.isnan(value) or not 0 <= value <= HIGHEST:
        return f"`{value:g}` is not a number from 0 to {HIGHEST:g}"
    return None


__all__ = ["threshold_problem"]
