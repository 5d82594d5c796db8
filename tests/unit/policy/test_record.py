"""Records mean what frozen dataclasses mean: equality, hashing, repr, immutability."""

from __future__ import annotations

import dataclasses
from dataclasses import field

import pytest

from mcp_lok.policy.record import record


@record
class Point:
    x: int
    y: int
    note: str = field(default="", compare=False)


@record(kw_only=True)
class Named:
    name: str


@record
class Empty:
    note: str = field(default="", compare=False)


@record
class Twin:
    x: int
    y: int
    note: str = field(default="", compare=False)


@record
class Shouting:
    word: str

    def __repr__(self) -> str:
        return self.word.upper()


@dataclasses.dataclass(frozen=True)
class Reference:
    """The dataclass a record stands for."""

    x: int
    y: int
    note: str = field(default="", compare=False)


def test_equality_and_hash_leave_out_uncompared_fields() -> None:
    assert Point(1, 2, "a") == Point(1, 2, "b")
    assert hash(Point(1, 2, "a")) == hash(Point(1, 2, "b"))
    assert Point(1, 2) != Point(2, 1)
    assert len({Point(1, 2, "a"), Point(1, 2, "b"), Point(3, 4)}) == 2


def test_one_and_no_compared_fields() -> None:
    assert Named(name="a") == Named(name="a")
    assert Named(name="a") != Named(name="b")
    assert hash(Named(name="a")) == hash(Named(name="a"))
    assert Empty("x") == Empty("y")
    assert hash(Empty("x")) == hash(Empty("y"))


def test_values_of_different_classes_are_never_equal() -> None:
    assert Point(1, 2) != Twin(1, 2)
    assert Point(1, 2) != (1, 2)
    assert Point(1, 2).__eq__(Twin(1, 2)) is NotImplemented


def test_repr_matches_a_dataclass() -> None:
    point = repr(Point(1, 2, "a"))
    assert point == repr(Reference(1, 2, "a")).replace("Reference", "Point")
    assert repr(Named(name="n")) == "Named(name='n')"


def test_a_method_of_the_class_is_kept() -> None:
    assert repr(Shouting("hi")) == "HI"


def test_records_are_frozen_dataclasses() -> None:
    point = Point(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 3  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(point)] == ["x", "y", "note"]
    assert dataclasses.replace(point, x=5) == Point(5, 2)
    with pytest.raises(TypeError):
        Named("positional")  # type: ignore[misc]
    match point:
        case Point(1, y):
            assert y == 2
        case _:
            pytest.fail("positional pattern did not match")
