"""The proxy's operational failures. Each carries a hint; the launcher maps them to its
`LokError` family (the proxy does not import the launcher)."""

from __future__ import annotations


class ProxyError(Exception):
    """The proxy cannot run: bad configuration, a busy port, no engine."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class AttachError(ProxyError):
    """The proxy could not attach to the server's stdio."""
