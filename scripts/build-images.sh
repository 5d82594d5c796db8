#!/usr/bin/env bash
# build-images.sh — build mcp-lok's local test images (no registry, cached by
# content). Thin wrapper: the work is in build_images.py (stdlib Python), so
# that hashing inputs and driving two engines stays readable. See its --help.
#   scripts/build-images.sh [--engine docker|podman|all] [--print-tags] [--only NAME...] [--force]
set -euo pipefail
# The build resolves wheels with the host's pip, so use a python3 that has pip.
PY=${MCP_LOK_PYTHON:-python3}
exec "$PY" "$(dirname "$0")/build_images.py" "$@"
