"""The `mcp-lok` command line: parses arguments, calls the library, prints results.

The only place where errors become exit codes (see `exitcodes.py`) and where anything is
printed: results to stdout, diagnostics and logs to stderr. Each subcommand's module is
imported only when that subcommand runs (or help lists it), so `mcp-lok policy …` loads the
compiler and click and nothing else: no docker, no aiohttp, no state handling.
"""

from __future__ import annotations

import errno
import importlib
import logging
import sys
from typing import NoReturn

import click

from . import exitcodes
from .errors import OUTPUT_HINT, LokError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# command name → "module:attribute" under mcp_lok.launcher, imported on first use
COMMANDS = {
    "policy": "policy_commands:policy",
    "run": "commands:run",
    "start": "commands:start",
    "list": "commands:list_",
    "stop": "commands:stop",
    "rm": "commands:rm",
    "logs": "commands:logs",
    "inspect": "inspection:inspect",
    "version": "commands:version",
    "_proxy": "commands:proxy_process",
    "audit": "audit.command:audit",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when they are looked up, not at start."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            module, attribute = COMMANDS[name].split(":")
            command = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
            self.add_command(command, name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings=CONTEXT, invoke_without_command=True)
@click.option("-v", "--verbose", count=True, help="More logging on stderr (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Run MCP servers in locked-down containers, from a policy you can read and audit."""
    level = (
        logging.ERROR
        if quiet
        else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    )
    logging.basicConfig(
        level=level, format="mcp-lok: %(levelname)s: %(message)s", stream=sys.stderr
    )
    if ctx.invoked_subcommand is None:
        # A client spawning `mcp-lok` gets the MCP server; a person at a terminal, help.
        if not sys.stdin.isatty():
            ctx.invoke(mcp)
            return
        click.echo(ctx.get_help())
        click.echo(f"\n{MCP_NOTE}")


MCP_NOTE = (
    "Started by an MCP client (stdin not a terminal), `mcp-lok` with no command serves its\n"
    "own tools over stdio, as `mcp-lok mcp` does: configure the client with the command\n"
    '`mcp-lok` (see README, "mcp-lok as an MCP server").'
)


@cli.command("mcp")
def mcp() -> None:
    """Serve mcp-lok's tools (list, run, stop, rm, logs, explain) to an MCP client on stdio.

    What `mcp-lok` with no command does when stdin is not a terminal. Stdio only: no HTTP
    endpoint, so only the client that started it can call its tools.
    """
    from .mcp_server import serve  # the MCP SDK loads only here

    serve()


@cli.command("help")
@click.argument("command", nargs=-1)
@click.pass_context
def help_(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Show help for mcp-lok or one of its commands."""
    group: click.Command = cli
    sub_ctx = ctx.parent or ctx
    for word in command:
        if (
            not isinstance(group, click.Group)
            or (found := group.get_command(sub_ctx, word)) is None
        ):
            raise click.UsageError(f"no such command `{' '.join(command)}`")
        sub_ctx = click.Context(found, info_name=word, parent=sub_ctx)
        group = found
    click.echo(group.get_help(sub_ctx))


def main(argv: list[str] | None = None) -> NoReturn:
    try:
        code = cli.main(args=argv, prog_name="mcp-lok", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        code = exitcodes.FAILURE
    except click.ClickException as error:
        error.show()
        code = exitcodes.USAGE if isinstance(error, click.UsageError) else error.exit_code
    except LokError as error:
        click.echo(f"error: {error.message}", err=True)
        if error.hint:
            click.echo(f"  = hint: {error.hint}", err=True)
        code = exitcodes.FAILURE
    except click.exceptions.Exit as done:
        code = done.exit_code
    except OSError as error:  # click ends a closed pipe (EPIPE) itself, quietly
        # what no command turned into a LokError: above all, output that cannot be written
        # (`> /dev/full`); one line, as every operational failure, rather than a traceback
        where = f" ({error.filename})" if error.filename else ""
        click.echo(f"error: {error.strerror or error}{where}", err=True)
        if error.errno in _NO_ROOM:
            click.echo(f"  = hint: {OUTPUT_HINT}", err=True)
        code = exitcodes.FAILURE
    sys.exit(code if isinstance(code, int) else exitcodes.OK)


_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}
