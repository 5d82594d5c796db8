"""Input problems as values: every check appends a `Diagnostic`; a pass that found any
error raises one `PolicyError` carrying all of them. Rendering follows compilers:
`file:line:col: error[code]: message`, the source line, a caret underline, `help: …`."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping

from .kinds import foreign
from .origin import Argument, Default, Origin, Pointer, Span
from .record import record


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Code(enum.Enum):
    """Stable diagnostic codes. Tests and users match on these; never renumber or reuse."""

    # reading the source
    SOURCE_NOT_FOUND = "source.not-found"
    SOURCE_UNREADABLE = "source.unreadable"
    SOURCE_KIND = "source.unknown-kind"
    SOURCE_NOT_POLICY = "source.not-a-policy"
    # the policy language's syntax
    PARSE_UNEXPECTED_TOKEN = "parse.unexpected-token"  # noqa: S105 (a code's name)
    PARSE_UNEXPECTED_CHARACTER = "parse.unexpected-character"
    PARSE_UNEXPECTED_EOF = "parse.unexpected-end"
    PARSE_UNKNOWN_KEYWORD = "parse.unknown-keyword"
    PARSE_INVALID_VALUE = "parse.invalid-value"
    # JSON profiles
    PROFILE_INVALID_JSON = "profile.invalid-json"
    PROFILE_UNKNOWN_FIELD = "profile.unknown-field"
    PROFILE_WRONG_TYPE = "profile.wrong-type"
    PROFILE_DUPLICATE_KEY = "profile.duplicate-key"
    PROFILE_UNSUPPORTED = "profile.unsupported"
    # checks shared by both sources
    PATH_RELATIVE = "policy.relative-path"
    PATH_PARENT = "policy.parent-segment"
    PATH_CONTROL_CHAR = "policy.control-character"
    PATH_TARGET_RELATIVE = "policy.relative-target"
    PATH_MISSING = "policy.missing-path"
    PATH_UNRESOLVABLE = "policy.unresolvable-path"
    PATH_CHANGED = "policy.path-changed"
    MOUNT_DANGEROUS = "policy.insecure-mount"
    MOUNT_DUPLICATE = "policy.duplicate-mount"
    MOUNT_CONFLICT = "policy.conflicting-mount"
    HOST_MALFORMED = "policy.malformed-host"
    HOST_DUPLICATE = "policy.duplicate-host"
    PORT_RANGE = "policy.port-out-of-range"
    PORT_DUPLICATE = "policy.duplicate-port"
    TRANSPORT_UNKNOWN = "policy.unknown-transport"
    NETWORK_CONFLICT = "policy.network-conflict"
    NETWORK_INCOMPLETE = "policy.network-incomplete"
    NETWORK_MODE = "policy.unknown-network-mode"
    HOST_OWN_LOOPBACK = "policy.own-loopback"
    HOST_UNSPECIFIED = "policy.unspecified-address"
    INSECURE_REQUIRED = "policy.insecure-required"
    INSECURE_UNUSED = "policy.insecure-unused"
    CAPABILITY_UNKNOWN = "policy.unknown-capability"
    CAPABILITY_REASON = "policy.missing-reason"
    SYSCALL_UNKNOWN = "policy.unknown-syscall"
    USER_MALFORMED = "policy.malformed-user"
    USER_RESERVED = "policy.reserved-user"
    # resolving a user against the image's /etc/passwd and /etc/group (at launch)
    USER_UNKNOWN = "policy.unknown-user"
    GROUP_UNKNOWN = "policy.unknown-group"
    USER_NO_GROUP = "policy.user-without-group"
    LIMIT_INVALID = "policy.invalid-limit"
    LIMIT_DUPLICATE = "policy.duplicate-limit"
    ENV_INVALID = "policy.invalid-env"
    ENV_DUPLICATE = "policy.duplicate-env"
    SECRET_INVALID = "policy.invalid-secret"  # noqa: S105 (a code's name)
    EXTENDS_NOT_FOUND = "policy.extends-not-found"
    EXTENDS_CYCLE = "policy.extends-cycle"
    EXTENDS_DUPLICATE = "policy.duplicate-extends"
    DUPLICATE = "policy.duplicate"
    # lowering inputs
    NAME_INVALID = "plan.invalid-name"
    IMAGE_INVALID = "plan.invalid-image"
    PORT_INVALID = "plan.invalid-port"


@record
class Diagnostic:
    code: Code
    message: str
    origin: Origin | None = None
    help: str | None = None
    severity: Severity = Severity.ERROR

    def to_json(self) -> dict[str, object]:
        where: dict[str, object] | None = None
        span = _span_of(self.origin)
        if self.origin is not None:
            where = {"source": self.origin.render()}
            if span is not None:
                where.update(
                    file=span.file,
                    line=span.line,
                    column=span.col,
                    end_line=span.end_line,
                    end_column=span.end_col,
                )
        return {
            "code": self.code.value,
            "severity": self.severity.value,
            "message": self.message,
            "help": self.help,
            "location": where,
        }


class PolicyError(Exception):
    """One or more error diagnostics; the only exception a policy pass raises for bad input."""

    def __init__(
        self, diagnostics: Iterable[Diagnostic], sources: Mapping[str, str] | None = None
    ) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        # the text of every file involved, so the caller can render excerpts
        self.sources: dict[str, str] = dict(sources or {})
        first = self.diagnostics[0].message if self.diagnostics else "invalid policy"
        super().__init__(first)


class Collector:
    """Gathers diagnostics during a pass; `raise_if_errors` ends the pass."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def error(
        self, code: Code, message: str, origin: Origin | None, help: str | None = None
    ) -> None:
        self.diagnostics.append(Diagnostic(code, message, origin, help))

    def warn(
        self, code: Code, message: str, origin: Origin | None, help: str | None = None
    ) -> None:
        self.diagnostics.append(Diagnostic(code, message, origin, help, Severity.WARNING))

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics.extend(diagnostics)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)

    def raise_if_errors(self) -> None:
        self.raise_if_errors_with({})

    def raise_if_errors_with(self, sources: Mapping[str, str]) -> None:
        if self.has_errors:
            raise PolicyError(self.diagnostics, sources)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean `x`?" hint for a misspelt name, or None."""
    import difflib  # about 2 ms, which only a misspelling needs: a policy without errors skips it

    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def _span_of(origin: Origin | None) -> Span | None:
    if isinstance(origin, Span):
        return origin
    if isinstance(origin, Pointer):
        return origin.span
    return None


# what a file of each kind begins with, said without a word of the file that is not one
NOT_POLICY_HELP = {
    "policy": "nothing of it is shown, as it may not be yours: a policy file begins with a "
    "statement such as `read`, `allow` or `extends`",
    "profile": "nothing of it is shown, as it may not be yours: a profile is a JSON object "
    "with `read`, `write` or `network`",
}


def not_policy(file: str, text: str, named_at: Origin | None = None) -> Diagnostic | None:
    """The one diagnostic for a file that is not policy text (None when it is one): where
    and why, never a word of it. `named_at` is the `extends` that named it."""
    found = foreign(file, text)
    if found is None:
        return None
    where = Span(file, found.line, found.col, found.line, found.col)
    named = f"; it is named by `extends` at {named_at.render()}" if named_at else ""
    return Diagnostic(
        Code.SOURCE_NOT_POLICY,
        f"`{file}` is not a {found.kind}: {found.reason}",
        where,
        help=NOT_POLICY_HELP[found.kind] + named,
    )


def render(diagnostic: Diagnostic, sources: Mapping[str, str]) -> str:
    """Render one diagnostic as text; `sources` maps file names to their text."""
    span = _span_of(diagnostic.origin)
    text = sources.get(span.file) if span is not None else None
    if span is not None and text is not None:
        # INVARIANT: a file that is not policy text is never quoted, whoever passed its
        # text here: the diagnostic becomes the one that says where and why, no excerpt
        diagnostic = not_policy(span.file, text) or diagnostic
        if diagnostic.code is Code.SOURCE_NOT_POLICY:
            text = None
    head = f"{diagnostic.severity.value}[{diagnostic.code.value}]: {diagnostic.message}"
    origin = diagnostic.origin
    span = _span_of(origin)
    if span is not None:
        lines = [f"{span.location()}: {head}"]
        if text is not None:
            lines.extend(_excerpt(text, span))
    elif origin is not None and not isinstance(origin, Default | Argument):
        lines = [f"{origin.render()}: {head}"]
    else:
        lines = [head]
    if diagnostic.help:
        lines.append(f"  = help: {diagnostic.help}")
    return "\n".join(lines)


def render_all(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    rendered = [render(d, sources) for d in diagnostics]
    # several diagnostics in a file that is not a policy all render as the same one
    return "\n\n".join(dict.fromkeys(rendered))


_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _excerpt(text: str, span: Span) -> list[str]:
    # lines end at `\n` only, as in every span producer (and in `json`'s own positions)
    source_lines = text.split("\n")
    if not 1 <= span.line <= len(source_lines):
        return []
    # INVARIANT: source text never reaches the terminal raw; a control character becomes
    # one visible character, so the caret line still lines up
    line = _UNPRINTABLE.sub("\ufffd", source_lines[span.line - 1].removesuffix("\r"))
    line = line.expandtabs(1)
    gutter = str(span.line)
    pad = " " * len(gutter)
    end = span.end_col if span.end_line == span.line else len(line) + 1
    width = max(1, end - span.col)
    return [
        f"{pad} |",
        f"{gutter} | {line}",
        f"{pad} | {' ' * (span.col - 1)}{'^' * width}",
    ]
