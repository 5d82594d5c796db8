"""The fake engine stands in for the adapter only while it has the adapter's methods, with
the adapter's parameters: a test that passes against a fake the real one does not match
would prove nothing."""

from __future__ import annotations

import inspect

from mcp_lok.launcher.engine import EngineClient

from .fakes import FakeEngine

# the fake's own ways of arranging a scene, which the adapter has no need of
ARRANGING = {"add_container", "add_network"}


def test_every_method_of_the_fake_is_the_adapters_with_its_parameters() -> None:
    methods = {
        name
        for name, value in vars(FakeEngine).items()
        if callable(value) and not name.startswith("_") and name not in ARRANGING
    }
    assert methods
    for name in sorted(methods):
        real = getattr(EngineClient, name, None)
        assert real is not None, f"EngineClient has no `{name}`"
        fake_params = list(inspect.signature(getattr(FakeEngine, name)).parameters)
        real_params = list(inspect.signature(real).parameters)
        assert fake_params == real_params, name
