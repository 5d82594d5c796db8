"""The gate: the sidecar that owns a server's network namespace and is its only door.

It runs inside the gate image, which has Python's standard library and nothing else, so
this package imports nothing from mcp-lok and only itself, relatively (the image installs
it as `mcp_lok_gate`; here it is importable as `mcp_lok.proxy.gate` for tests).
Rules are applied twice: here (which names resolve, which addresses and ports listen) and
again by mcp-lok on the host (`mcp_lok.proxy.egress`), which alone reaches the outside.
The gate logs one line per connection or refusal (never a payload) to stderr, and
reports the names its DNS refused to the host, in bounded batches, for the server's log.
"""

from .config import (
    MAX_CONFIG_BYTES,
    Config,
    ConfigError,
    Egress,
    EgressRule,
    Ingress,
    load_config,
    parse_config,
)
from .ingress import IngressListener
from .names import Names
from .report import RefusalReport
from .run import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, Gate, listeners, main, serve
from .splice import Connections, DialError, Traffic, dial, splice

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_OK",
    "MAX_CONFIG_BYTES",
    "Config",
    "ConfigError",
    "Connections",
    "DialError",
    "Egress",
    "EgressRule",
    "Gate",
    "Ingress",
    "IngressListener",
    "Names",
    "RefusalReport",
    "Traffic",
    "dial",
    "listeners",
    "load_config",
    "main",
    "parse_config",
    "serve",
    "splice",
]
