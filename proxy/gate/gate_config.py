"""The gate's config, typed, with its JSON: `policy/gate_config.py`, which lowering writes.

In the gate's image this file is that one, copied here by scripts/build_images.py
(`SHARED`); in this repository it stands for it, so that the gate reads its config with the
very code that wrote it (tests/unit/proxy/test_gate_shared.py checks both)."""

from mcp_lok.policy.gate_config import *  # noqa: F403  (the shared module's `__all__`)
