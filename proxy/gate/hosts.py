"""Host patterns and the address facts the gate shares with mcp-lok: `policy/hosts.py`.

In the gate's image this file is that one, copied here by scripts/build_images.py
(`SHARED`); in this repository it stands for it, so that the gate and the compiler run the
very same code (tests/unit/proxy/test_gate_shared.py checks both)."""

from mcp_lok.policy.hosts import *  # noqa: F403  (the shared module's `__all__`)
