"""The parse pass: turn a SOURCE argument into rules.

A SOURCE is a built-in name (`stdio`, `none`, `network`), a JSON profile, or a policy
file. Policy files may `extends` a built-in or another file; this module reads those files
(the only I/O in `policy/`), splices the parent's rules in place of the `extends`, and
refuses cycles. The grammar and the profile schema live in `parser` and `profile`; which
files may be read, and which are policy text at all, `kinds`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from . import rules
from .diagnostics import Code, Collector, Diagnostic, not_policy
from .kinds import is_profile, named_as_policy
from .origin import Default, Origin, Pointer, Span, position
from .profile import load_profile
from .record import field, record

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


@record
class Loaded:
    """The rules of a source, its display name, the text of every file read and the
    problems found while reading them. With problems, `rules` holds what could still be
    read (the statements that parsed, the files that exist), for the check pass to judge
    so that one run reports every problem; such rules are never built."""

    name: str
    rules: list[rules.Rule]
    texts: dict[str, str] = field(default_factory=dict)
    diagnostics: tuple[Diagnostic, ...] = ()


def load(source: str, read: Reader = read_text) -> Loaded:
    """The rules for SOURCE, parents first, with every problem found reading them."""
    if source in BUILTINS:
        return Loaded(source, builtin_rules(source), {})
    loader = _Loader(read)
    real = os.path.realpath(source)
    ruleset = (
        loader.load_file(source, None, stack=(), real=real)
        if loader.kind_ok(source, real, None)
        else []
    )
    return Loaded(source, ruleset, loader.texts, _in_order(loader.out.diagnostics))


def _in_order(diagnostics: list[Diagnostic]) -> tuple[Diagnostic, ...]:
    """`diagnostics` file by file, in the order the files first appear, and in source
    order within a file: a parse error and a missing parent on the line above it are
    found in different steps of a file's load."""
    files: dict[str | None, int] = {}
    for diagnostic in diagnostics:
        files.setdefault(_file(diagnostic.origin), len(files))
    return tuple(sorted(diagnostics, key=lambda d: (files[_file(d.origin)], position(d.origin))))


def _file(origin: Origin | None) -> str | None:
    return origin.file if isinstance(origin, Span | Pointer) else None


def _parse(path: str, text: str, out: Collector) -> list[rules.Rule]:
    if is_profile(path, text):
        return load_profile(text, path, out)
    # The parser loads Lark's generated module (`_lalr.py`), with `logging` and `pickle`:
    # about 20 ms and 2.5 MiB. Imported here, as in `kinds`, so that a process that imports
    # this package and reads no policy file does not pay for it: the detached host proxy
    # (`run`'s start-up) imports it for `addresses` and `hosts`.
    from .parser import parse

    return parse(text, path, out)


class _Loader:
    """One load: the files read so far, their texts and the diagnostics found."""

    def __init__(self, read: Reader) -> None:
        self.read = read
        self.texts: dict[str, str] = {}
        self.out = Collector()
        # files already spliced in: a parent reached twice (A extends B and C, both
        # extending D) is applied once, where it first appears, so it cannot undo B
        self.spliced: set[str] = set()

    def load_file(
        self, path: str, origin: Origin | None, stack: tuple[str, ...], real: str | None = None
    ) -> list[rules.Rule]:
        """The rules of the file `path`, its parents spliced in; `real` is its real path
        when the caller knows it already (each `realpath` costs a system call for every
        folder on the way, a good share of a compile)."""
        try:
            text = self.read(path)
        except FileNotFoundError:
            code = Code.SOURCE_NOT_FOUND if origin is None else Code.EXTENDS_NOT_FOUND
            self.out.error(
                code,
                f"`{path}` does not exist",
                origin,
                help=None if origin else f"name a file, or a built-in: {_builtin_list()}",
            )
            return []
        except (OSError, UnicodeDecodeError) as error:
            self.out.error(
                Code.SOURCE_UNREADABLE, f"cannot read `{path}`: {_reason(error)}", origin
            )
            return []
        real = real or os.path.realpath(path)
        self.spliced.add(real)
        found = Collector()
        parsed = _parse(path, text, found)
        # INVARIANT: the text of a file that is not a policy is never kept, so no
        # diagnostic can quote it; it gets one diagnostic saying where and why, and none
        # of what was read from it is judged
        if found.has_errors and (foreign := not_policy(path, text, origin)) is not None:
            self.out.extend([foreign])
            return []
        self.texts[path] = text
        self.out.extend(found.diagnostics)
        return self.splice(parsed, path, (*stack, real))

    def kind_ok(self, path: str, real: str, origin: Origin | None) -> bool:
        """Whether `path` (resolved: `real`) names a policy file or a profile; reports it
        when it does not. Asked before the file is read."""
        # INVARIANT: only `.lok` and `.json` files are read, by name and where the name
        # leads: `extends "/etc/shadow"` (or a link `x.lok` to it) reads nothing
        if named_as_policy(path) and named_as_policy(real):
            return True
        leads = f" leads to `{real}`, which" if named_as_policy(path) else ""
        names = "`extends` names" if origin else "a SOURCE is"
        self.out.error(
            Code.SOURCE_KIND,
            f"`{path}`{leads} is neither a policy file nor a profile",
            origin,
            help=f"{names} a policy file ending in `.lok`, a profile ending in `.json`, "
            f"or a built-in: {_builtin_list()}",
        )
        return False

    def splice(
        self, parsed: list[rules.Rule], path: str, stack: tuple[str, ...]
    ) -> list[rules.Rule]:
        result: list[rules.Rule] = []
        named: dict[str, rules.Extends] = {}
        for rule in parsed:
            if not isinstance(rule, rules.Extends):
                result.append(rule)
                continue
            first = named.setdefault(rule.target, rule)
            if first is not rule:
                self.out.error(
                    Code.EXTENDS_DUPLICATE,
                    f"`extends {rule.target}` is already written above",
                    rule.origin,
                    help=f"remove one of them (first at {first.origin.render()})",
                )
            elif rule.target in BUILTINS:
                result.extend(builtin_rules(rule.target))
            else:
                result.extend(self.parent(rule, path, stack))
        return result

    def parent(self, rule: rules.Extends, path: str, stack: tuple[str, ...]) -> list[rules.Rule]:
        parent = os.path.join(os.path.dirname(path), rule.target)
        real = os.path.realpath(parent)
        if not self.kind_ok(rule.target, real, rule.origin):
            return []
        if real in stack:
            self.out.error(
                Code.EXTENDS_CYCLE,
                f"`{rule.target}` extends itself",
                rule.origin,
                help="a policy cannot inherit from a file that inherits from it",
            )
            return []
        if real in self.spliced:
            return []
        return self.load_file(parent, rule.origin, stack, real)


def _builtin_list() -> str:
    return ", ".join(f"`{name}`" for name in BUILTINS)


def _reason(error: BaseException) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "it is not UTF-8 text"
    return (error.strerror or str(error)).lower() if isinstance(error, OSError) else str(error)


__all__ = ["BUILTINS", "Diagnostic", "Loaded", "builtin_rules", "is_profile", "load"]
