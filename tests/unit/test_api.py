"""Each package's public API is its `__init__.py` `__all__`; this pins it, so that adding
or removing a public name is a reviewed change. (`launcher` and `proxy` join when they
have one.)"""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "mcp_lok.policy": [
        "BUILTINS",
        "Code",
        "Compiled",
        "Diagnostic",
        "Engine",
        "FixedHost",
        "Host",
        "HostPath",
        "IR",
        "LaunchPlan",
        "NetworkMode",
        "Origin",
        "PolicyError",
        "Severity",
        "Target",
        "Transport",
        "canonical_json",
        "compile_plan",
        "compile_policy",
        "default_name",
        "env_rules",
        "fingerprint",
        "lower",
        "render",
        "render_all",
        "resolve_user",
        "target_problems",
    ],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_the_public_api_is_pinned(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == PUBLIC[package]
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    namespace: dict[str, object] = {}
    exec(f"from {package} import *", namespace)  # what a star import really exports
    assert sorted(k for k in namespace if k != "__builtins__") == PUBLIC[package]
    assert all(getattr(module, name) is namespace[name] for name in PUBLIC[package])


def test_the_policy_api_is_the_compilers_own() -> None:
    import mcp_lok.policy as policy
    from mcp_lok.policy import compiler, diagnostics, ir, loader

    # the attribute `lower` is the function; the subpackage is reached by its full name
    lowering = importlib.import_module("mcp_lok.policy.lower")
    assert policy.compile_policy is compiler.compile_policy
    assert policy.PolicyError is diagnostics.PolicyError
    assert policy.fingerprint is ir.fingerprint
    assert policy.lower is lowering.lower
    assert policy.BUILTINS is loader.BUILTINS
