"""What `mcp-lok policy compile|explain|validate|diff` do, once their command line is parsed.

Each action is the compiler's chain plus printing, run the same by both ways in: the click
commands (`policy_commands`, printing with `click.echo`) and the fast path (`fastpath`,
printing with its own echo, which writes the same bytes). They take the printing function
as `echo`, and set an exit code other than 0 with `sys.exit`, as click commands may.

Imports neither click nor logging nor dataclasses (hence `Lowering` is a plain class): the
fast path runs this module, and its start-up time is a goal (issue 2).
"""

from __future__ import annotations

import errno
import sys

from mcp_lok.policy import (
    Code,
    Engine,
    PolicyError,
    Severity,
    Target,
    Transport,
    compile_policy,
    default_name,
    env_rules,
    lower,
    render_all,
    resolve_user,
    target_problems,
)
from mcp_lok.policy.identity import needs_image

from . import exitcodes
from .errors import OUTPUT_HINT, LokError
from .host import ThisHost

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn, Protocol

    from mcp_lok.policy import Compiled, LaunchPlan

    class Echo(Protocol):
        """`click.echo`, or the fast path's equivalent."""

        def __call__(self, message: str, *, nl: bool = ..., err: bool = ...) -> None: ...


_INPUT_CODES = {Code.SOURCE_NOT_FOUND, Code.SOURCE_UNREADABLE}
IMAGE_PLACEHOLDER = "IMAGE"  # `policy_spec.IMAGE`'s default: no image was named


class Lowering:
    """What a policy is lowered for, from the command line (`policy_spec.TARGET`)."""

    # also the order of __init__'s parameters, which `run` relies on
    __slots__ = ("engine", "transport", "name", "target_port", "env", "runtime_dir")  # noqa: RUF023

    def __init__(
        self,
        engine: str,
        transport: str,
        name: str | None,
        target_port: int,
        env: tuple[tuple[str, str], ...],
        runtime_dir: str,
    ) -> None:
        self.engine = engine
        self.transport = transport
        self.name = name
        self.target_port = target_port
        self.env = env
        self.runtime_dir = runtime_dir

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


def fail(error: PolicyError, echo: Echo) -> NoReturn:
    """Print every diagnostic and exit: 2 when the SOURCE itself is missing, else 3."""
    echo(render_all(error.diagnostics, error.sources), err=True)
    errors = [d for d in error.diagnostics if d.severity is Severity.ERROR]
    echo(f"\n{len(errors)} error{'s' if len(errors) != 1 else ''}: policy rejected", err=True)
    only_input = all(d.code in _INPUT_CODES for d in errors)
    sys.exit(exitcodes.USAGE if only_input else exitcodes.REJECTED)


def load(
    source: str, env: tuple[tuple[str, str], ...], echo: Echo, image: str, engine: str
) -> Compiled:
    host = ThisHost()
    try:
        compiled = compile_policy(source, extra=env_rules(env), host=host)
    except PolicyError as error:
        fail(error, echo)
    if compiled.warnings:
        echo(render_all(compiled.warnings, compiled.texts) + "\n", err=True)
    if needs_image(compiled.policy.user):
        compiled = resolved(compiled, image, engine, host, echo)
    return compiled


def resolved(compiled: Compiled, image: str, engine: str, host: ThisHost, echo: Echo) -> Compiled:
    """`compiled` with its user as the numbers the image gives it, as a launch would send
    them, when `engine` answers and has `image`; else as written, with a warning that the
    numbers are found at launch. A refusal (a name the image maps to root) fails here too."""
    from .accounts import read
    from .engine import discover
    from .paths import default_root

    why = "name the image with `--image`"
    if image != IMAGE_PLACEHOLDER:
        try:
            client = discover(engine)
            try:
                root = default_root()
            except LokError:
                root = None
            found = read(client, image, root)
        except LokError as error:
            why = error.message
        else:
            try:
                return resolve_user(compiled, found, host=host)
            except PolicyError as error:
                fail(error, echo)
    user = compiled.policy.user.value
    echo(
        f"warning: `User` is `{user}` as written: the image's /etc/passwd and /etc/group "
        f"turn it into numbers at launch, judged then ({why})\n",
        err=True,
    )
    return compiled


def plan_for(compiled: Compiled, target: Target, echo: Echo) -> LaunchPlan:
    problems = target_problems(target)
    if problems:
        fail(PolicyError(problems), echo)
    return lower(compiled.policy, target)


def compile_(
    echo: Echo, source: str, image: str, lowering: Lowering, args: tuple[str, ...]
) -> None:
    target = lowering.target(image, default_name(image), args)
    plan = plan_for(load(source, lowering.env, echo, image, lowering.engine), target, echo)
    echo(plan.to_json(), nl=False)


def explain(
    echo: Echo, source: str, image: str, lowering: Lowering, fmt: str, threshold: float | None
) -> None:
    from mcp_lok.policy import explain as explaining

    compiled = load(source, lowering.env, echo, image, lowering.engine)
    plan = plan_for(compiled, lowering.target(image, "server"), echo)
    report = explaining.explain(compiled.policy, plan)
    if fmt == "json":
        echo(explaining.render_json(report))
    else:
        echo(explaining.render_human(report, color=sys.stdout.isatty()))
    if threshold is not None and explaining.exceeds(report, threshold):
        echo(f"exposure {report.score:.1f} is above the threshold {threshold:.1f}", err=True)
        sys.exit(exitcodes.REJECTED)


def validate(echo: Echo, sources: tuple[str, ...], fmt: str) -> None:
    import json

    results: list[dict[str, Any]] = []
    worst = exitcodes.OK
    for source in sources:
        try:
            compiled = compile_policy(source, host=ThisHost())
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
                echo(render_all(error.diagnostics, error.sources) + "\n", err=True)
                echo(f"{source}: rejected ({len(errors)} error{'s' if len(errors) != 1 else ''})")
            continue
        results.append(
            {"source": source, "ok": True, "diagnostics": [d.to_json() for d in compiled.warnings]}
        )
        if fmt == "human":
            if compiled.warnings:
                echo(render_all(compiled.warnings, compiled.texts) + "\n", err=True)
            echo(f"{source}: ok")
    if fmt == "json":
        echo(json.dumps(results, indent=2, sort_keys=True, ensure_ascii=False))
    sys.exit(worst)


def diff(echo: Echo, a: str, b: str, image: str, lowering: Lowering, fmt: str) -> None:
    from mcp_lok.policy import diff as diffing

    target = lowering.target(image, "server")
    plans = [
        plan_for(load(source, lowering.env, echo, image, lowering.engine), target, echo)
        for source in (a, b)
    ]
    changes = diffing.diff(plans[0], plans[1])
    echo(diffing.render_json(changes) if fmt == "json" else diffing.render_human(changes))


ACTIONS: dict[str, Callable[..., None]] = {
    "compile": compile_,
    "explain": explain,
    "validate": validate,
    "diff": diff,
}


def run(command: str, values: dict[str, Any], echo: Echo) -> None:
    """Run `command` with the values parsed from its command line (by click or the fast
    path: the same names, `policy_spec`'s `dest`s), the target options gathered into one
    `Lowering` as the actions take them."""
    values = dict(values)
    if "engine" in values:  # the command has the target options (`policy_spec.TARGET`)
        values["lowering"] = Lowering(*(values.pop(field) for field in Lowering.__slots__))
    ACTIONS[command](_reported(echo), **values)


def _reported(echo: Echo) -> Echo:
    """`echo`, with a failure to write the output (a full disk, an I/O error) raised as a
    `LokError`, which both ways in report as `error: …` with exit 1, not as a traceback.
    A closed pipe stays an OSError: both end it quietly, as click does (`| head`)."""

    def write(message: str, *, nl: bool = True, err: bool = False) -> None:
        try:
            echo(message, nl=nl, err=err)
        except OSError as error:
            if error.errno == errno.EPIPE:
                raise
            stream = "standard error" if err else "standard output"
            raise LokError(
                f"cannot write to {stream}: {error.strerror or error}",
                hint=OUTPUT_HINT,
            ) from error

    return write
