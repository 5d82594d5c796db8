"""mcp-lok's policy compiler: profiles and policy files in, exact engine payloads out.

    load (parse) → check → build (IR) → lower (LaunchPlan)

Pure: it reads the files it is given and nothing else, and imports neither the launcher
nor the proxy. This `__all__` is the package's public API.
"""

from .compiler import Compiled, compile_plan, compile_policy, env_rules, resolve_user
from .diagnostics import Code, Diagnostic, PolicyError, Severity, render, render_all
from .host import FixedHost, Host, HostPath
from .ir import IR, NetworkMode, fingerprint
from .loader import BUILTINS
from .lower import (
    Engine,
    LaunchPlan,
    Target,
    Transport,
    canonical_json,
    default_name,
    lower,
    target_problems,
)
from .origin import Origin

__all__ = [
    "BUILTINS",
    "IR",
    "Code",
    "Compiled",
    "Diagnostic",
    "Engine",
    "FixedHost",
    "Host",
    "HostPath",
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
]
