"""The compiler's entry points, each the same short chain of passes:

    load (parse) → check → build → lower

`compile_policy` stops at the IR (for `explain`, `validate`, `diff`); `compile_plan`
goes on to the engine payloads. Warnings travel with the result; errors are one
`PolicyError` with every diagnostic and the text of every file read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from . import rules
from .build import build
from .check import check
from .diagnostics import Diagnostic, PolicyError, Severity
from .host import Host
from .ir import Policy
from .lower import LaunchPlan, Target, lower
from .origin import Argument
from .record import record
from .source import Reader, load, read_text


@record
class Compiled:
    policy: Policy
    warnings: tuple[Diagnostic, ...]
    texts: dict[str, str]


def compile_policy(
    source: str, read: Reader = read_text, extra: Sequence[rules.Rule] = (), *, host: Host
) -> Compiled:
    """SOURCE's IR. `extra` rules (from the command line, e.g. `-e KEY=VALUE`) come after
    the source's own, so they override its values, and are checked like any rule. `host`
    says where the policy's grants lead on the machine it will run on (`host.py`)."""
    loaded = load(source, read)
    ruleset = [*loaded.rules, *extra]
    diagnostics = check(ruleset, host)
    if any(d.severity is Severity.ERROR for d in diagnostics):
        raise PolicyError(diagnostics, loaded.texts)
    try:
        policy = build(ruleset, loaded.name, host)
    except PolicyError as error:
        raise PolicyError((*diagnostics, *error.diagnostics), loaded.texts) from None
    return Compiled(policy, tuple(diagnostics), loaded.texts)


def compile_plan(
    source: str,
    target: Target,
    read: Reader = read_text,
    extra: Sequence[rules.Rule] = (),
    *,
    host: Host,
) -> LaunchPlan:
    return lower(compile_policy(source, read, extra, host=host).policy, target)


def env_rules(pairs: Iterable[tuple[str, str]]) -> list[rules.Rule]:
    """`-e KEY=VALUE` arguments as rules, with the argument as their origin."""
    return [rules.Env(name=key, value=value, origin=Argument("-e")) for key, value in pairs]
