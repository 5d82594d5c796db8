"""The proxy's public API is its `__init__.py` `__all__`; this pins it (as
tests/unit/test_api.py does for `policy`), so adding or removing a name is a reviewed change."""

from __future__ import annotations

import importlib

import mcp_lok.proxy as proxy

PUBLIC = ["AttachError", "ProxyConfig", "ProxyError", "attach", "run", "serve"]


def test_the_public_api_is_pinned() -> None:
    assert sorted(proxy.__all__) == PUBLIC


def test_every_public_name_resolves_to_its_defining_module() -> None:
    namespace: dict[str, object] = {}
    exec("from mcp_lok.proxy import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == PUBLIC
    from mcp_lok.proxy import config, errors, server

    # the attribute `attach` is the function; the module is reached by its full name
    attaching = importlib.import_module("mcp_lok.proxy.attach")
    assert proxy.serve is server.serve
    assert proxy.run is server.run
    assert proxy.attach is attaching.attach
    assert proxy.ProxyConfig is config.ProxyConfig
    assert proxy.AttachError is errors.AttachError
