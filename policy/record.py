"""`record`: the frozen dataclass that rules, IR values, origins and plans are made of.

A dataclass compiles six methods from source text when its class is defined (`__init__`,
`__repr__`, `__eq__`, `__hash__`, `__setattr__`, `__delattr__`, one `exec` each). With
some fifty such classes that was a large share of a cold `mcp-lok policy compile`. A record
is a frozen dataclass whose `__eq__`, `__hash__` and `__repr__` are three shared functions
that read a per-class key (an `operator.attrgetter` of the compared fields), so only the
three methods that must be specific are compiled.

The meaning is a frozen dataclass's: fields declared `field(compare=False)` (origins) take
no part in equality or hashing, values of different classes are never equal, assigning
to a field raises `dataclasses.FrozenInstanceError`, and `dataclasses.fields`, `replace`
and pattern matching work as usual.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T", bound=type)


@overload
def record(cls: T, /) -> T: ...
@overload
def record(*, kw_only: bool = False) -> Callable[[T], T]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: T | None = None, /, *, kw_only: bool = False) -> T | Callable[[T], T]:
    """Make `cls` a record; `@record(kw_only=True)` for keyword-only fields."""

    def wrap(cls: T) -> T:
        dataclasses.dataclass(frozen=True, eq=False, repr=False, kw_only=kw_only)(cls)
        fields = dataclasses.fields(cls)
        cls._record_key = staticmethod(_key([f.name for f in fields if f.compare]))  # type: ignore[attr-defined]
        cls._record_shown = tuple(f.name for f in fields if f.repr)  # type: ignore[attr-defined]
        # as with a dataclass, a method the class defines itself is kept
        for name, method in (("__eq__", _eq), ("__hash__", _hash), ("__repr__", _repr)):
            if name not in cls.__dict__:
                setattr(cls, name, method)
        return cls

    return wrap if cls is None else wrap(cls)


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
