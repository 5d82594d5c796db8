"""`mcp-lok policy compile|explain|validate|diff`: policies without launching anything.

Each command builds the `LaunchRequest` its options describe and runs the policy chain of
`planning` (which asks an engine only for a user that only the image can number). Nothing
here loads the engine adapter unless that happens, nor the proxy.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from mcp_lok.launcher import planning
from mcp_lok.launcher.errors import Rejected, UsageError
from mcp_lok.launcher.host import ThisHost
from mcp_lok.launcher.request import LaunchRequest
from mcp_lok.policy import (
    Compiled,
    Engine,
    LaunchPlan,
    PolicyError,
    Severity,
    compile_policy,
    render_all,
)
from mcp_lok.policy import diff as diffing
from mcp_lok.policy import explain as explaining
from mcp_lok.policy.baseline import DEFAULT_TARGET_PORT
from mcp_lok.policy.loader import read_text

from . import command_line_only
from .command import LokGroup, echo
from .options import ARGS, ENV, NAME_OPTION, THRESHOLD, TRANSPORT

# what a policy is lowered for: a request's fields, by the same names
TARGET = [
    click.option(
        "--engine",
        type=click.Choice([e.value for e in Engine]),
        default=Engine.DOCKER.value,
        show_default=True,
        help="Which engine's payloads to produce.",
    ),
    TRANSPORT,
    NAME_OPTION,
    ENV,
    click.option(
        "--runtime-dir",
        default=planning.runtime_dir,
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
IMAGE = click.option(
    "--image",
    default=planning.IMAGE_PLACEHOLDER,
    show_default=True,
    help="The server's image.",
)
FORMAT = click.option("--format", "fmt", type=click.Choice(["human", "json"]), default="human")


def target_options(func: Any) -> Any:
    for option in reversed(TARGET):
        func = option(func)
    return func


@click.group(cls=LokGroup)
def policy() -> None:
    """Compile, explain, validate and diff policies (no engine needed)."""


def _plan(request: LaunchRequest, source: str, runtime_dir: str) -> tuple[Compiled, LaunchPlan]:
    """SOURCE compiled and lowered for `request`, its warnings printed; the user resolved
    through the engine when it answers and has the image, else said to be left for the
    launch."""
    if problems := request.problems():
        raise UsageError(problems)
    host = ThisHost()
    compiled = planning.compile_request(request, source, read_text, host)
    if compiled.warnings:
        echo(render_all(compiled.warnings, compiled.texts) + "\n", err=True)
    compiled, why = planning.image_user(compiled, request, host)
    if why is not None:
        user = compiled.policy.user.value
        echo(
            f"warning: `User` is `{user}` as written: the image's /etc/passwd and /etc/group "
            f"turn it into numbers at launch, judged then ({why})\n",
            err=True,
        )
    target = request.target(Engine(request.engine), runtime_dir)
    return compiled, planning.plan(compiled, target)


def _request(image: str, options: dict[str, Any], **more: Any) -> LaunchRequest:
    """The request the target options describe (`TARGET`, all but `--runtime-dir`)."""
    return LaunchRequest(
        image=image,
        name=options["name"],
        transport=options["transport"],
        env=tuple(options["env"]),
        target_port=options["target_port"],
        engine=options["engine"],
        **more,
    )


@policy.command("compile")
@click.argument("source")
@click.option("--image", required=True, help="The server's image.")
@target_options
@ARGS
def compile_(
    source: str, image: str, runtime_dir: str, args: tuple[str, ...], **options: Any
) -> None:
    """Print the exact payloads the engine would receive for SOURCE.

    SOURCE is a built-in (stdio, none, network), a JSON profile or a policy file.
    Arguments after `--` become the server's command.
    """
    request = _request(image, options, args=args)
    _, plan = _plan(request, source, runtime_dir)
    echo(plan.to_json(), nl=False)


@policy.command()
@click.argument("source")
@IMAGE
@target_options
@FORMAT
@click.option(
    "--threshold",
    type=THRESHOLD,
    metavar="FLOAT RANGE",
    help="Exit 3 when the exposure score is above this (0–10).",
)
def explain(
    source: str, image: str, runtime_dir: str, fmt: str, threshold: float | None, **options: Any
) -> None:
    """Explain every control SOURCE sets, where it came from, and an exposure score."""
    request = _request(image, {**options, "name": options["name"] or "server"})
    compiled, plan = _plan(request, source, runtime_dir)
    report = explaining.explain(compiled.policy, plan)
    if fmt == "json":
        echo(explaining.render_json(report))
    else:
        echo(explaining.render_human(report, color=sys.stdout.isatty()))
    if threshold is not None and explaining.exceeds(report, threshold):
        raise Rejected(f"exposure {report.score:.1f} is above the threshold {threshold:.1f}")


@policy.command()
@click.argument("sources", nargs=-1, required=True)
@FORMAT
def validate(sources: tuple[str, ...], fmt: str) -> None:
    """Check one or more SOURCES; report every problem in each."""
    results = [_validated(source, fmt) for source in sources]
    if fmt == "json":
        echo(json.dumps([r for r, _ in results], indent=2, sort_keys=True, ensure_ascii=False))
    failures = [input_only for (result, input_only) in results if not result["ok"]]
    if failures:
        raise Rejected(input_only=all(failures))


def _validated(source: str, fmt: str) -> tuple[dict[str, Any], bool]:
    """One SOURCE's result (printed now in human form) and whether a failure was only
    that it cannot be used (no built-in, no file, unreadable: a usage error)."""
    try:
        compiled = compile_policy(source, host=ThisHost())
    except PolicyError as error:
        errors = [d for d in error.diagnostics if d.severity is Severity.ERROR]
        input_only = command_line_only(error)
        if fmt == "human":
            echo(render_all(error.diagnostics, error.sources) + "\n", err=True)
            # a SOURCE that is no built-in or cannot be read was never judged
            verdict = "not checked" if input_only else "rejected"
            count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
            echo(f"{source}: {verdict} ({count})")
        diagnostics = [d.to_json() for d in error.diagnostics]
        return {"source": source, "ok": False, "diagnostics": diagnostics}, input_only
    if fmt == "human":
        if compiled.warnings:
            echo(render_all(compiled.warnings, compiled.texts) + "\n", err=True)
        echo(f"{source}: ok")
    diagnostics = [d.to_json() for d in compiled.warnings]
    return {"source": source, "ok": True, "diagnostics": diagnostics}, False


@policy.command()
@click.argument("a")
@click.argument("b")
@IMAGE
@target_options
@FORMAT
def diff(a: str, b: str, image: str, runtime_dir: str, fmt: str, **options: Any) -> None:
    """Show which payload fields change from A to B, and the rule behind each change."""
    request = _request(image, {**options, "name": options["name"] or "server"})
    plans = [_plan(request, source, runtime_dir)[1] for source in (a, b)]
    changes = diffing.diff(plans[0], plans[1])
    echo(diffing.render_json(changes) if fmt == "json" else diffing.render_human(changes))


__all__ = ["policy"]
