"""The typed keys under which the app keeps its parts (aiohttp `AppKey`s), in one place so
handlers and the server agree on them."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from .access import Access
from .bridge import Bridge
from .config import ProxyConfig


class Upstream(Protocol):
    """What `proxy.forward.Forwarder` provides for the HTTP transports."""

    async def handle(self, request: web.Request) -> web.StreamResponse: ...

    async def healthy(self) -> tuple[bool, str]: ...

    async def close(self) -> None: ...


class Binding:
    """The access rules, known once the listening port is (set by `serve` after binding)."""

    def __init__(self) -> None:
        self.access: Access | None = None


CONFIG = web.AppKey("config", ProxyConfig)
BRIDGE: web.AppKey[Bridge] = web.AppKey("bridge")
UPSTREAM = web.AppKey("upstream", Upstream)
BINDING = web.AppKey("binding", Binding)
