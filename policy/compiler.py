"""The compiler's entry points, each the same short chain of passes:

    load (parse) → check → build → [resolve the user against the image] → lower

`compile_policy` stops at the IR (for `explain`, `validate`, `diff`); `compile_plan`
goes on to the engine payloads. A `user` that only the image can turn into numbers (a
name, or a uid without a group) is resolved by `resolve_user`, given the image's accounts
(read by the launcher, through the engine); until then the IR keeps the policy's words.
Warnings travel with the result; errors are one `PolicyError` with every diagnostic and
the text of every file read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from . import identity, rules
from .build import build
from .check import check
from .diagnostics import Diagnostic, PolicyError, Severity
from .host import Host
from .ir import IR
from .loader import Reader, load, read_text
from .lower import LaunchPlan, Target, lower
from .origin import Argument
from .record import record, replace


@record
class Compiled:
    policy: IR
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
    # the check pass judges what could be read even when reading found problems, so that
    # one run reports every problem; what did not parse, or was not found, is not judged
    whole = not any(d.severity is Severity.ERROR for d in loaded.diagnostics)
    diagnostics = [*loaded.diagnostics, *check(ruleset, host, whole=whole)]
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


def resolve_user(compiled: Compiled, accounts: identity.Accounts, *, host: Host) -> Compiled:
    """`compiled` with the server's user as `uid:gid` numbers from the image's `accounts`,
    judged on `host` like numbers written in the policy (`identity.resolve`). Raises
    `PolicyError`, with the text of every file read, when the image says no."""
    try:
        policy = identity.resolve(compiled.policy, accounts, host.privileged_groups())
    except PolicyError as error:
        raise PolicyError((*compiled.warnings, *error.diagnostics), compiled.texts) from None
    return replace(compiled, policy=policy)


def env_rules(pairs: Iterable[tuple[str, str]]) -> list[rules.Rule]:
    """`-e KEY=VALUE` arguments as rules, with the argument as their origin."""
    return [rules.Env(name=key, value=value, origin=Argument("-e")) for key, value in pairs]
