"""The options of `run` and `start` that shape the proxy: a bearer token, a restart
policy, and one server for all client sessions or one for each.

Parsed here, before anything is provisioned, so a bad value costs nothing.
"""

from __future__ import annotations

from typing import Any

import click

PROXY_OPTIONS = [
    click.option(
        "--auth-token",
        metavar="TOKEN|generate",
        envvar="MCP_LOK_AUTH_TOKEN",
        help="Clients must send `Authorization: Bearer TOKEN`; `generate` makes a "
        "random one and prints it (also read from MCP_LOK_AUTH_TOKEN).",
    ),
    click.option(
        "--restart",
        default="no",
        show_default=True,
        metavar="no|on-failure[:N]",
        help="Start a stdio server that exits with an error again (at most N times, "
        "5 by default); clients carry on in their sessions.",
    ),
    click.option(
        "--session-mode",
        type=click.Choice(["shared", "per-session"]),
        default="shared",
        show_default=True,
        help="stdio: all client sessions on one server, or a server (container) of "
        "its own for each session, removed when the session ends.",
    ),
]


def per_session_mode(opts: dict[str, Any]) -> bool:
    """Whether each client session gets a server of its own (stdio servers only)."""
    from .errors import LokError

    per_session: bool = opts.pop("session_mode") == "per-session"
    if per_session and opts["transport"] != "stdio":
        raise LokError(
            "`--session-mode per-session` is for stdio servers",
            hint="an HTTP server handles its own sessions: leave the option out",
        )
    return per_session


def session_body(plan: Any) -> dict[str, Any]:
    """The server's container payload with its secrets filled: what each session's own
    container is created from."""
    import os

    from .lifecycle import fill_secrets

    return fill_secrets(plan.server.body, os.environ)


def auth_token(value: str | None) -> tuple[str | None, bool]:
    """The bearer token clients must send, and whether mcp-lok made it (then it is
    printed: nobody else knows it)."""
    import secrets

    from .errors import LokError

    if value is None:
        return None, False
    if value == "generate":
        return secrets.token_urlsafe(32), True
    # INVARIANT: a token short enough to guess, or one that cannot travel in a header,
    # is refused rather than silently protecting nothing.
    if len(value) < 16 or not value.isascii() or not value.isprintable() or " " in value:
        raise LokError(
            "the `--auth-token` must be at least 16 printable ASCII characters, no spaces",
            hint="or pass `--auth-token generate` to get a random one",
        )
    return value, False
