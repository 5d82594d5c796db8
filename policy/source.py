"""The parse pass: turn a SOURCE argument into rules.

A SOURCE is a built-in name (`stdio`, `none`, `network`), a JSON profile, or a policy
file. Policy files may `extends` a built-in or another file; this module reads those files
(the only I/O in `policy/`), splices the parent's rules in place of the `extends`, and
refuses cycles. The grammar and the profile schema live in `parser` and `profile`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from . import rules
from .diagnostics import Code, Collector, Diagnostic, PolicyError
from .origin import Default, Origin

Reader = Callable[[str], str]

BUILTINS: dict[str, str] = {
    "stdio": "no network; the default for servers that speak stdio",
    "none": "the same as `stdio`",
    "network": "open egress to any host and port — not for production",
}


def builtin_rules(name: str) -> list[rules.Rule]:
    origin = Default("stdio" if name == "none" else name)
    if name == "network":
        # the built-in's name is its own insecure marker; `explain` flags it
        return [rules.NetworkOpen(origin=origin, insecure=origin)]
    return [rules.NetworkNone(origin=origin)]


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


@dataclass
class Loaded:
    """The rules of a source, its display name and the text of every file read."""

    name: str
    rules: list[rules.Rule]
    texts: dict[str, str] = field(default_factory=dict)


def load(source: str, read: Reader = read_text) -> Loaded:
    """The rules for SOURCE, parents first. Raises `PolicyError`, with the files' texts."""
    texts: dict[str, str] = {}
    if source in BUILTINS:
        return Loaded(source, builtin_rules(source), texts)
    out = Collector()
    ruleset = _load_file(source, None, read, texts, out, stack=())
    out.raise_if_errors_with(texts)
    return Loaded(source, ruleset, texts)


def is_profile(path: str, text: str) -> bool:
    return path.endswith(".json") or text.lstrip().startswith("{")


def _load_file(
    path: str,
    origin: Origin | None,
    read: Reader,
    texts: dict[str, str],
    out: Collector,
    stack: tuple[str, ...],
) -> list[rules.Rule]:
    try:
        text = read(path)
    except FileNotFoundError:
        code = Code.SOURCE_NOT_FOUND if origin is None else Code.EXTENDS_NOT_FOUND
        out.error(
            code,
            f"`{path}` does not exist",
            origin,
            help=None if origin else f"name a file, or a built-in: {_builtin_list()}",
        )
        return []
    except (OSError, UnicodeDecodeError) as error:
        out.error(Code.SOURCE_UNREADABLE, f"cannot read `{path}`: {_reason(error)}", origin)
        return []
    texts[path] = text
    try:
        parsed = _parse(path, text)
    except PolicyError as error:
        out.extend(error.diagnostics)
        return []
    return _splice(parsed, path, read, texts, out, (*stack, os.path.realpath(path)))


def _parse(path: str, text: str) -> list[rules.Rule]:
    if is_profile(path, text):
        from .profile import load_profile

        return load_profile(text, path)
    from .parser import parse  # imports lark; only policy files pay for it

    return parse(text, path)


def _splice(
    parsed: list[rules.Rule],
    path: str,
    read: Reader,
    texts: dict[str, str],
    out: Collector,
    stack: tuple[str, ...],
) -> list[rules.Rule]:
    result: list[rules.Rule] = []
    for rule in parsed:
        if not isinstance(rule, rules.Extends):
            result.append(rule)
        elif rule.target in BUILTINS:
            result.extend(builtin_rules(rule.target))
        else:
            parent = os.path.join(os.path.dirname(path), rule.target)
            if os.path.realpath(parent) in stack:
                out.error(
                    Code.EXTENDS_CYCLE,
                    f"`{rule.target}` extends itself",
                    rule.origin,
                    help="a policy cannot inherit from a file that inherits from it",
                )
                continue
            result.extend(_load_file(parent, rule.origin, read, texts, out, stack))
    return result


def _builtin_list() -> str:
    return ", ".join(f"`{name}`" for name in BUILTINS)


def _reason(error: BaseException) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "it is not UTF-8 text"
    return (error.strerror or str(error)).lower() if isinstance(error, OSError) else str(error)


__all__ = ["BUILTINS", "Diagnostic", "Loaded", "builtin_rules", "is_profile", "load"]
