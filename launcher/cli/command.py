"""The CLI's click classes and its one way to print.

`LokCommand` shows a request's problems (`UsageError`) as click's usage errors; `echo`
reports output that cannot be written as a `LokError`. Light on purpose: the console
script imports it before `main` runs (see `cli.main`).
"""

from __future__ import annotations

import errno
from typing import Any

import click

from mcp_lok.launcher.errors import OUTPUT_HINT, LokError, UsageError


def echo(message: str, *, nl: bool = True, err: bool = False) -> None:
    """`click.echo`, with output that cannot be written (a full disk, an I/O error) raised
    as a `LokError`, reported as `error: …` with exit 1 rather than a traceback. A closed
    pipe stays an OSError: click ends it quietly (`| head`)."""
    try:
        click.echo(message, nl=nl, err=err)
    except OSError as error:
        if error.errno == errno.EPIPE:
            raise
        stream = "standard error" if err else "standard output"
        raise LokError(
            f"cannot write to {stream}: {error.strerror or error}", hint=OUTPUT_HINT
        ) from error


class LokCommand(click.Command):
    """A command whose request problems (`UsageError`) read as click's usage errors: the
    usage line, then `Invalid value for '--option': …` for each, with its hint. A problem's
    field is the name of the option (or argument) that gave it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:
            raise click.UsageError(_problems_text(error, ctx), ctx) from error


def _problems_text(error: UsageError, ctx: click.Context) -> str:
    lines = []
    for problem in error.problems:
        param = next((p for p in ctx.command.params if p.name == problem.field), None)
        text = problem.message
        if param is not None:
            text = f"Invalid value for {param.get_error_hint(ctx)}: {text}"
        if problem.hint:
            text += f"\n  = hint: {problem.hint}"
        lines.append(text)
    return "\n".join(lines)


class LokGroup(click.Group):
    """A group whose commands are `LokCommand`s."""

    command_class = LokCommand


__all__ = ["LokCommand", "LokGroup", "echo"]
