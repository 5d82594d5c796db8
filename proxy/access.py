"""Who may talk to the proxy (sans-I/O): the `Host` and `Origin` rules that keep web pages
and DNS rebinding away from a server on loopback, and the optional bearer token.

The app applies these to every request; this module only decides.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

LOOPBACK_NAMES = ("localhost", "127.0.0.1")


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class Access:
    hosts: frozenset[str]
    origins: frozenset[str]
    token: str | None = None

    @classmethod
    def bound(
        cls, host: str, port: int, extra_origins: tuple[str, ...] = (), token: str | None = None
    ) -> Access:
        """The rules for a proxy listening on `host:port`."""
        names = {host.lower(), *LOOPBACK_NAMES}
        hosts = frozenset(_authority(name, port) for name in names)
        origins = frozenset(
            {f"http://{authority}" for authority in hosts}
            | {origin.rstrip("/").lower() for origin in extra_origins}
        )
        return cls(hosts, origins, token)

    def host_ok(self, host: str | None) -> bool:
        # INVARIANT: a request must name this proxy's own address in `Host`; a DNS
        # rebinding page reaches 127.0.0.1 under its own name and is refused here.
        return host is not None and host.lower() in self.hosts

    def origin_ok(self, origin: str | None) -> bool:
        # INVARIANT: a browser always sends `Origin` on cross-site requests; only the
        # proxy's own origins and those configured may drive the server. No `Origin` means
        # a non-browser client, which is allowed. `null` is never allowed.
        return origin is None or origin.rstrip("/").lower() in self.origins

    def token_ok(self, authorization: str | None) -> bool:
        if self.token is None:
            return True
        scheme, _, value = (authorization or "").partition(" ")
        # INVARIANT: compare in constant time, so the token cannot be guessed bytewise.
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.token.encode()
        )
