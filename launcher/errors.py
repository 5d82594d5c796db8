"""What goes wrong, as values the front doors (the CLI, the MCP server) report.

- `LokError`: an operational failure (the engine, an image, a port, a file), with a hint;
  third-party exceptions are mapped to it once, where they are raised (the adapters).
- `UsageError`: a request that is wrong as asked, with one `Problem` per wrong field.
- `Rejected`: an input judged and turned down (an exposure above a threshold, drift).
- `mcp_lok.policy.PolicyError`: a policy the compiler rejects, with its diagnostics.

Library code raises these; only the CLI's entry (`cli.main`) turns them into exit codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class LokError(Exception):
    """An operational failure: the engine, an image, a port, a file."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(LokError):
    """A file given on the command line cannot be read."""


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field of a request: the field as the request names it
    (`name`, `env`, `restart`, …; each front door spells it its own way, and an empty one
    is the request as a whole), one sentence, and what to do instead."""

    field: str
    message: str
    hint: str | None = None


class UsageError(Exception):
    """A request that is wrong as asked: every problem found, in the request's order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = tuple(problems)

    @classmethod
    def of(cls, field: str, message: str, hint: str | None = None) -> UsageError:
        return cls([Problem(field, message, hint)])


class Rejected(Exception):
    """An input judged and turned down, as asked: an exposure score above a threshold, a
    server that drifted from its plan, a policy that `validate` rejects. What was judged
    has been reported already; `reason` says why it was turned down (empty: nothing more
    to say). `input_only`: nothing was judged, only SOURCEs that cannot be used were
    named (a usage error)."""

    def __init__(self, reason: str = "", *, input_only: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.input_only = input_only


# output that could not be written for want of room (`> /dev/full`, a full disk or quota)
OUTPUT_HINT = "check that the file or device the output goes to has room and takes writes"
