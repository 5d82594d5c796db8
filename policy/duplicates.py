"""Part of the check pass: statements that repeat or contradict one another.

Within one file a repeated statement is a mistake, and two mounts on one container path
cannot both be what the author meant; a child policy may restate a parent's rule on
purpose, so only statements from the same file are compared. Two grants are of the same
host path when their paths lead to the same place on the host, however they are spelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from posixpath import normpath

from . import hosts, rules
from .diagnostics import Code, Collector
from .host import Host
from .origin import Origin, Pointer, Span
from .paths import askable, normal


def _file_of(origin: Origin) -> str | None:
    return origin.file if isinstance(origin, Span | Pointer) else None


def _reach(path: str, host: Host) -> str:
    """Where a host path leads on `host` (as written, when it may not be asked about)."""
    return host.path(normal(path)).resolved if askable(path) else normpath(path)


def check_duplicates(ruleset: Sequence[rules.Rule], out: Collector, host: Host) -> None:
    """Repeated or contradicting entries written in the same file (a child may restate a
    parent's rule on purpose; within one file it is a mistake)."""
    seen: dict[tuple[object, ...], rules.Rule] = {}
    targets: dict[tuple[str | None, str], rules.Read | rules.Write | rules.Tmpfs] = {}
    for rule in ruleset:
        key = _duplicate_key(rule, host)
        if key is not None:
            first = seen.get((_file_of(rule.origin), *key))
            # the same statement twice is one file reached by two `extends`, not a repeat
            if first is not None and first.origin != rule.origin:
                out.error(
                    _duplicate_code(rule),
                    f"{_describe(rule)} is already set above",
                    rule.origin,
                    help=f"remove one of them (first at {first.origin.render()})",
                )
            seen.setdefault((_file_of(rule.origin), *key), rule)
        if isinstance(rule, rules.Read | rules.Write | rules.Tmpfs):
            _check_target(rule, targets, out, host)


def _check_target(
    rule: rules.Read | rules.Write | rules.Tmpfs,
    targets: dict[tuple[str | None, str], rules.Read | rules.Write | rules.Tmpfs],
    out: Collector,
    host: Host,
) -> None:
    target = normpath(_target(rule))
    other = targets.setdefault((_file_of(rule.origin), target), rule)
    if other is rule or isinstance(other, rules.Tmpfs) != isinstance(rule, rules.Tmpfs):
        if other is not rule:
            out.error(
                Code.MOUNT_CONFLICT,
                f"`{target}` is mounted twice in the container",
                rule.origin,
                help=f"the other mount is at {other.origin.render()}",
            )
        return
    if (
        isinstance(rule, rules.Read | rules.Write)
        and isinstance(other, rules.Read | rules.Write)
        and _reach(other.path, host) != _reach(rule.path, host)
    ):
        out.error(
            Code.MOUNT_CONFLICT,
            f"`{target}` would show both `{other.path}` and `{rule.path}`",
            rule.origin,
            help=f"the other mount is at {other.origin.render()}",
        )


def _target(rule: rules.Read | rules.Write | rules.Tmpfs) -> str:
    if isinstance(rule, rules.Tmpfs):
        return rule.target
    return rule.target or rule.path


def _duplicate_key(rule: rules.Rule, host: Host) -> tuple[object, ...] | None:
    match rule:
        case rules.Read() | rules.Write():
            return (type(rule), _reach(rule.path, host), normpath(_target(rule)))
        case rules.Tmpfs(target=target):
            return (type(rule), normpath(target))
        case rules.Limit(kind=kind):
            return (type(rule), kind)
        case rules.Env(name=name) | rules.Secret(name=name):
            return ("env", name)
        case rules.User() | rules.Extends(target=_):
            return (type(rule), getattr(rule, "target", None))
        case rules.DenyHost(host=item) | rules.DenyPort(port=item):
            return (type(rule), hosts.normalise(item.value))
        case rules.DenyPath(path=path):
            return (type(rule), normpath(path))
        case rules.Capability(name=name):
            return (type(rule), name)
    return None


def _duplicate_code(rule: rules.Rule) -> Code:
    match rule:
        case rules.Limit():
            return Code.LIMIT_DUPLICATE
        case rules.Env() | rules.Secret():
            return Code.ENV_DUPLICATE
        case rules.Extends():
            return Code.EXTENDS_DUPLICATE
        case rules.Read() | rules.Write() | rules.Tmpfs():
            return Code.MOUNT_DUPLICATE
    return Code.DUPLICATE


def _describe(rule: rules.Rule) -> str:
    match rule:
        case rules.Read(path=path) | rules.Write(path=path):
            return f"the mount of `{path}`"
        case rules.Tmpfs(target=target):
            return f"the tmpfs at `{target}`"
        case rules.Limit(kind=kind):
            return f"the {kind.value} limit"
        case rules.Env(name=name) | rules.Secret(name=name):
            return f"`{name}`"
        case rules.User():
            return "the user"
        case rules.Extends(target=target):
            return f"`extends {target}`"
        case rules.DenyHost(host=item) | rules.DenyPort(port=item):
            return f"`deny {item.value}`"
        case rules.DenyPath(path=path):
            return f"`deny path {path}`"
        case rules.Capability(name=name):
            return f"capability `{name}`"
    return "this rule"  # pragma: no cover - every keyed rule is described above
