"""`mcp-lok restart NAME`: a server that is not running launched again as it was asked for
(`launcher/restart.py`), reported as `start` reports one."""

from __future__ import annotations

import click

from mcp_lok.launcher import servers
from mcp_lok.launcher.restart import restart as relaunch
from mcp_lok.launcher.state import Store
from mcp_lok.policy import Compiled, render_all

from .command import LokCommand, echo
from .launch import report_detached
from .options import FORMAT, NAME, NAME_ENGINE


@click.command(cls=LokCommand)
@NAME
@FORMAT
@NAME_ENGINE
def restart(name: str, fmt: str, engine: str | None) -> None:
    """Launch the server NAME again: stopped, exited, or without its proxy.

    Same name, image, command, policy, engine, port and bearer token, so its clients need
    no new settings. Its policy is compiled and judged again first: one that no longer
    compiles leaves the server as it was; one that changed is said so. Prints what
    `start` prints.
    """

    servers.load(Store(), name, engine)  # an `--engine` must name the server's own

    def warn(compiled: Compiled) -> None:
        echo(render_all(compiled.warnings, compiled.texts) + "\n", err=True)

    done = relaunch(name, on_warnings=warn)
    if done.changed_from is not None:
        echo(
            f"note: the policy of `{name}` changed since its last launch (digest "
            f"{done.changed_from[:12]}, now {done.prepared.plan.digest[:12]}): it runs "
            "under the policy as it reads now",
            err=True,
        )
    report_detached(fmt, done.state, done.url, done.prepared.token)


__all__ = ["restart"]
