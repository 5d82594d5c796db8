"""The `mcp-lok` command line: parses arguments, calls the library, prints results.

The only package that imports click, the only place where anything is printed (results to
stdout; diagnostics, progress and logs to stderr) and the only place where errors become
exit codes (`main`). Each subcommand's module is imported when that subcommand runs (or
help lists it), so that `mcp-lok policy …` never loads the engine adapter (the docker SDK,
~50 ms) nor the proxy.

    policy.py   policy compile|explain|validate|diff
    launch.py   run, start (the launch pipeline, `launch.py`)
    restart.py  restart
    servers.py  list, stop, rm, logs, inspect, version
    audit.py    audit
    clients.py  client setup|list|rm
    images.py   build, images [rm], base build (images of `uvx://` packages)
"""

from __future__ import annotations

import errno
import importlib
import logging
import sys
from typing import TYPE_CHECKING, NoReturn

import click

from mcp_lok.launcher import mcp_server
from mcp_lok.launcher.errors import OUTPUT_HINT, LokError, Rejected, UsageError

from .command import LokGroup, echo

if TYPE_CHECKING:  # loaded late: see `exit_code`
    from mcp_lok.policy import PolicyError

OK = 0
FAILURE = 1  # operational failure: engine unreachable, image missing, port busy
USAGE = 2  # bad command line
REJECTED = 3  # policy rejected, an exposure threshold exceeded, a server drifted

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# command name → "module:attribute" under this package, imported on first use: a command
# loads only what it needs (see the docstring)
COMMANDS = {
    "policy": "policy:policy",
    "run": "launch:run",
    "start": "launch:start",
    "restart": "restart:restart",
    "_proxy": "launch:proxy_process",
    "list": "servers:list_",
    "stop": "servers:stop",
    "rm": "servers:rm",
    "logs": "servers:logs",
    "inspect": "servers:inspect",
    "version": "servers:version",
    "audit": "audit:audit",
    "client": "clients:client",
    "build": "images:build",
    "images": "images:images_",
    "base": "images:base_",
}


class LazyGroup(LokGroup):
    """A group whose subcommands are imported when they are looked up, not at start."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            module, attribute = COMMANDS[name].split(":")
            command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
            self.add_command(command, name)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; the library's errors end it with their exit code."""
        try:
            return super().invoke(ctx)
        except Exception as error:
            code = exit_code(error)
            if code is None:
                raise
            raise click.exceptions.Exit(code) from error


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
        echo(ctx.get_help())
        echo(f"\n{MCP_NOTE}")


MCP_NOTE = (
    "Started by an MCP client (stdin not a terminal), `mcp-lok` with no command serves its\n"
    "own tools over stdio, as `mcp-lok mcp` does: configure the client with the command\n"
    '`mcp-lok` (see README, "mcp-lok as an MCP server").'
)


@cli.command("mcp")
def mcp() -> None:
    """Serve mcp-lok's tools (list, run, stop, rm, logs, explain, audit) to an MCP client on stdio.

    What `mcp-lok` with no command does when stdin is not a terminal. Stdio only: no HTTP
    endpoint, so only the client that started it can call its tools.
    """
    mcp_server.serve()


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
    echo(group.get_help(sub_ctx))


def exit_code(error: Exception) -> int | None:
    """Report how a command ended, on stderr, and its exit code: 1 for an operational
    failure, 2 for usage (a command line naming what cannot be used: `command_line_only`),
    3 for a rejection; None for an error that is none of the library's (a bug, shown as
    such). The one place where an error becomes a code: README's table of exit codes."""
    # the compiler, imported here rather than at the top: the console script imports this
    # module before `main`'s `try`, and a Ctrl-C while the compiler loads (~40 ms) would
    # end in a traceback, not `aborted` (lifecycle.feature); whatever raised a
    # `PolicyError` has loaded it already
    from mcp_lok.policy import PolicyError, Severity, render_all

    if isinstance(error, PolicyError):
        click.echo(render_all(error.diagnostics, error.sources), err=True)
        errors = [d for d in error.diagnostics if d.severity is Severity.ERROR]
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        usage = command_line_only(error)
        click.echo(f"\n{count}{' in the command line' if usage else ': policy rejected'}", err=True)
        return USAGE if usage else REJECTED
    if isinstance(error, Rejected):
        if error.reason:
            click.echo(error.reason, err=True)
        return USAGE if error.input_only else REJECTED
    if isinstance(error, UsageError):  # raised outside a command: `LokCommand` shows the rest
        for problem in error.problems:
            _report(problem.message, problem.hint)
        return USAGE
    if isinstance(error, LokError):
        _report(error.message, error.hint)
        return FAILURE
    return None


def command_line_only(error: PolicyError) -> bool:
    """Whether every error is in what the command line gave rather than in a policy: a
    SOURCE that is no built-in or cannot be read, a server name, image or target port that
    cannot be lowered. A usage error (exit 2), not a policy's rejection (exit 3): nothing
    was judged. The same codes raised for an `extends` (an origin in a policy) are the
    policy's."""
    from mcp_lok.policy import Code, Severity  # loaded by whoever raised `error`

    source = {Code.SOURCE_NOT_FOUND, Code.SOURCE_UNREADABLE, Code.SOURCE_KIND}
    target = {Code.NAME_INVALID, Code.IMAGE_INVALID, Code.PORT_INVALID}
    errors = [d for d in error.diagnostics if d.severity is Severity.ERROR]
    return all((d.code in source and d.origin is None) or d.code in target for d in errors)


def main(argv: list[str] | None = None) -> NoReturn:
    """The console script: the command line's exit code is the command's (see
    `exit_code`), or click's for a usage error (2) and an interruption (1)."""
    try:
        code = cli.main(args=argv, prog_name="mcp-lok", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        code = FAILURE
    except click.ClickException as error:
        error.show()
        code = USAGE if isinstance(error, click.UsageError) else error.exit_code
    except click.exceptions.Exit as done:
        code = done.exit_code
    except OSError as error:  # click ends a closed pipe (EPIPE) itself, quietly
        # what no command turned into a LokError: above all, output that cannot be written
        # (`> /dev/full`); one line, as every operational failure, rather than a traceback
        where = f" ({error.filename})" if error.filename else ""
        hint = OUTPUT_HINT if error.errno in _NO_ROOM else None
        _report(f"{error.strerror or error}{where}", hint)
        code = FAILURE
    sys.exit(code if isinstance(code, int) else OK)


def _report(message: str, hint: str | None) -> None:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"  = hint: {hint}", err=True)


_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}

__all__ = ["COMMANDS", "cli", "main"]
