"""The fake engine stands in for the adapter only while it implements the adapter's
interface, `ContainerEngine`, with the same parameters, defaults and annotations: a test
that passes against a fake the real one does not match would prove nothing. The real
adapter is held to the interface by mypy (`discover` returns it as a `ContainerEngine`)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from mcp_lok.launcher.engine import ContainerEngine, EngineClient

from .fakes import FakeEngine

# the fake's own ways of arranging a scene, which the adapter has no need of
ARRANGING = {"add_container", "add_network", "exit"}


def members(kind: type[Any]) -> dict[str, Any]:
    """The public methods and properties `kind` defines."""
    found = {}
    for klass in reversed(kind.__mro__):
        if klass in (object,) or klass.__module__ == "typing":
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_") and (callable(value) or isinstance(value, property)):
                found[name] = value
    return found


def shape(member: Any) -> tuple[object, ...]:
    """What a caller relies on: each parameter's name, kind, default and annotation, and
    the return annotation."""
    function = member.fget if isinstance(member, property) else member
    signature = inspect.signature(function)
    params = tuple((p.name, p.kind, p.default, p.annotation) for p in signature.parameters.values())
    return params, signature.return_annotation, isinstance(member, property)


INTERFACE = members(ContainerEngine)


@pytest.mark.parametrize("kind", [FakeEngine, EngineClient])
def test_every_method_of_the_interface_is_implemented_with_its_signature(
    kind: type[Any],
) -> None:
    found = members(kind)
    assert INTERFACE
    for name, member in sorted(INTERFACE.items()):
        assert name in found, f"{kind.__name__} has no `{name}`"
        assert shape(found[name]) == shape(member), (kind.__name__, name)


def test_the_fake_has_nothing_the_interface_lacks() -> None:
    extra = set(members(FakeEngine)) - set(INTERFACE) - ARRANGING
    assert not extra, f"the launcher could come to rely on {sorted(extra)}"


@pytest.mark.parametrize("attribute", ["kind", "url"])
def test_the_interfaces_attributes_are_the_fakes(attribute: str) -> None:
    annotations = ContainerEngine.__annotations__
    assert annotations[attribute] == FakeEngine.__annotations__[attribute]
