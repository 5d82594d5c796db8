"""The ordinary `mcp-lok policy compile|explain|validate|diff` command line, without click.

Why: the `policy` commands are what CI jobs and editors run over and over, and their
start-up time is a goal (issue 2, at most 4x a bare `python3 -c pass`). Importing click
costs ~9 ms with the stdlib it drags in, and the CLI's logging set-up ~3 ms more. So this
module, and what it imports (`policy_spec`, `policy_actions`), import neither click nor
logging nor dataclasses; tests/unit/launcher/test_fastpath_process.py checks it.

How it stays exactly the click CLI: `parse` accepts only the plain success path, read from
the same declarations click's commands are built from (`policy_spec`): the four
subcommands, their known options as `--opt value`, `--opt=value` or `-e KEY=VALUE`, valid
values, positionals and `--`. Anything else (help, an unknown option, a missing or bad
value, a global option such as `-v` before `policy`, shell completion, an unusual output
stream) returns None and the click CLI runs, which prints the canonical message. The
actions are the same functions click's commands call, and `echo` writes the bytes
`click.echo` would. A property test checks that `parse` yields exactly what click passes.
"""

from __future__ import annotations

import codecs
import errno
import io
import os
import sys

from . import policy_spec
from .policy_spec import MISSING, Argument, Option

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any, TextIO

COMPLETION = "_MCP_LOK_COMPLETE"  # click's shell completion for prog_name `mcp-lok`


def parse(argv: list[str]) -> tuple[str, dict[str, Any]] | None:
    """The command and the values click would pass it for `argv` (what follows `mcp-lok`),
    or None when `argv` is anything but an ordinary `policy` command line."""
    if len(argv) < 2 or argv[0] != "policy" or argv[1] not in policy_spec.COMMANDS:
        return None
    command = policy_spec.COMMANDS[argv[1]]
    options = [param for param in command.params if isinstance(param, Option)]
    flags = {flag: option for option in options for flag in option.flags}
    given: dict[str, list[str]] = {}
    positionals: list[str] = []
    rest = argv[2:]
    while rest:
        token = rest.pop(0)
        if token == "--":
            positionals += rest
            break
        if token[:1] != "-" or token == "-":  # click reads a lone `-` as a positional too
            positionals.append(token)
            continue
        name, equals, value = token.partition("=") if token[:2] == "--" else (token, "", "")
        option = flags.get(name)
        if option is None:  # -h, --help, an unknown option, -eKEY=VALUE, -e=…
            return None
        if not equals:
            if not rest or rest[0][:1] == "-":  # no value, or one click might read otherwise
                return None
            value = rest.pop(0)
        given.setdefault(option.dest, []).append(value)
    values = _values(options, given)
    arguments = _arguments([p for p in command.params if isinstance(p, Argument)], positionals)
    if values is None or arguments is None:
        return None
    return command.name, {**arguments, **values}


def _values(options: list[Option], given: dict[str, list[str]]) -> dict[str, Any] | None:
    """Each option's value as click converts it, or None if one would be a usage error."""
    values: dict[str, Any] = {}
    for option in options:
        raw = given.get(option.dest)
        if option.kind == policy_spec.PAIRS:
            if any(policy_spec.pair_problem(value) for value in raw or ()):
                return None
            values[option.dest] = policy_spec.split_pairs(tuple(raw or ()))
        elif raw is None:
            if option.required:
                return None
            default = option.default
            values[option.dest] = (
                None if default is MISSING else default() if callable(default) else default
            )
        else:
            value = _converted(option, raw[-1])  # the last one counts, as in click
            if value is None:
                return None
            values[option.dest] = value
    return values


def _converted(option: Option, value: str) -> str | int | float | None:
    if option.kind == policy_spec.CHOICE:
        return value if value in option.choices else None
    if option.kind == policy_spec.INT:
        try:
            return int(value)  # as click's INT does
        except ValueError:
            return None
    if option.kind == policy_spec.FLOAT:
        try:
            number = float(value)  # as click's FloatRange does
        except ValueError:
            return None
        return number if option.low <= number <= option.high else None  # NaN fails too
    return value


def _arguments(arguments: list[Argument], positionals: list[str]) -> dict[str, Any] | None:
    """The positionals given to each argument in order; a `many` argument, which comes
    last, takes the rest. None when too few or too many are given."""
    values: dict[str, Any] = {}
    for argument in arguments:
        if argument.many:
            if argument.required and not positionals:
                return None
            values[argument.dest] = tuple(positionals)
            positionals = []
        elif positionals:
            values[argument.dest] = positionals.pop(0)
        else:
            return None
    return values if not positionals else None


def usable(stream: TextIO | None) -> bool:
    """Whether `click.echo` would write to `stream` itself: a text stream that knows its
    encoding, not ASCII (click would re-wrap that one as UTF-8)."""
    if not isinstance(stream, io.TextIOWrapper) or not stream.encoding or not stream.errors:
        return False
    encoding = stream.encoding
    try:
        return codecs.lookup(encoding).name != "ascii"
    except LookupError:
        return True


def echo(message: str, *, nl: bool = True, err: bool = False) -> None:
    """`click.echo(message, nl=nl, err=err)` for a `str` on a stream `usable` accepts:
    ANSI escapes removed unless the stream is a terminal, flushed after each call (so
    stdout and stderr interleave as they do with click)."""
    stream = sys.stderr if err else sys.stdout
    if nl:
        message += "\n"
    if "\x1b" in message and not _isatty(stream):
        import click  # only to strip ANSI escapes exactly as it does (its pattern varies)

        message = click.unstyle(message)
    if message:
        stream.write(message)
    stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except Exception:  # as click's own isatty
        return False


def run(argv: list[str]) -> int | None:
    """Run an ordinary `policy` command line and return its exit code, with stdout and
    stderr flushed; None (having done nothing) when click must handle `argv`."""
    if os.environ.get(COMPLETION) or not (usable(sys.stdout) and usable(sys.stderr)):
        return None
    parsed = parse(argv)
    if parsed is None:
        return None
    from . import policy_actions
    from .errors import LokError

    code: int | None = None
    try:
        try:
            policy_actions.run(*parsed, echo)
            code = 0
        except SystemExit as done:
            if done.code is not None and not isinstance(done.code, int):
                raise  # a message: Python prints it (the actions exit with numbers only)
            code = done.code or 0
        except (EOFError, KeyboardInterrupt):  # click: a new line, then `aborted` (cli.main)
            echo("", err=True)
            echo("aborted", err=True)
            code = 1
        except LokError as error:  # as cli.main reports it
            echo(f"error: {error.message}", err=True)
            if error.hint:
                echo(f"  = hint: {error.hint}", err=True)
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError as error:
        if error.errno == errno.EPIPE:
            return 1  # a closed pipe (`| head`): click exits 1 without a word
        if code is None:
            raise  # not the output failing (`policy_actions` reports that): a bug, shown
        # the last flush failed: output the action wrote (and perhaps reported) is lost
        if code == 0:
            _last_word(f"error: cannot write to standard output: {error.strerror or error}")
        return code or 1
    return code


def _last_word(message: str) -> None:
    import contextlib

    with contextlib.suppress(OSError):  # stderr fails too: the exit code is all that is left
        echo(message, err=True)
