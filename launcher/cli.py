"""The `mcp-lok` command line: parses arguments, calls the library, prints results.

The only place where errors become exit codes (see `exitcodes.py`) and where anything is
printed: results to stdout, diagnostics and logs to stderr. Subcommands import heavy
modules lazily so that `policy` commands start fast (no docker, no aiohttp).
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import click

from . import commands, exitcodes
from .errors import LokError
from .policy_commands import policy

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT, invoke_without_command=True)
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
        click.echo(ctx.get_help())


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


cli.add_command(policy)
cli.add_command(commands.run)
cli.add_command(commands.start)
cli.add_command(commands.list_)
cli.add_command(commands.stop)
cli.add_command(commands.rm)
cli.add_command(commands.logs)
cli.add_command(commands.version)
cli.add_command(commands.proxy_process)
cli.add_command(commands.audit)


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
    sys.exit(code if isinstance(code, int) else exitcodes.OK)
