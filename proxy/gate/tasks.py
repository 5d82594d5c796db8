"""The one task helper, mcp-lok's: `proxy/tasks.py`.

In the gate's image this file is that one, copied here by scripts/build_images.py
(`SHARED`); in this repository it stands for it, so that the gate owns its tasks with the
very code the host proxy uses (tests/unit/proxy/test_gate_shared.py checks both)."""

from mcp_lok.proxy.tasks import *  # noqa: F403  (the shared module's `__all__`)
