"""Where a value came from: a span in a policy file, a JSON pointer into a profile, or a
named default. Every IR value and every payload field carries one; `explain`, `diff` and
diagnostics render them. Origins never take part in equality (see `ir.py`)."""

from __future__ import annotations

from .record import record


@record
class Span:
    """A region of a source file, 1-based lines and columns, end exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def render(self) -> str:
        return f"{self.file}:{self.line}"

    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@record
class Pointer:
    """A JSON pointer (RFC 6901) into a profile, with the span of the value when known."""

    file: str
    pointer: str
    span: Span | None = None

    def render(self) -> str:
        return f"{self.file}#{self.pointer}"

    def location(self) -> str:
        return self.span.location() if self.span else self.render()


@record
class Default:
    """A value nobody wrote: the hardened baseline or a built-in profile."""

    name: str

    def render(self) -> str:
        return f"default ({self.name})"

    def location(self) -> str:
        return self.render()


@record
class Argument:
    """A value given on the command line (the image, the server's name, its transport)."""

    name: str

    def render(self) -> str:
        return f"argument ({self.name})"

    def location(self) -> str:
        return self.render()


Origin = Span | Pointer | Default | Argument

BASELINE = Default("baseline")


def position(origin: Origin | None) -> tuple[int, int]:
    """Where in its file `origin` starts (line, column), for source order; (0, 0) for a
    value nobody wrote, or a pointer without a span."""
    span = origin.span if isinstance(origin, Pointer) else origin
    return (span.line, span.col) if isinstance(span, Span) else (0, 0)


def pointer_escape(token: str | int) -> str:
    """Escape one reference token of a JSON pointer."""
    return str(token).replace("~", "~0").replace("/", "~1")


def join_pointer(base: str, *tokens: str | int) -> str:
    return base + "".join("/" + pointer_escape(t) for t in tokens)
