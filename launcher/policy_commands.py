"""`mcp-lok policy …`: compile, explain, validate and diff policies without an engine.

Thin: each command is the compiler's chain plus printing. Nothing here imports docker or
aiohttp, so these commands start about as fast as Python does.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar, cast

import click

from mcp_lok.policy import (
    Code,
    Compiled,
    Engine,
    LaunchPlan,
    PolicyError,
    Severity,
    Target,
    Transport,
    compile_policy,
    default_name,
    env_rules,
    lower,
    render_all,
    target_problems,
)
from mcp_lok.policy.baseline import DEFAULT_TARGET_PORT, RUNTIME_DIR

from . import exitcodes

F = TypeVar("F", bound=Callable[..., Any])
_INPUT_CODES = {Code.SOURCE_NOT_FOUND, Code.SOURCE_UNREADABLE}


def env_pairs(
    ctx: click.Context | None, param: click.Parameter | None, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """`-e KEY=VALUE` options as pairs (also the MCP server's `env`, without a context)."""
    pairs = []
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"`{value}` is not KEY=VALUE", ctx, param)
        pairs.append((key, val))
    return tuple(pairs)


def default_runtime_dir() -> str:
    """Where the launcher keeps per-server files, so that a compiled plan names the same
    paths a launch would (`/run/mcp-lok` as root)."""
    from .errors import LokError
    from .paths import default_root

    try:
        return str(default_root())
    except LokError:
        return RUNTIME_DIR


@dataclass(frozen=True)
class Lowering:
    """What a policy is lowered for, from the command line (see `target_options`)."""

    engine: str
    transport: str
    name: str | None
    target_port: int
    env: tuple[tuple[str, str], ...]
    runtime_dir: str

    def target(self, image: str, default_name: str, args: tuple[str, ...] = ()) -> Target:
        return Target(
            image=image,
            name=self.name or default_name,
            engine=Engine(self.engine),
            transport=Transport(self.transport),
            args=args,
            port=self.target_port,
            runtime_dir=self.runtime_dir,
        )


# shared with the lifecycle commands, so `policy compile` and `run` read the same way
TRANSPORT = click.option(
    "--transport",
    type=click.Choice([t.value for t in Transport]),
    default="stdio",
    show_default=True,
    help="How the server speaks MCP.",
)
NAME_OPTION = click.option("--name", help="The server's name (default: from the image).")
ENV = click.option(
    "-e",
    "--env",
    "env",
    multiple=True,
    metavar="KEY=VALUE",
    callback=env_pairs,
    help="Set an environment variable in the server.",
)


def target_options(func: F) -> F:
    """The options that describe what a policy is lowered for, passed as `lowering`."""
    options = [
        click.option(
            "--engine",
            type=click.Choice([e.value for e in Engine]),
            default="docker",
            show_default=True,
            help="Which engine's payloads to produce.",
        ),
        TRANSPORT,
        NAME_OPTION,
        ENV,
        click.option(
            "--runtime-dir",
            default=default_runtime_dir,
            show_default="/run/mcp-lok as root, else $XDG_RUNTIME_DIR/mcp-lok",
            help="Where the launcher keeps per-server files (seccomp for Podman, the gate's).",
        ),
        click.option(
            "--target-port",
            type=int,
            default=DEFAULT_TARGET_PORT,
            show_default=True,
            help="The port an HTTP server listens on inside its container.",
        ),
    ]

    @functools.wraps(func)
    def collected(**kwargs: Any) -> Any:
        names = [f.name for f in dataclasses.fields(Lowering)]
        lowering = Lowering(**{name: kwargs.pop(name) for name in names})
        return func(lowering=lowering, **kwargs)

    wrapped: Any = collected
    for option in reversed(options):
        wrapped = option(wrapped)
    return cast(F, wrapped)


def fail(error: PolicyError) -> NoReturn:
    """Print every diagnostic and exit: 2 when the SOURCE itself is missing, else 3."""
    click.echo(render_all(error.diagnostics, error.sources), err=True)
    errors = [d for d in error.diagnostics if d.severity is Severity.ERROR]
    click.echo(f"\n{len(errors)} error{'s' if len(errors) != 1 else ''}: policy rejected", err=True)
    only_input = all(d.code in _INPUT_CODES for d in errors)
    sys.exit(exitcodes.USAGE if only_input else exitcodes.REJECTED)


def load(source: str, env: tuple[tuple[str, str], ...] = ()) -> Compiled:
    try:
        compiled = compile_policy(source, extra=env_rules(env))
    except PolicyError as error:
        fail(error)
    if compiled.warnings:
        click.echo(render_all(compiled.warnings, compiled.texts) + "\n", err=True)
    return compiled


def plan_for(compiled: Compiled, target: Target) -> LaunchPlan:
    problems = target_problems(target)
    if problems:
        fail(PolicyError(problems))
    return lower(compiled.policy, target)


@click.group()
def policy() -> None:
    """Compile, explain, validate and diff policies (no engine needed)."""


@policy.command("compile")
@click.argument("source")
@click.option("--image", required=True, help="The server's image.")
@target_options
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def compile_(source: str, image: str, lowering: Lowering, args: tuple[str, ...]) -> None:
    """Print the exact payloads the engine would receive for SOURCE.

    SOURCE is a built-in (stdio, none, network), a JSON profile or a policy file.
    Arguments after `--` become the server's command.
    """
    target = lowering.target(image, default_name(image), args)
    plan = plan_for(load(source, lowering.env), target)
    click.echo(plan.to_json(), nl=False)


@policy.command()
@click.argument("source")
@click.option("--image", default="IMAGE", show_default=True, help="The server's image.")
@target_options
@click.option("--format", "fmt", type=click.Choice(["human", "json"]), default="human")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 10),
    help="Exit 3 when the exposure score is above this (0–10).",
)
def explain(source: str, image: str, lowering: Lowering, fmt: str, threshold: float | None) -> None:
    """Explain every control SOURCE sets, where it came from, and an exposure score."""
    from mcp_lok.policy import explain as explaining

    compiled = load(source, lowering.env)
    plan = plan_for(compiled, lowering.target(image, "server"))
    report = explaining.explain(compiled.policy, plan)
    if fmt == "json":
        click.echo(explaining.render_json(report))
    else:
        click.echo(explaining.render_human(report, color=sys.stdout.isatty()))
    if threshold is not None and explaining.exceeds(report, threshold):
        click.echo(f"exposure {report.score:.1f} is above the threshold {threshold:.1f}", err=True)
        sys.exit(exitcodes.REJECTED)


@policy.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["human", "json"]), default="human")
def validate(sources: tuple[str, ...], fmt: str) -> None:
    """Check one or more SOURCES; report every problem in each."""
    import json

    results: list[dict[str, Any]] = []
    worst = exitcodes.OK
    for source in sources:
        try:
            compiled = compile_policy(source)
        except PolicyError as error:
            errors = [d for d in error.diagnostics if d.severity is Severity.ERROR]
            code = (
                exitcodes.USAGE
                if all(d.code in _INPUT_CODES for d in errors)
                else exitcodes.REJECTED
            )
            worst = max(worst, code)
            results.append(
                {
                    "source": source,
                    "ok": False,
                    "diagnostics": [d.to_json() for d in error.diagnostics],
                }
            )
            if fmt == "human":
                click.echo(render_all(error.diagnostics, error.sources) + "\n", err=True)
                click.echo(
                    f"{source}: rejected ({len(errors)} error{'s' if len(errors) != 1 else ''})"
                )
            continue
        results.append(
            {"source": source, "ok": True, "diagnostics": [d.to_json() for d in compiled.warnings]}
        )
        if fmt == "human":
            if compiled.warnings:
                click.echo(render_all(compiled.warnings, compiled.texts) + "\n", err=True)
            click.echo(f"{source}: ok")
    if fmt == "json":
        click.echo(json.dumps(results, indent=2, sort_keys=True, ensure_ascii=False))
    sys.exit(worst)


@policy.command()
@click.argument("a")
@click.argument("b")
@click.option("--image", default="IMAGE", show_default=True, help="The server's image.")
@target_options
@click.option("--format", "fmt", type=click.Choice(["human", "json"]), default="human")
def diff(a: str, b: str, image: str, lowering: Lowering, fmt: str) -> None:
    """Show which payload fields change from A to B, and the rule behind each change."""
    from mcp_lok.policy import diff as diffing

    target = lowering.target(image, "server")
    plans = [plan_for(load(source, lowering.env), target) for source in (a, b)]
    changes = diffing.diff(plans[0], plans[1])
    click.echo(diffing.render_json(changes) if fmt == "json" else diffing.render_human(changes))
