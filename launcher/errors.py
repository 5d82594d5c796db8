"""Operational failures: the small `LokError` family. Each carries a hint for the user;
third-party exceptions are mapped to these once, where they are raised (the adapters)."""

from __future__ import annotations


class LokError(Exception):
    """An operational failure (exit code 1): the engine, an image, a port, a file."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(LokError):
    """A file given on the command line cannot be read."""


# output that could not be written for want of room (`> /dev/full`, a full disk or quota)
OUTPUT_HINT = "check that the file or device the output goes to has room and takes writes"
