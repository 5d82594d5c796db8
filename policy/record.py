"""`record`: the frozen value class that rules, IR values, origins, plans and reports are.

A record means what a frozen dataclass means: fields come from the class's annotations,
in order, base classes' first; `field(compare=False)` leaves a field (an origin) out of
equality and hashing; values of different classes are never equal; assigning to a field
raises `FrozenInstanceError`; `fields`, `replace` and pattern matching work as with a
dataclass, and `typing.dataclass_transform` makes mypy type a record as one.

Why not `dataclasses`: it generates the source text of every class's `__init__`,
`__repr__`, `__eq__`, `__hash__`, `__setattr__` and `__delattr__` and compiles it with
`exec`: about 430 µs a class (bench/RESULTS.md, §1), close to 30 ms of every cold
`mcp-lok policy compile` for the 66 record classes of this package. Here nothing is
compiled: every method is a function shared by all records, or (`__init__`) a closure over
the class's field names, and building a class costs about 10 µs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T", bound=type)
V = TypeVar("V")
R = TypeVar("R")


class _Missing:
    """The absence of a default (None is a default like any other)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """Assigning to or deleting a field of a record (an AttributeError, as dataclasses')."""


class Field:
    """One field of a record, as `fields` returns it."""

    __slots__ = ("compare", "default", "default_factory", "kw_only", "name", "repr")

    def __init__(self, default: Any, default_factory: Any, compare: bool, repr: bool) -> None:
        self.name = ""  # set when the class is made a record
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.repr = repr
        self.kw_only = False

    def __repr__(self) -> str:
        return (
            f"Field(name={self.name!r}, default={self.default!r}, "
            f"default_factory={self.default_factory!r}, compare={self.compare}, "
            f"repr={self.repr}, kw_only={self.kw_only})"
        )


@overload
def field(*, default: V, compare: bool = True, repr: bool = True) -> V: ...
@overload
def field(*, default_factory: Callable[[], V], compare: bool = True, repr: bool = True) -> V: ...
@overload
def field(*, compare: bool = True, repr: bool = True) -> Any: ...


def field(
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    compare: bool = True,
    repr: bool = True,
) -> Any:
    """A field with a default, a default made fresh for each value, or left out of
    equality (`compare=False`) or of the repr (`repr=False`)."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, compare, repr)


@overload
def record(cls: T, /) -> T: ...
@overload
def record(*, kw_only: bool = False) -> Callable[[T], T]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: T | None = None, /, *, kw_only: bool = False) -> T | Callable[[T], T]:
    """Make `cls` a record; `@record(kw_only=True)` for keyword-only fields."""

    def wrap(cls: T) -> T:
        _make(cls, kw_only)
        return cls

    return wrap if cls is None else wrap(cls)


def fields(value: Any) -> tuple[Field, ...]:
    """The fields of a record class or value, in the order they were declared."""
    try:
        found: tuple[Field, ...] = value._record_fields
    except AttributeError:
        raise TypeError("fields() takes a record class or value") from None
    return found


def replace(value: R, /, **changes: Any) -> R:
    """A copy of the record `value` with some fields changed."""
    for f in fields(value):
        if f.name not in changes:
            changes[f.name] = getattr(value, f.name)
    made: R = value.__class__(**changes)
    return made


# --- making a class a record -----------------------------------------------------------------


def _make(cls: type, kw_only: bool) -> None:
    if "__setattr__" in cls.__dict__ or "__delattr__" in cls.__dict__:
        raise TypeError(f"record {cls.__qualname__} cannot define __setattr__ or __delattr__")
    if "__post_init__" in cls.__dict__:
        raise TypeError(f"record {cls.__qualname__}: __post_init__ is not supported")
    by_name: dict[str, Field] = {}
    for base in cls.__mro__[-1:0:-1]:  # base classes' fields first, as a dataclass's
        for f in base.__dict__.get("_record_fields", ()):
            by_name[f.name] = f
    own = inspect.get_annotations(cls)
    for name, annotation in own.items():
        if not _is_classvar(annotation):
            by_name[name] = _own_field(cls, name, kw_only)
    every = tuple(by_name.values())
    positional = tuple(f.name for f in every if not f.kw_only)
    _check_order(cls, every)
    cls._record_fields = every  # type: ignore[attr-defined]
    cls._record_key = staticmethod(_key([f.name for f in every if f.compare]))  # type: ignore[attr-defined]
    cls._record_shown = tuple(f.name for f in every if f.repr)  # type: ignore[attr-defined]
    # INVARIANT: a record is immutable, whatever its class defines (checked above)
    setattr(cls, "__setattr__", _setattr)  # noqa: B010 - mypy forbids assigning a method
    setattr(cls, "__delattr__", _delattr)  # noqa: B010 - mypy forbids assigning a method
    if "__eq__" in cls.__dict__ and cls.__dict__.get("__hash__", 0) is None:
        # Python's implicit `__hash__ = None` for a class that defines `__eq__`: a frozen
        # dataclass still hashes its fields then, and so does a record
        delattr(cls, "__hash__")
    # as with a dataclass, what the class defines itself is kept
    for name, method in (
        ("__init__", _initializer(cls, every, positional)),
        ("__eq__", _eq),
        ("__hash__", _hash),
        ("__repr__", _repr),
        ("__match_args__", positional),
        ("__signature__", _SIGNATURE),
    ):
        if name not in cls.__dict__:
            setattr(cls, name, method)


def _is_classvar(annotation: object) -> bool:
    # with `from __future__ import annotations` an annotation is its source text
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _own_field(cls: type, name: str, kw_only: bool) -> Field:
    """The field `name` of the class body; its default (if any) stays a class attribute."""
    declared = cls.__dict__.get(name, MISSING)
    if isinstance(declared, Field):
        found = declared
        if found.default is MISSING:
            delattr(cls, name)
        else:
            setattr(cls, name, found.default)
    else:
        found = Field(declared, MISSING, compare=True, repr=True)
    if found.default.__class__.__hash__ is None:  # a list, dict or set shared by every value
        raise ValueError(
            f"mutable default {type(found.default)} for field {name} is not allowed: "
            "use default_factory"
        )
    found.name = name
    found.kw_only = kw_only
    return found


def _check_order(cls: type, every: tuple[Field, ...]) -> None:
    defaulted = None
    for f in every:
        if f.kw_only:
            continue
        if f.default is not MISSING or f.default_factory is not MISSING:
            defaulted = f.name
        elif defaulted is not None:
            raise TypeError(
                f"{cls.__qualname__}: non-default argument {f.name!r} follows default "
                f"argument {defaulted!r}"
            )


# --- the methods -----------------------------------------------------------------------------


def _initializer(
    cls: type, every: tuple[Field, ...], positional: tuple[str, ...]
) -> Callable[..., None]:
    """`__init__` for a record: positional arguments map to `positional` in order, keyword
    arguments by name, defaults and factories fill the rest, and a wrong call raises the
    TypeError a dataclass's `__init__` would.

    It sets each field with `object.__setattr__`, as a frozen dataclass's `__init__` does.
    (Filling `self.__dict__` in one `update` looks cheaper but is not: it turns the
    instance's compact attribute storage into a real dict, which makes every later read
    of a field several times slower.) The two calls the compiler makes all the time —
    every field positional, or every field by keyword — take a loop with no other work."""
    names = tuple(f.name for f in every)
    count = len(names)
    known = frozenset(names)
    # all fields positional and all given: the common call; -1 when some are keyword-only
    full = count if len(positional) == count else -1
    # (index, name) pairs: a loop over them is faster than one over `zip(positional, args)`
    indexed = tuple(enumerate(positional))
    call = f"{cls.__qualname__}()"

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if not kwargs:
            if len(args) == full:
                for i, name in indexed:
                    _set(self, name, args[i])
                return
        elif not args and len(kwargs) == count:
            try:
                for name in names:
                    _set(self, name, kwargs[name])
                return
            except KeyError:
                pass  # an unknown keyword in place of a field: the general case says which
        values = _merge(call, positional, args, kwargs)
        _complete(call, every, known, values)
        for name in names:
            _set(self, name, values[name])

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


_set = object.__setattr__


def _merge(
    call: str, positional: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    if len(args) > len(positional):
        raise TypeError(
            f"{call} takes {len(positional)} positional argument"
            f"{'' if len(positional) == 1 else 's'} but {len(args)} were given"
        )
    values = dict(zip(positional, args, strict=False))  # some may be keywords
    for name in kwargs:
        if name in values:
            raise TypeError(f"{call} got multiple values for argument {name!r}")
    values.update(kwargs)
    return values


def _complete(
    call: str, every: tuple[Field, ...], known: frozenset[str], values: dict[str, Any]
) -> None:
    """Check the names in `values` and add the defaults of the fields it lacks."""
    for name in values:
        if name not in known:
            raise TypeError(f"{call} got an unexpected keyword argument {name!r}")
    missing = []
    for f in every:
        if f.name in values:
            continue
        if f.default is not MISSING:
            values[f.name] = f.default
        elif f.default_factory is not MISSING:
            values[f.name] = f.default_factory()
        else:
            missing.append(f)
    if missing:
        raise _missing(call, missing)


def _missing(call: str, missing: list[Field]) -> TypeError:
    """The error Python gives for missing arguments, positional ones named first."""
    positional = [f for f in missing if not f.kw_only]
    kind = "positional" if positional else "keyword-only"
    names = [repr(f.name) for f in positional or missing]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    plural = "" if len(names) == 1 else "s"
    return TypeError(f"{call} missing {len(names)} required {kind} argument{plural}: {listed}")


def _key(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A function from a value to the tuple of its compared fields (never a bare value)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        get = attrgetter(names[0])
        return lambda value: (get(value),)
    return lambda value: ()


def _eq(self: Any, other: Any) -> Any:  # a bool, or NotImplemented for another class
    if other.__class__ is not self.__class__:
        return NotImplemented
    key = self._record_key
    return key(self) == key(other)


def _hash(self: Any) -> int:
    return hash(self._record_key(self))


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._record_shown)
    return f"{type(self).__qualname__}({shown})"


def _setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


class _Signature:
    """`inspect.signature(SomeRecord)` (for `help`, editors, hypothesis's `builds`), made
    when asked for."""

    def __get__(self, value: Any, cls: type) -> Any:
        kinds = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY
        parameters = []
        for f in sorted(fields(cls), key=lambda f: f.kw_only):  # keyword-only ones last
            default = f.default
            if default is MISSING:
                # a dataclass's signature shows a factory's default the same way
                default = inspect.Parameter.empty if f.default_factory is MISSING else _FACTORY
            parameters.append(inspect.Parameter(f.name, kinds[f.kw_only], default=default))
        return inspect.Signature(parameters)


class _Factory:
    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


_SIGNATURE = _Signature()
