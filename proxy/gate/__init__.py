"""The gate: the sidecar that owns a server's network namespace and is its only door.

It runs inside the gate image, which has Python's standard library and nothing else, so
this package imports only itself, relatively (the image installs it as `mcp_lok_gate`;
here it is importable as `mcp_lok.proxy.gate`, for tests and for the host side of egress,
which shares its socket code). Two of its modules are mcp-lok's own, shared: `hosts.py`
and `gate_config.py` are `policy/hosts.py` and `policy/gate_config.py`, copied into the
image in place of the stand-ins here (scripts/build_images.py, `SHARED`).
Rules are applied twice: here (which names resolve, which addresses and ports listen) and
again by mcp-lok on the host (`mcp_lok.proxy.egress`), which alone reaches the outside.
The gate logs one line per connection or refusal (never a payload) to stderr, and
reports the names its DNS refused to the host, in bounded batches, for the server's log.
"""

from .gate_config import ConfigError, Egress, EgressRule, GateConfig, Ingress
from .ingress import IngressListener
from .names import Names
from .report import RefusalReport
from .run import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, Gate, listeners, load_config, main, serve
from .splice import Connections, DialError, Traffic, dial, splice

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_OK",
    "ConfigError",
    "Connections",
    "DialError",
    "Egress",
    "EgressRule",
    "Gate",
    "GateConfig",
    "Ingress",
    "IngressListener",
    "Names",
    "RefusalReport",
    "Traffic",
    "dial",
    "listeners",
    "load_config",
    "main",
    "serve",
    "splice",
]
