"""`mcp-lok policy …`: compile, explain, validate and diff policies without an engine.

The click commands, built from the declarations in `policy_spec` and running the actions
in `policy_actions`. The console script usually runs these commands without click, through
`fastpath`; click runs them whenever the command line is anything but ordinary (help, a
mistake, global options), so the help and the usage errors are click's and written once.
Nothing here imports docker or aiohttp.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from mcp_lok.policy import PolicyError

from . import policy_actions, policy_spec

F = TypeVar("F", bound=Callable[..., Any])


def env_pairs(
    ctx: click.Context | None, param: click.Parameter | None, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """`-e KEY=VALUE` options as pairs (also the MCP server's `env`, without a context)."""
    for value in values:
        if problem := policy_spec.pair_problem(value):
            raise click.BadParameter(problem, ctx, param)
    return policy_spec.split_pairs(values)


_TYPES: dict[str, Callable[[policy_spec.Option], Any]] = {
    policy_spec.TEXT: lambda _: None,
    policy_spec.INT: lambda _: int,
    policy_spec.FLOAT: lambda option: click.FloatRange(option.low, option.high),
    policy_spec.CHOICE: lambda option: click.Choice(list(option.choices)),
    policy_spec.PAIRS: lambda _: None,
}


def _option_attributes(option: policy_spec.Option) -> dict[str, Any]:
    """The keyword arguments of `click.Option` for `option`: only those it sets, so that
    click's own defaults apply to the rest."""
    attributes: dict[str, Any] = {
        "type": _TYPES[option.kind](option),
        "default": option.default,
        "show_default": option.show_default,
        "help": option.help,
        "metavar": option.metavar,
    }
    if option.kind == policy_spec.PAIRS:
        attributes.update(multiple=True, callback=env_pairs)
    if option.required:
        attributes["required"] = True
    return {
        key: value
        for key, value in attributes.items()
        if value is not None and value is not policy_spec.MISSING
    }


def _parameter(param: policy_spec.Argument | policy_spec.Option) -> click.Parameter:
    if isinstance(param, policy_spec.Option):
        return click.Option([*param.flags, param.dest], **_option_attributes(param))
    if param.many:
        kind = click.UNPROCESSED if param.raw else None
        return click.Argument([param.dest], nargs=-1, required=param.required, type=kind)
    return click.Argument([param.dest])


def option(param: policy_spec.Option) -> Callable[[F], F]:
    """A `click.option` decorator for `param`, for commands outside `policy`."""
    return click.option(*param.flags, param.dest, **_option_attributes(param))


# shared with the lifecycle commands, so `policy compile` and `run` read the same way
TRANSPORT = option(policy_spec.TRANSPORT)
NAME_OPTION = option(policy_spec.NAME)
ENV = option(policy_spec.ENV)


def fail(error: PolicyError) -> NoReturn:
    """Print every diagnostic and exit: 2 when the SOURCE itself is missing, else 3."""
    policy_actions.fail(error, click.echo)


@click.group()
def policy() -> None:
    """Compile, explain, validate and diff policies (no engine needed)."""


def _command(spec: policy_spec.Command) -> click.Command:
    def invoke(**values: Any) -> None:
        policy_actions.run(spec.name, values, click.echo)

    params = [_parameter(param) for param in spec.params]
    return click.Command(spec.name, callback=invoke, params=params, help=spec.help)


for _spec in policy_spec.COMMANDS.values():
    policy.add_command(_command(_spec))
