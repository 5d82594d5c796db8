"""The options of `run` and `start` that shape the proxy: a bearer token (by default a
random one; `--no-auth` opts out, loudly), a restart policy, and one server for all client
sessions or one for each.

Parsed here, before anything is provisioned, so a bad value costs nothing.
"""

from __future__ import annotations

from typing import Any

import click

PROXY_OPTIONS = [
    click.option(
        "--auth-token",
        metavar="TOKEN",
        envvar="MCP_LOK_AUTH_TOKEN",
        help="The bearer token clients must send (`Authorization: Bearer TOKEN`); also "
        "read from MCP_LOK_AUTH_TOKEN. Without it (or with `generate`) mcp-lok makes a "
        "random one and prints it.",
    ),
    click.option(
        "--no-auth",
        is_flag=True,
        help="Serve without a bearer token: every local user and process can use the "
        "server, and what it holds. Not for servers with credentials.",
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


NO_AUTH_WARNING = (
    "warning: `{name}` serves without a bearer token (--no-auth): every local user and "
    "process can use it, and whatever it holds or reaches"
)


def auth_token(value: str | None, no_auth: bool = False) -> str | None:
    """The bearer token clients must send: the one given, or a random one (mcp-lok prints
    it, in the client snippet and `--format json`); None only with `--no-auth`."""
    import secrets

    from .errors import LokError

    if no_auth:
        if value is not None:
            raise LokError(
                "`--no-auth` and a bearer token (`--auth-token` or MCP_LOK_AUTH_TOKEN) "
                "contradict each other",
                hint="leave one out: by default the proxy requires a random token",
            )
        return None
    # INVARIANT: the proxy requires a bearer token unless `--no-auth` says otherwise
    if value is None or value == "generate":
        return secrets.token_urlsafe(32)
    # INVARIANT: a token short enough to guess, or one that cannot travel in a header,
    # is refused rather than silently protecting nothing.
    if len(value) < 16 or not value.isascii() or not value.isprintable() or " " in value:
        raise LokError(
            "the `--auth-token` must be at least 16 printable ASCII characters, no spaces",
            hint="or leave it out: mcp-lok then makes a random one and prints it",
        )
    return value
