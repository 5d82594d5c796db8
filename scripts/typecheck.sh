#!/usr/bin/env bash
# mypy --strict on the three packages under their installed names (mcp_lok.policy, …).
# mypy cannot follow setuptools' editable-install finder, so give it a view of the tree
# laid out as it installs: target/typecheck/mcp_lok/{policy,launcher,proxy} → the folders.
set -euo pipefail
cd "$(dirname "$0")/.."
view=target/typecheck
rm -rf "$view" && mkdir -p "$view/mcp_lok"
for pkg in policy launcher proxy; do ln -s "../../../$pkg" "$view/mcp_lok/$pkg"; done
cd "$view"
exec ../../.venv/bin/mypy --strict --config-file ../../pyproject.toml \
  -p mcp_lok.policy -p mcp_lok.launcher -p mcp_lok.proxy
