"""Records mean what frozen dataclasses mean: equality over compared fields, hashing, repr,
immutability, defaults, keyword-only fields, the errors of a wrong call, pattern matching,
`fields` and `replace` — without the code that `dataclasses` generates and compiles for
every class (see `policy/record.py`)."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import pytest

from mcp_lok.policy.record import (
    MISSING,
    FrozenInstanceError,
    field,
    fields,
    record,
    replace,
)

T = TypeVar("T")
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


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


@record
class Bag:
    label: str = "bag"
    items: list[int] = field(default_factory=list)
    hidden: str = field(default="secret", repr=False)
    kind: ClassVar[str] = "container"


@record(kw_only=True)
class Base:
    origin: str = field(compare=False)
    reason: str | None = field(default=None, compare=False)


@record(kw_only=True)
class Child(Base):
    target: str


@record
class Mixed:
    a: int
    b: int = 2


@record(kw_only=True)
class Pair:
    first: int
    second: int


@record
class Box(Generic[T]):
    value: T


@dataclasses.dataclass(frozen=True)
class Reference:
    """The dataclass a record stands for."""

    x: int
    y: int
    note: str = dataclasses.field(default="", compare=False)


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
    assert Child(target="t", origin="o") != Base(origin="o")


def test_repr_matches_a_dataclass() -> None:
    point = repr(Point(1, 2, "a"))
    assert point == repr(Reference(1, 2, "a")).replace("Reference", "Point")
    assert repr(Named(name="n")) == "Named(name='n')"
    assert repr(Bag()) == "Bag(label='bag', items=[])"  # `repr=False` leaves a field out


@record
class Folded:
    word: str

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Folded) and self.word.lower() == other.word.lower()


@record
class Unhashable:
    word: str
    __hash__ = None  # type: ignore[assignment]


def test_a_method_of_the_class_is_kept() -> None:
    assert repr(Shouting("hi")) == "HI"
    assert Folded("A") == Folded("a")
    # as a frozen dataclass, a record hashes its fields even when it defines `__eq__` …
    assert hash(Folded("a")) == hash(Folded("a"))
    # … but not when it says it has no hash
    with pytest.raises(TypeError, match="unhashable"):
        hash(Unhashable("a"))


def test_records_are_frozen() -> None:
    point = Point(1, 2)
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'x'"):
        point.x = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):  # as a dataclass's FrozenInstanceError is
        point.other = 3  # type: ignore[attr-defined]
    with pytest.raises(FrozenInstanceError, match="cannot delete field 'y'"):
        del point.y  # type: ignore[misc]
    assert point == Point(1, 2)


def test_defaults_and_factories() -> None:
    one, two = Bag(), Bag("box")
    assert (one.label, two.label, one.hidden) == ("bag", "box", "secret")
    assert one.items == []
    assert one.items is not two.items  # a fresh list for each value
    assert Bag.label == "bag"  # a plain default stays a class attribute, as in a dataclass
    assert Bag.kind == "container"
    assert [f.name for f in fields(Bag)] == ["label", "items", "hidden"]  # a ClassVar is none
    assert not hasattr(Point, "x")  # a field without default is no class attribute


def test_positional_and_keyword_arguments() -> None:
    assert Point(1, y=2) == Point(x=1, y=2) == Point(y=2, x=1) == Point(1, 2)
    assert Point(1, 2, note="n").note == "n"
    assert Mixed(1) == Mixed(a=1) == Mixed(1, 2)
    assert Pair(first=1, second=2) == Pair(second=2, first=1)
    assert Child(target="t", origin="o").reason is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Point(1), r"^Point\(\) missing 1 required positional argument: 'y'$"),
        (lambda: Point(), r"^Point\(\) missing 2 required positional arguments: 'x' and 'y'$"),
        (lambda: Point(1, 2, "n", 4), r"^Point\(\) takes 3 positional arguments but 4 were"),
        (lambda: Point(1, x=1), r"^Point\(\) got multiple values for argument 'x'$"),
        (lambda: Point(1, 2, z=3), r"^Point\(\) got an unexpected keyword argument 'z'$"),
        (lambda: Point(1, 2, 3, z=3), r"unexpected keyword argument 'z'"),
        (lambda: Point(x=1, y=2, z=3), r"unexpected keyword argument 'z'"),
        (lambda: Named("n"), r"^Named\(\) takes 0 positional arguments but 1 were given$"),
        (lambda: Named(), r"^Named\(\) missing 1 required keyword-only argument: 'name'$"),
        (lambda: Pair(), r"keyword-only arguments: 'first' and 'second'$"),
        (lambda: Child(origin="o"), r"^Child\(\) missing 1 required keyword-only argument"),
        (lambda: Mixed(1, 2, 3), r"^Mixed\(\) takes 2 positional arguments but 3 were"),
        (lambda: Box(), r"^Box\(\) missing 1 required positional argument: 'value'$"),
        (lambda: Box(1, 2), r"^Box\(\) takes 1 positional argument but 2 were given$"),
    ],
)
def test_a_wrong_call_raises_what_a_dataclass_raises(call, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match=message):
        call()


def test_inheritance_puts_base_fields_first() -> None:
    child = Child(target="t", origin="o", reason="r")
    assert [f.name for f in fields(child)] == ["origin", "reason", "target"]
    assert child == Child(target="t", origin="elsewhere")  # origins are not compared
    assert repr(child) == "Child(origin='o', reason='r', target='t')"


def test_pattern_matching() -> None:
    assert Point.__match_args__ == ("x", "y", "note")
    assert Named.__match_args__ == ()
    match Point(1, 2):
        case Point(1, y):
            assert y == 2
        case _:
            pytest.fail("positional pattern did not match")
    match Child(target="t", origin="o"):
        case Child(target=target):
            assert target == "t"
        case _:
            pytest.fail("keyword pattern did not match")


def test_fields_and_replace() -> None:
    point = Point(1, 2, "n")
    assert [f.name for f in fields(point)] == ["x", "y", "note"]
    assert [f.compare for f in fields(Point)] == [True, True, False]
    assert replace(point, x=5) == Point(5, 2)
    assert replace(point, x=5).note == "n"
    assert replace(Named(name="a"), name="b") == Named(name="b")
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        replace(point, z=1)
    with pytest.raises(TypeError, match="record class or value"):
        fields(Reference)
    note = fields(Point)[2]
    assert repr(note) == (
        "Field(name='note', default='', default_factory=MISSING, compare=False, repr=True, "
        "kw_only=False)"
    )
    assert fields(Point)[0].default is MISSING


def test_generic_records_and_copies() -> None:
    boxed = Box[int](3)  # typing sets `__orig_class__`, and a frozen value refuses it
    assert boxed == Box(3)
    assert boxed.value == 3
    point = Point(1, 2, "n")
    assert copy.copy(point) == point
    assert copy.deepcopy(point).note == "n"
    assert pickle.loads(pickle.dumps(point)) == point


def test_signature_is_made_on_demand() -> None:
    assert str(inspect.signature(Point)) == "(x, y, note='')"
    assert str(inspect.signature(Child)) == "(*, origin, reason=None, target)"
    assert str(inspect.signature(Bag)) == "(label='bag', items=<factory>, hidden='secret')"


def test_definitions_a_dataclass_refuses_are_refused() -> None:
    with pytest.raises(ValueError, match="mutable default <class 'list'> for field items"):

        @record
        class Shared:
            items: list[int] = []  # noqa: RUF012 - the mistake under test

    with pytest.raises(ValueError, match="cannot specify both default and default_factory"):
        field(default=1, default_factory=int)
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument 'a'"):

        @record
        class Order:
            a: int = 1
            b: int  # type: ignore[misc]

    with pytest.raises(TypeError, match="cannot define __setattr__"):

        @record
        class Thawed:
            a: int

            def __setattr__(self, name: str, value: object) -> None: ...

    with pytest.raises(TypeError, match="__post_init__ is not supported"):

        @record
        class Checked:
            a: int

            def __post_init__(self) -> None: ...


def test_payload_annotations_are_evaluated_not_compiled_from_text() -> None:
    # `payloads.py` must not use `from __future__ import annotations` (see its docstring)
    from mcp_lok.policy.lower import payloads

    assert payloads.ContainerCreate.__annotations__["Image"] is str
    assert payloads.MountSpec.__annotations__["BindOptions"] is payloads.BindOptions
